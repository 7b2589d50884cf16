"""Post a run's events through the real ingest, the way the 1C sender job does.

FIFO batches of ``batch_size``; a batch is sent again until the bridge answers 200 (connection errors,
timeouts, 429 and 5xx are waited out with jittered backoff, honouring ``Retry-After``); every per-event
result is checked.  To exercise the bridge's dedup, an answered batch is sometimes not "marked sent" (as
when the 1C job dies between the answer and its commit), so some of its events go out again at the head of
the next request: those must come back ``duplicate``.

A ``rejected`` event is a bug in the simulator (it generated something the contract refuses), and an event
sent again that comes back ``accepted`` means the bridge lost it: both end up in the report's problems,
logged as errors, and :meth:`SendReport.raise_for_problems` raises.  A request the ingest refuses as a
whole (401, 400, 413, 415) stops the run: retrying cannot help.

Like the 1C job it imitates, the sender knows only the HTTP contract: it imports nothing from the bridge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000  # the ingest refuses larger arrays with 413


class SendError(Exception):
    """Base of the sender's errors: the run did not get through the ingest as it should."""


class IngestRefused(SendError):
    """The ingest refused a whole request (bad token, too large…): retrying the same request cannot help."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the ingest answered {status}: {body[:500]}")
        self.status = status


class IngestUnavailable(SendError):
    """The ingest did not answer 200 within ``max_attempts`` (only when a limit was set)."""


class DeliveryProblems(SendError):
    """Events were rejected (a simulator bug) or a re-sent event was not a duplicate (a bridge bug)."""


@dataclass(frozen=True)
class SendOptions:
    batch_size: int = DEFAULT_BATCH_SIZE
    rate: float = 0.0  # events per second; 0 = as fast as the ingest answers
    duplicates: float = 0.0  # chance that an answered batch is partly sent again
    seed: int = 0  # for the duplicate draws, so a run repeats
    timeout: float = 30.0
    backoff_initial: float = 0.5
    backoff_maximum: float = 30.0
    max_attempts: int = 0  # per request; 0 = until the bridge answers, like the 1C job

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be from 1 to {MAX_BATCH_SIZE}")
        if self.rate < 0:
            raise ValueError("rate must be 0 (unlimited) or more")
        if not 0 <= self.duplicates < 1:
            raise ValueError("duplicates is a probability: at least 0 and below 1")


@dataclass
class SendReport:
    events: int = 0  # distinct events of the run
    delivered: int = 0  # distinct events the bridge has confirmed (accepted or duplicate)
    requests: int = 0  # answered with 200
    sent: int = 0  # event sends in answered requests, re-sends included
    accepted: int = 0
    duplicates: int = 0  # re-sends, plus events the bridge already had from an earlier run
    resent: int = 0  # events deliberately sent again
    retries: int = 0  # requests repeated after a failure
    rejected: list[dict[str, Any]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # re-sent event ids that came back accepted
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        found = [f"rejected {r.get('event_id')}: {json.dumps(r.get('errors'), ensure_ascii=False)}"
                 for r in self.rejected]
        found += [f"re-sent {event_id} came back accepted, not duplicate: the first copy was lost"
                  for event_id in self.lost]
        return found

    def raise_for_problems(self) -> None:
        if self.problems:
            shown = "\n".join(self.problems[:20])
            more = f"\n… and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
            raise DeliveryProblems(f"{len(self.problems)} delivery problems:\n{shown}{more}")


Progress = Callable[[SendReport], None]


async def send(events: Sequence[dict[str, Any]], *, url: str, token: str, options: SendOptions = SendOptions(),
               progress: Progress | None = None, transport: httpx.AsyncBaseTransport | None = None) -> SendReport:
    """Post ``events`` in order to ``url`` (the ingest's base URL) and return what happened to them."""
    report = SendReport(events=len(events))
    rng = random.Random(f"sender:{options.seed}")
    queue: deque[tuple[dict[str, Any], bool]] = deque((e, False) for e in events)  # (event, sent before)
    confirmed: set[str] = set()
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}
    async with httpx.AsyncClient(base_url=url, timeout=options.timeout, transport=transport,
                                 headers=headers) as client:
        while queue:
            batch = [queue.popleft() for _ in range(min(options.batch_size, len(queue)))]
            await _pace(options.rate, started, report.sent)
            results = await _post(client, [e for e, _ in batch], options, report)
            _check(batch, results, report, confirmed)
            if options.duplicates and rng.random() < options.duplicates:
                again = [(e, True) for e, _ in batch if rng.random() < 0.5] or [(batch[0][0], True)]
                report.resent += len(again)
                queue.extendleft(reversed(again))
            report.seconds = time.monotonic() - started
            if progress is not None:
                progress(report)
    return report


