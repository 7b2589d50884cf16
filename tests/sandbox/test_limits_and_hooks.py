"""Rate limit, statistics, state/reset, health and metrics endpoints, and the on_call hook."""

from __future__ import annotations

import httpx

from b24_sandbox import ManualClock, SandboxConfig, serve_in_thread
from b24_sandbox.ratelimit import LeakyBucket


def test_requests_beyond_the_burst_get_503_and_are_not_executed():
    clock = ManualClock()
    with serve_in_thread(SandboxConfig(rate=2, burst=3), clock=clock) as srv, httpx.Client() as http:
        statuses = [http.post(srv.webhook_url + "crm.company.add", json={"fields": {"TITLE": f"C{i}"}}).status_code
                    for i in range(5)]
        assert statuses == [200, 200, 200, 503, 503]
        refused = http.post(srv.webhook_url + "crm.company.list", json={})
        assert refused.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
        assert len(srv.sandbox.state()["companies"]) == 3
        assert srv.sandbox.stats()["rate_limited"] == 3


def test_the_bucket_drains_at_the_configured_rate():
    clock = ManualClock()
    with serve_in_thread(SandboxConfig(rate=2, burst=2), clock=clock) as srv, httpx.Client() as http:
        def status():
            return http.post(srv.webhook_url + "crm.company.list", json={}).status_code

        assert [status(), status(), status()] == [200, 200, 503]
        clock.advance(0.5)
        assert [status(), status()] == [200, 503]
        clock.advance(1.0)
        assert [status(), status(), status()] == [200, 200, 503]


def test_a_batch_counts_as_one_request():
    with serve_in_thread(SandboxConfig(rate=2, burst=2), clock=ManualClock()) as srv, httpx.Client() as http:
        cmd = {f"c{i}": f"crm.company.add?fields[TITLE]=C{i}" for i in range(50)}
        assert http.post(srv.webhook_url + "batch", json={"cmd": cmd}).status_code == 200
        assert http.post(srv.webhook_url + "crm.company.list", json={}).json()["total"] == 50
        stats = srv.sandbox.stats()
        assert stats["http_requests"] == 2 and stats["commands"] == 51 and stats["batches"] == 1
        assert stats["per_method"] == {"batch": 1, "crm.company.add": 50, "crm.company.list": 1}


def test_each_client_address_has_its_own_bucket():
    """Counted per portal and per source IP (§3.1): a full bucket of one server does not refuse another."""
    clock = ManualClock()
    with serve_in_thread(SandboxConfig(rate=2, burst=2), clock=clock) as srv, \
            httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.1")) as one, \
            httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        def status(http):
            return http.post(srv.webhook_url + "crm.company.list", json={}).status_code

        assert [status(one), status(one), status(one)] == [200, 200, 503]
        spoofed = one.post(srv.webhook_url + "crm.company.list", json={}, headers={"X-Forwarded-For": "10.0.0.9"})
        assert spoofed.status_code == 503  # a header picks no other bucket: the TCP peer counts
        assert [status(other), status(other), status(other)] == [200, 200, 503]
        assert srv.sandbox.bucket.clients() == 2
        clock.advance(1.0)  # both drained: nothing is kept for them
        assert srv.sandbox.bucket.clients() == 0
        assert status(one) == 200 and srv.sandbox.bucket.clients() == 1


def test_drained_buckets_are_forgotten_when_a_new_address_comes():
    bucket = LeakyBucket(rate=2, burst=2, clock=(clock := ManualClock()))
    for i in range(100):
        assert bucket.try_acquire(f"10.0.0.{i}")
        clock.advance(0.5)  # each bucket drains before the next address arrives
    assert len(bucket._levels) == 1 and bucket.level("10.0.0.99") == 0.0


def test_rate_zero_turns_the_limit_off():
    with serve_in_thread(SandboxConfig(rate=0, burst=1)) as srv, httpx.Client() as http:
        assert all(http.post(srv.webhook_url + "crm.company.list", json={}).status_code == 200 for _ in range(5))


def test_on_call_sees_every_execution_including_batch_commands(portal):
    events = []
    remove = portal.sandbox.on_call(events.append)
    portal.company(TITLE="Hooked")
    portal.result("batch", cmd={"a": "crm.company.get?id=1", "b": "crm.company.get?id=9"})
    remove()
    portal.company(TITLE="Not seen")
    assert [(e.method, e.ok, e.nested) for e in events] == [
        ("crm.company.add", True, False), ("crm.company.get", True, True), ("crm.company.get", False, True),
        ("batch", True, False)]
    assert events[0].params == {"fields": {"TITLE": "Hooked"}} and events[0].result == 1
    assert events[2].error == {"error": "", "error_description": "Not found"}


def test_on_call_runs_after_the_write_and_before_the_reply(portal):
    seen = []
    portal.sandbox.on_call(lambda e: seen.append(len(portal.sandbox.state()["companies"])))
    portal.company()
    assert seen == [1]


def test_state_endpoint_groups_records_by_entity(portal):
    company_id = portal.company(PHONE=[{"VALUE": "+7 1"}])
    portal.requisite(company_id)
    state = portal.http.get(portal.srv.base_url + "/_sandbox/state").json()
    assert state == portal.sandbox.state()
    assert state["companies"][0]["TITLE"] == "ООО Ромашка" and state["companies"][0]["PHONE"][0]["VALUE"] == "+7 1"
    assert state["requisites"][0]["ENTITY_ID"] == str(company_id)


def test_reset_clears_everything_and_ids_restart(portal):
    portal.company()
    portal.company()
    assert portal.http.post(portal.srv.base_url + "/_sandbox/reset").status_code == 200
    assert portal.sandbox.state()["companies"] == []
    assert portal.company() == 1
    assert portal.sandbox.stats()["http_requests"] == 1


def test_stats_endpoint_counts_requests_and_commands(portal):
    portal.company()
    portal.call("crm.company.get", id=99)
    stats = portal.http.get(portal.srv.base_url + "/_sandbox/stats").json()
    assert stats["http_requests"] == 2 and stats["commands"] == 2 and stats["commands_per_request"] == 1.0
    assert stats["errors"] == {'""': 1}


def test_health_readiness_and_metrics(portal):
    assert portal.http.get(portal.srv.base_url + "/healthz").json() == {"status": "ok"}
    assert portal.http.get(portal.srv.base_url + "/readyz").status_code == 200
    portal.company()
    portal.call("crm.nope")
    metrics = portal.http.get(portal.srv.base_url + "/metrics").text
    assert 'sandbox_requests_total{error="",method="crm.company.add"} 1.0' in metrics
    # an unknown method is not a label of its own: any path a scanner tries would be one (and the webhook's
    # base URL, its secret code)
    assert 'sandbox_requests_total{error="ERROR_METHOD_NOT_FOUND",method="?"} 1.0' in metrics
    assert "crm.nope" not in metrics
