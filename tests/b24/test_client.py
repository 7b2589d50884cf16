"""B24Client over httpx.MockTransport: request shape, retries, time limits, batch and paging."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bridge.b24 import B24Client, Batching, OperatingLimit, RateLimit, RetryPolicy, WebhookAuth
from bridge.b24.limits import NO_BATCHING
from bridge.errors import (
    B24AuthError,
    B24NotFound,
    B24OperationTimeLimit,
    B24PortalMoved,
    B24QueryLimitExceeded,
    B24ServerError,
    B24TransportError,
    B24ValidationError,
)
from tests.b24.fakes import WEBHOOK_CODE, WEBHOOK_URL, FakePortal, Reply, err, html, ok

FAST_RETRY = RetryPolicy(max_retries=3, base_delay=0, max_delay=0)
NO_LIMIT = RateLimit(per_second=1000, burst=1000)


def client(portal: FakePortal | httpx.MockTransport, **kwargs) -> B24Client:
    transport = portal.transport() if isinstance(portal, FakePortal) else portal
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("rate", NO_LIMIT)
    kwargs.setdefault("batching", NO_BATCHING)
    return B24Client(WebhookAuth(WEBHOOK_URL), transport=transport, **kwargs)


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


async def test_call_posts_json_to_the_webhook_url_and_returns_the_result(portal):
    portal.on("crm.company.add", lambda params: ok(101))
    async with client(portal) as b24:
        assert await b24.call("crm.company.add.json", {"fields": {"TITLE": "ACME"}}) == 101
    seen = portal.requests[0]
    assert seen.http_method == "POST"
    assert seen.path == f"/rest/7/{WEBHOOK_CODE}/crm.company.add"
    assert seen.params == {"fields": {"TITLE": "ACME"}}
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["content-type"].startswith("application/json")
    assert seen.headers["user-agent"].startswith("onec-b24-bridge/")


async def test_a_method_name_that_is_not_a_dotted_name_is_refused_before_sending(portal):
    async with client(portal) as b24:
        with pytest.raises(ValueError, match="not a Bitrix24 method"):
            await b24.call("../../admin")
    assert portal.requests == []


async def test_call_page_gives_total_and_next(portal):
    portal.on("crm.company.list", lambda params: ok([{"ID": "1"}], total=120, next=50))
    async with client(portal) as b24:
        page = await b24.call_page("crm.company.list", {"start": 0})
    assert (page.total, page.next, page.items) == (120, 50, [{"ID": "1"}])


async def test_query_limit_is_retried_until_the_portal_accepts(portal):
    replies = [err(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")] * 2 + [ok(5)]
    portal.on("crm.company.add", lambda params: replies.pop(0))
    async with client(portal) as b24:
        assert await b24.call("crm.company.add", {"fields": {"TITLE": "A"}}) == 5
    assert len(portal.requests) == 3


async def test_query_limit_propagates_after_the_configured_retries(portal):
    portal.on("crm.company.add", err(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
    async with client(portal, retry=RetryPolicy(max_retries=2, base_delay=0)) as b24:
        with pytest.raises(B24QueryLimitExceeded):
            await b24.call("crm.company.add", {"fields": {"TITLE": "A"}})
    assert len(portal.requests) == 3


async def test_a_server_error_on_a_read_is_retried(portal):
    replies = [html(502), ok({"ID": "1"})]
    portal.on("crm.company.get", lambda params: replies.pop(0))
    async with client(portal) as b24:
        assert await b24.call("crm.company.get", {"id": 1}) == {"ID": "1"}
    assert len(portal.requests) == 2


async def test_a_server_error_on_a_write_is_not_repeated_blindly(portal):
    """The add may have happened: the consumer's retry looks the record up before creating it again."""
    portal.on("crm.company.add", html(502))
    async with client(portal) as b24:
        with pytest.raises(B24ServerError):
            await b24.call("crm.company.add", {"fields": {"TITLE": "A"}})
    assert len(portal.requests) == 1


