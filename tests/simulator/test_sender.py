"""The sender's reading of the ingest's answers (httpx.MockTransport: only status and result mapping here;
the real ingest is in test_posting.py)."""

from __future__ import annotations

import json

import httpx
import pytest

from onec_outbox.simulator.sender import (
    DeliveryProblems,
    IngestRefused,
    IngestUnavailable,
    SendOptions,
    _backoff,
    _retry_after,
    send,
)

FAST = {"backoff_initial": 0.001, "backoff_maximum": 0.002}


def _events(n: int) -> list[dict]:
    return [{"event_id": f"00000000-0000-4000-8000-{i:012d}", "event_type": "product.upserted"} for i in range(n)]


class FakeIngest:
    """Answers like the ingest: accepted the first time an id is seen, duplicate after."""

    def __init__(self, failures: list = (), status: dict[str, str] | None = None) -> None:
        self.failures = list(failures)  # what to do before answering: an int status or an exception
        self.status = status or {}
        self.seen: set[str] = set()
        self.requests: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer t0ken"
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure, json={"error": "x"}, headers={"Retry-After": "5"})
        ids = [e["event_id"] for e in json.loads(request.content)]
        self.requests.append(ids)
        results = []
        for event_id in ids:
            status = self.status.get(event_id) or ("duplicate" if event_id in self.seen else "accepted")
            self.seen.add(event_id)
            results.append({"event_id": event_id, "status": status,
                            "errors": [{"path": "payload.inn", "code": "inn_checksum", "message": "…"}]
                            if status == "rejected" else []})
        return httpx.Response(200, json={"results": results})


async def _send(fake: FakeIngest, events: list[dict], **options):
    return await send(events, url="http://ingest.test", token="t0ken", options=SendOptions(**{**FAST, **options}),
                      transport=httpx.MockTransport(fake))


async def test_events_go_in_order_in_batches_of_the_given_size():
    fake = FakeIngest()
    events = _events(23)
    report = await _send(fake, events, batch_size=10)
    assert [len(r) for r in fake.requests] == [10, 10, 3]
    assert [i for r in fake.requests for i in r] == [e["event_id"] for e in events]
    assert (report.accepted, report.delivered, report.requests, report.retries) == (23, 23, 3, 0)
    assert report.problems == []


async def test_a_batch_is_sent_again_after_503_and_connection_errors_until_the_bridge_answers():
    fake = FakeIngest([503, httpx.ConnectError("refused"), 502, httpx.ReadTimeout("slow")])
    report = await _send(fake, _events(5))
    assert report.retries == 4 and report.accepted == 5 and len(fake.requests) == 1


async def test_a_refused_request_stops_the_run_without_retrying():
    fake = FakeIngest([401])
    with pytest.raises(IngestRefused, match="401"):
        await _send(fake, _events(5))
    assert fake.failures == [] and fake.requests == []


async def test_a_limit_on_attempts_gives_up_with_the_last_failure():
    fake = FakeIngest([503, 503, 503])
    with pytest.raises(IngestUnavailable, match="HTTP 503"):
        await _send(fake, _events(1), max_attempts=2)


async def test_duplicate_sends_come_back_duplicate_and_are_counted():
    fake = FakeIngest()
    report = await _send(fake, _events(200), batch_size=20, duplicates=0.5, seed=4)
    assert report.resent > 0
    assert report.duplicates == report.resent and report.accepted == 200 and report.delivered == 200
    assert sum(len(r) for r in fake.requests) == 200 + report.resent
    assert report.problems == []


async def test_events_the_bridge_already_has_are_fine():
    fake = FakeIngest()
    events = _events(10)
    await _send(fake, events)
    again = await _send(fake, events)
    assert (again.accepted, again.duplicates, again.delivered, again.problems) == (0, 10, 10, [])


async def test_rejected_events_are_reported_with_their_errors_and_raise():
    events = _events(4)
    fake = FakeIngest(status={events[2]["event_id"]: "rejected"})
    report = await _send(fake, events)
    assert report.accepted == 3 and [r["event_id"] for r in report.rejected] == [events[2]["event_id"]]
    assert "inn_checksum" in report.problems[0]
    with pytest.raises(DeliveryProblems, match="1 delivery problems"):
        report.raise_for_problems()


async def test_a_resent_event_that_comes_back_accepted_is_reported_as_lost():
    class Forgetful(FakeIngest):
        def __call__(self, request):
            self.seen.clear()  # the bridge "loses" everything between requests
            return super().__call__(request)

    report = await _send(Forgetful(), _events(40), batch_size=10, duplicates=0.9, seed=1)
    assert report.lost and report.problems
    with pytest.raises(DeliveryProblems, match="lost"):
        report.raise_for_problems()


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"batch_size": 1001}, {"rate": -1}, {"duplicates": 1}])
def test_impossible_options_are_refused(options):
    with pytest.raises(ValueError):
        SendOptions(**options)


def test_waits_grow_from_the_initial_backoff_to_the_maximum_with_jitter():
    options = SendOptions(backoff_initial=1.0, backoff_maximum=8.0)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [_backoff(attempt, options) for _ in range(50)]
        assert all(0.75 * base <= w <= 1.25 * base for w in waits), (attempt, waits)
        assert len(set(waits)) > 1  # jittered, so many senders do not retry in step


def test_retry_after_is_honoured_up_to_the_backoff_maximum():
    answer = httpx.Response(503, headers={"Retry-After": "5"})
    assert _retry_after(answer, 1, SendOptions(backoff_initial=0.5, backoff_maximum=30.0)) == 5.0
    assert _retry_after(answer, 1, SendOptions(backoff_initial=0.5, backoff_maximum=2.0)) == 2.0
    assert 0.375 <= _retry_after(httpx.Response(503), 1, SendOptions(backoff_initial=0.5)) <= 0.625
