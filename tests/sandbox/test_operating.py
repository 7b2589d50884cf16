"""OPERATION_TIME_LIMIT: run time per method per webhook/app in ten one-minute buckets (EN limits.md)."""

from __future__ import annotations

from b24_sandbox.operating import OperatingLimiter

LIMITED = {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."}


def test_the_call_that_crosses_the_limit_finishes_and_the_next_one_gets_429(make_portal, clock):
    portal = make_portal(operating_limit=10, operating_cost=4)
    times = [portal.call("crm.company.add", fields={"TITLE": f"C{i}"}).json()["time"] for i in range(3)]
    assert [t["operating"] for t in times] == [4, 8, 12]
    refused = portal.call("crm.company.add", fields={"TITLE": "C4"})
    assert refused.status_code == 429 and refused.json() == LIMITED
    assert len(portal.sandbox.state()["companies"]) == 3
    assert portal.sandbox.stats()["operating_limited"] == 1


def test_operating_reset_at_is_the_oldest_buckets_first_call_plus_ten_minutes(make_portal, clock):
    portal = make_portal(operating_limit=100, operating_cost=1)
    first = portal.call("crm.company.list").json()["time"]
    assert first["operating_reset_at"] == int(clock.now) + 600
    clock.advance(130)
    later = portal.call("crm.company.list").json()["time"]
    assert later["operating"] == 2 and later["operating_reset_at"] == first["operating_reset_at"]


def test_other_methods_and_other_webhooks_keep_working_while_one_is_blocked(make_portal, clock):
    portal = make_portal(operating_limit=1, operating_cost=2, extra_webhooks=((5, "second0hook"),))
    portal.call("crm.company.list")
    assert portal.call("crm.company.list").status_code == 429
    assert portal.call("crm.contact.list").status_code == 200
    second = portal.http.post(portal.url("/rest/5/second0hook/crm.company.list"), json={})
    assert second.status_code == 200 and second.json()["time"]["operating"] == 2


def test_the_block_lifts_when_the_buckets_age_out(make_portal, clock):
    portal = make_portal(operating_limit=5, operating_cost=3)
    portal.call("crm.company.list")
    clock.advance(61)
    reset_at = portal.call("crm.company.list").json()["time"]["operating_reset_at"]
    assert portal.call("crm.company.list").status_code == 429
    clock.advance(reset_at - clock.now)  # the first bucket drops out: 3 s left, the call runs
    response = portal.call("crm.company.list")
    assert response.status_code == 200 and response.json()["time"]["operating"] == 6
    clock.advance(61)  # the second bucket drops out too
    later = portal.call("crm.company.list").json()["time"]
    assert later["operating"] == 6 and later["operating_reset_at"] == reset_at + 600


def test_a_method_cost_overrides_the_default_cost(make_portal):
    portal = make_portal(operating_cost=0.5, operating_costs={"crm.deal.list": 300})
    assert portal.call("crm.deal.list").json()["time"]["operating"] == 300
    assert portal.call("crm.company.list").json()["time"]["operating"] == 0.5


def test_without_an_emulated_cost_the_measured_time_is_counted_and_stays_tiny(portal):
    times = [portal.call("crm.company.list").json()["time"] for _ in range(3)]
    assert 0 < times[-1]["operating"] < 1 and times[-1]["operating"] > times[0]["operating"]


def test_batch_commands_count_under_their_own_method_and_the_batch_itself_not_at_all(make_portal):
    portal = make_portal(operating_limit=100, operating_cost=2)
    body = portal.call("batch", cmd={"a": "crm.company.add?fields[TITLE]=A", "b": "crm.company.add?fields[TITLE]=B",
                                     "c": "crm.company.list"}).json()
    assert body["time"]["operating"] == 0
    assert {k: t["operating"] for k, t in body["result"]["result_time"].items()} == {"a": 2, "b": 4, "c": 2}
    (webhook_usage,) = portal.sandbox.stats()["operating"].values()
    assert webhook_usage == {"crm.company.add": 4, "crm.company.list": 2}


def test_a_blocked_command_inside_a_batch_gets_the_error_in_result_error(make_portal):
    portal = make_portal(operating_limit=3, operating_cost=2)
    body = portal.result("batch", cmd={f"k{i}": f"crm.company.add?fields[TITLE]=C{i}" for i in range(4)}
                         | {"list": "crm.company.list?select[]=ID"})
    assert list(body["result"]) == ["k0", "k1", "list"]
    assert body["result_error"] == {"k2": LIMITED, "k3": LIMITED}


def test_with_halt_a_blocked_command_stops_the_batch(make_portal):
    portal = make_portal(operating_limit=1, operating_cost=2)
    body = portal.result("batch", halt=1, cmd={"a": "crm.company.add?fields[TITLE]=A",
                                               "b": "crm.company.add?fields[TITLE]=B",
                                               "c": "crm.contact.add?fields[NAME]=C"})
    assert list(body["result"]) == ["a"] and list(body["result_error"]) == ["b"]


def test_a_zero_limit_turns_the_check_off(make_portal):
    portal = make_portal(operating_limit=0, operating_cost=1000)
    assert all(portal.call("crm.company.list").status_code == 200 for _ in range(3))


def test_in_process_calls_are_not_counted(make_portal):
    portal = make_portal(operating_limit=1, operating_cost=5)
    for _ in range(3):
        assert portal.sandbox.call("crm.company.list").error is None
    assert portal.call("crm.company.list").status_code == 200


def test_reset_forgets_the_operating_time(make_portal):
    portal = make_portal(operating_limit=1, operating_cost=5)
    portal.call("crm.company.list")
    assert portal.call("crm.company.list").status_code == 429
    portal.http.post(portal.url("/_sandbox/reset"))
    assert portal.call("crm.company.list").status_code == 200


def test_buckets_are_one_minute_wide_and_live_ten_minutes():
    limiter = OperatingLimiter(limit=100)
    t0 = 6000.0  # a minute boundary
    limiter.record("w", "m", t0 + 1, 1)
    limiter.record("w", "m", t0 + 59, 1)  # same minute: same bucket, its first call stays t0+1
    assert limiter.usage("w", "m", t0 + 59).reset_at == int(t0 + 1 + 600)
    limiter.record("w", "m", t0 + 61, 5)  # next minute: a new bucket
    assert limiter.usage("w", "m", t0 + 600).operating == 7
    assert limiter.usage("w", "m", t0 + 601).operating == 5  # the first bucket (both calls) dropped out
    assert limiter.usage("w", "m", t0 + 601).reset_at == int(t0 + 61 + 600)
    assert limiter.usage("w", "other", t0 + 601).operating == 0


def test_the_limit_blocks_only_once_the_sum_is_over_it():
    limiter = OperatingLimiter(limit=4)
    limiter.record("w", "m", 0, 4)
    assert not limiter.blocked("w", "m", 1)
    limiter.record("w", "m", 1, 0.001)
    assert limiter.blocked("w", "m", 2) and not limiter.blocked("other", "m", 2)