async def test_a_connection_that_never_opened_is_retried_even_for_a_write():
    attempts = []

    def handler(request):
        attempts.append(request)
        if len(attempts) < 3:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json={"result": 9})

    async with client(httpx.MockTransport(handler)) as b24:
        assert await b24.call("crm.company.add", {"fields": {"TITLE": "A"}}) == 9
    assert len(attempts) == 3


async def test_a_read_timeout_on_a_write_is_a_transport_error_at_once():
    attempts = []

    def handler(request):
        attempts.append(request)
        raise httpx.ReadTimeout("timed out")

    async with client(httpx.MockTransport(handler)) as b24:
        with pytest.raises(B24TransportError) as info:
            await b24.call("crm.company.add", {"fields": {"TITLE": "A"}})
    assert len(attempts) == 1
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


async def test_a_redirect_after_a_domain_change_is_reported_and_never_followed(portal):
    new = f"https://new.example.com/rest/7/{WEBHOOK_CODE}/crm.company.get"
    portal.on("crm.company.get", Reply(302, raw=b"", headers={"location": new}))
    async with client(portal) as b24:
        with pytest.raises(B24PortalMoved) as info:
            await b24.call("crm.company.get", {"id": 1})
    assert len(portal.requests) == 1
    assert info.value.location == "https://new.example.com/rest/7/***/crm.company.get"
    assert WEBHOOK_CODE not in str(info.value)


async def test_validation_errors_keep_the_portals_code_and_text(portal):
    portal.on("crm.company.add", err(400, "ERROR_CORE", "Invalid e-mail"))
    async with client(portal) as b24:
        with pytest.raises(B24ValidationError) as info:
            await b24.call("crm.company.add", {"fields": {"EMAIL": "x"}})
    assert (info.value.code, info.value.description, info.value.status) == (
        "ERROR_CORE",
        "Invalid e-mail",
        400,
    )
    assert len(portal.requests) == 1


# ------------------------------------------------------------------------------ operation time limit