async def _pace(rate: float, started: float, sent: int) -> None:
    if rate > 0:
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


async def _post(client: httpx.AsyncClient, events: list[dict[str, Any]], options: SendOptions,
                report: SendReport) -> list[dict[str, Any]]:
    """One request, repeated until the bridge answers 200 (or ``max_attempts`` is used up)."""
    body = json.dumps(events, ensure_ascii=False, separators=(",", ":")).encode()
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await client.post("/v1/events", content=body)
        except httpx.TransportError as exc:
            reason, wait = f"{type(exc).__name__}: {exc}", _backoff(attempt, options)
        else:
            if response.status_code == 200:
                break
            if response.status_code != 429 and response.status_code < 500:
                raise IngestRefused(response.status_code, response.text)
            reason, wait = f"HTTP {response.status_code}", _retry_after(response, attempt, options)
        if options.max_attempts and attempt >= options.max_attempts:
            raise IngestUnavailable(f"gave up after {attempt} attempts; last failure: {reason}")
        report.retries += 1
        log.warning("ingest not answering, retrying the batch",
                    extra={"action": "simulate.retry", "reason": reason, "wait": round(wait, 2),
                           "attempt": attempt, "events": len(events)})
        await asyncio.sleep(wait)
    report.requests += 1
    results = response.json().get("results")
    if not isinstance(results, list) or len(results) != len(events):
        raise IngestRefused(200, f"expected {len(events)} results, got: {response.text[:300]}")
    return results


def _backoff(attempt: int, options: SendOptions) -> float:
    """Jittered (±25 %) exponential wait before repeating a request that failed ``attempt`` times."""
    delay = min(options.backoff_maximum, options.backoff_initial * 2 ** (attempt - 1))
    return max(0.0, delay * (1 + random.uniform(-0.25, 0.25)))


def _retry_after(response: httpx.Response, attempt: int, options: SendOptions) -> float:
    """The server's ``Retry-After`` (seconds, capped at the backoff maximum), else the backoff."""
    header = response.headers.get("retry-after", "")
    if header.isdigit():
        return min(float(header), options.backoff_maximum)
    return _backoff(attempt, options)


def _check(batch: list[tuple[dict[str, Any], bool]], results: list[dict[str, Any]], report: SendReport,
           confirmed: set[str]) -> None:
    for (event, sent_before), result in zip(batch, results):
        report.sent += 1
        event_id, status = event["event_id"], result.get("status")
        if result.get("event_id") != event_id:
            raise IngestRefused(200, f"result for {result.get('event_id')} where {event_id} was expected")
        if status == "rejected":
            report.rejected.append(result)
            log.error("the ingest rejected a simulated event (a simulator bug)",
                      extra={"action": "simulate.rejected", "event_id": event_id,
                             "event_type": event["event_type"], "errors": result.get("errors")})
            continue
        if status == "accepted":
            report.accepted += 1
            if sent_before or event_id in confirmed:
                report.lost.append(event_id)
                log.error("a re-sent event came back accepted: the bridge had lost it",
                          extra={"action": "simulate.lost", "event_id": event_id})
        elif status == "duplicate":
            report.duplicates += 1
        else:
            raise IngestRefused(200, f"unknown status {status!r} for {event_id}")
        if event_id not in confirmed:
            confirmed.add(event_id)
            report.delivered += 1