async def test_operation_time_limit_carries_the_last_known_reset_time_and_pauses_only_that_method(portal):
    reset_at = int(time.time()) + 300
    replies = [
        ok([], time_={"operating": 10.0, "operating_reset_at": reset_at}),
        err(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
    ]
    portal.on("crm.deal.list", lambda params: replies.pop(0))
    portal.on("crm.company.get", ok({"ID": "1"}))
    async with client(portal) as b24:
        await b24.call("crm.deal.list")
        with pytest.raises(B24OperationTimeLimit) as info:
            await b24.call("crm.deal.list")
        assert info.value.reset_at == reset_at
        sent = len(portal.requests)
        with pytest.raises(B24OperationTimeLimit):  # held by the client: the portal is not asked again
            await b24.call("crm.deal.list")
        assert len(portal.requests) == sent
        assert await b24.call("crm.company.get", {"id": 1}) == {"ID": "1"}  # other methods flow


async def test_a_method_whose_budget_is_spent_is_held_before_the_portal_refuses(portal):
    portal.on(
        "crm.deal.update", ok(True, time_={"operating": 481.0, "operating_reset_at": time.time() + 300})
    )
    async with client(portal, operating=OperatingLimit(budget=480)) as b24:
        await b24.call("crm.deal.update", {"id": 1, "fields": {}})
        with pytest.raises(B24OperationTimeLimit) as info:
            await b24.call("crm.deal.update", {"id": 1, "fields": {}})
    assert len(portal.requests) == 1
    assert "held by the bridge" in info.value.description


async def test_a_short_pause_is_waited_out_and_the_call_succeeds(portal):
    replies = [
        ok([], time_={"operating": 1.0, "operating_reset_at": time.time() + 0.3}),
        err(429, "OPERATION_TIME_LIMIT"),
        ok(["second"]),
    ]
    portal.on("crm.deal.list", lambda params: replies.pop(0))
    async with client(portal, operating=OperatingLimit(max_wait=5)) as b24:
        await b24.call("crm.deal.list")
        assert await b24.call("crm.deal.list") == ["second"]
    assert len(portal.requests) == 3


# ------------------------------------------------------------------------------------------- batch


async def test_batch_sends_php_query_commands_and_returns_each_result_or_error(portal):
    portal.on(
        "crm.company.get", lambda p: ok({"ID": p["id"]}) if p["id"] == "1" else err(400, "", "Not found")
    )
    portal.on("crm.company.list", lambda p: ok([{"ID": "1"}], total=75, next=50))
    async with client(portal) as b24:
        result = await b24.batch(
            {
                "one": ("crm.company.get", {"id": 1}),
                "missing": ("crm.company.get", {"id": 2}),
                "list": ("crm.company.list", {"filter": {">ID": 0}, "select": ["ID"]}),
            }
        )
    assert portal.requests[0].params["cmd"] == {
        "one": "crm.company.get?id=1",
        "missing": "crm.company.get?id=2",
        "list": "crm.company.list?filter[%3EID]=0&select[0]=ID",
    }
    assert portal.requests[0].params["halt"] == 0
    assert result["one"] == {"ID": "1"}
    assert isinstance(result.errors["missing"], B24NotFound)
    assert result.errors["missing"].method == "crm.company.get"
    assert (result.page("list").total, result.page("list").next) == (75, 50)


async def test_batch_with_halt_reports_the_commands_that_never_ran(portal):
    portal.on("crm.company.get", err(400, "", "Not found"))
    async with client(portal) as b24:
        result = await b24.batch({"a": ("crm.company.get", {"id": 1}), "b": "server.time"}, halt=True)
    assert result.skipped == ("b",) and not result.ok


@pytest.mark.parametrize("keys", [["0", "1"], ["12"], [""], ["a[b]"]])
async def test_batch_refuses_numeric_or_bracketed_keys(portal, keys):
    async with client(portal) as b24:
        with pytest.raises(ValueError, match="batch key"):
            await b24.batch({k: "server.time" for k in keys})


async def test_batch_refuses_more_than_fifty_commands_and_nested_batch(portal):
    async with client(portal) as b24:
        with pytest.raises(ValueError, match="at most 50"):
            await b24.batch({f"k{i}": "server.time" for i in range(51)})
        with pytest.raises(ValueError, match="batch cannot contain a batch"):
            await b24.batch({"x": ("batch", {"cmd": {"a": "server.time"}})})
    assert portal.requests == []


# -------------------------------------------------------------------------------------- coalescing


def coalescing(linger: float = 0.05) -> Batching:
    return Batching(linger=linger)


async def test_concurrent_calls_share_batch_requests_and_each_gets_its_own_result(portal):
    portal.on("crm.company.add", lambda p: ok(int(p["fields"]["N"])))
    async with client(portal, batching=coalescing()) as b24:
        results = await asyncio.gather(
            *(b24.call("crm.company.add", {"fields": {"N": i}}) for i in range(120))
        )
    assert results == list(range(120))
    assert len(portal.requests) == 3
    assert all(r.method == "batch" for r in portal.requests)
    assert sorted(len(r.params["cmd"]) for r in portal.requests) == [20, 50, 50]
    assert all(not key.isdigit() for r in portal.requests for key in r.params["cmd"])


async def test_a_failing_command_never_fails_its_neighbours(portal):
    portal.on(
        "crm.company.get", lambda p: err(400, "", "Not found") if p["id"] == "3" else ok({"ID": p["id"]})
    )
    async with client(portal, batching=coalescing()) as b24:
        results = await asyncio.gather(
            *(b24.call("crm.company.get", {"id": i}) for i in range(5)), return_exceptions=True
        )
    assert len(portal.requests) == 1
    assert [r if isinstance(r, Exception) else r["ID"] for r in results][:3] == ["0", "1", "2"]
    assert isinstance(results[3], B24NotFound) and results[4] == {"ID": "4"}


async def test_coalesced_list_calls_keep_their_own_total_and_next(portal):
    portal.on("crm.company.list", lambda p: ok([{"ID": p["start"]}], total=int(p["start"]) + 100, next=1))
    async with client(portal, batching=coalescing()) as b24:
        pages = await asyncio.gather(*(b24.call_page("crm.company.list", {"start": s}) for s in (0, 50)))
    assert [(p.total, p.next) for p in pages] == [(100, 1), (150, 1)]
    assert len(portal.requests) == 1


async def test_a_lone_call_goes_as_a_plain_request(portal):
    portal.on("crm.company.get", ok({"ID": "1"}))
    async with client(portal, batching=coalescing(0.01)) as b24:
        await b24.call("crm.company.get", {"id": 1})
    assert [r.method for r in portal.requests] == ["crm.company.get"]


async def test_params_a_query_cannot_carry_bypass_the_batch(portal):
    portal.on("crm.deal.productrows.set", ok(True))
    portal.on("crm.deal.get", ok({"ID": "1"}))
    async with client(portal, batching=coalescing()) as b24:
        await asyncio.gather(
            b24.call("crm.deal.productrows.set", {"id": 1, "rows": []}), b24.call("crm.deal.get", {"id": 1})
        )
    assert {r.method for r in portal.requests} == {"crm.deal.productrows.set", "crm.deal.get"}
    assert next(r for r in portal.requests if r.method == "crm.deal.productrows.set").params["rows"] == []


async def test_when_the_whole_batch_fails_each_caller_hears_it_under_its_own_method():
    def refuse(request):
        return httpx.Response(
            401, json={"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}
        )

    async with client(httpx.MockTransport(refuse), batching=coalescing()) as b24:
        results = await asyncio.gather(
            b24.call("crm.company.get", {"id": 1}),
            b24.call("crm.contact.get", {"id": 2}),
            return_exceptions=True,
        )
    assert all(isinstance(r, B24AuthError) for r in results)
    assert [r.method for r in results] == ["crm.company.get", "crm.contact.get"]


async def test_an_operation_time_limit_inside_a_batch_pauses_that_method_only(portal):
    portal.on("crm.deal.list", err(429, "OPERATION_TIME_LIMIT", "blocked"))
    portal.on("crm.company.get", ok({"ID": "1"}))
    async with client(portal, batching=coalescing(), operating=OperatingLimit(max_wait=0)) as b24:
        results = await asyncio.gather(
            b24.call("crm.deal.list"), b24.call("crm.company.get", {"id": 1}), return_exceptions=True
        )
        assert isinstance(results[0], B24OperationTimeLimit) and results[1] == {"ID": "1"}
        assert b24.operating.wait("crm.deal.list") > 0
        assert b24.operating.wait("crm.company.get") == 0


# ------------------------------------------------------------------------------------------- paging


def rows_portal(n: int) -> FakePortal:
    portal = FakePortal()
    ids = list(range(1, n + 1))

    def company_list(params):
        rows = ids
        if ">ID" in params.get("filter", {}):
            rows = [i for i in ids if i > int(params["filter"][">ID"])]
        start = int(params.get("start", 0))
        if start == -1:
            return ok([{"ID": str(i)} for i in rows[:50]])
        page = rows[start : start + 50]
        return ok(
            [{"ID": str(i)} for i in page],
            total=len(rows),
            next=start + 50 if start + 50 < len(rows) else None,
        )

    portal.on("crm.company.list", company_list)
    return portal


async def test_iterate_reads_every_row_once_with_remaining_pages_batched():
    portal = rows_portal(180)
    async with client(portal) as b24:
        rows = await b24.list_all("crm.company.list", {"select": ["ID"]})
    assert [int(r["ID"]) for r in rows] == list(range(1, 181))
    assert [r.method for r in portal.requests] == ["crm.company.list", "batch"]
    assert portal.requests[0].params["order"] == {"ID": "ASC"}


async def test_fast_iterate_uses_an_id_window_without_counting():
    portal = rows_portal(120)
    async with client(portal) as b24:
        rows = [r async for r in b24.iterate("crm.company.list", {"select": ["ID"]}, fast=True)]
    assert [int(r["ID"]) for r in rows] == list(range(1, 121))
    assert [c.params["start"] for c in portal.commands] == [-1, -1, -1]
    assert [c.params["filter"].get(">ID") for c in portal.commands] == [None, 50, 100]
