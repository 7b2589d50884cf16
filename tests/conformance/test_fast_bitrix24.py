"""The community client fast_bitrix24 against the sandbox: it must behave as it does against a portal.

What a real portal makes fast_bitrix24 do (read from its code, ``srh.py``, ``mult_request.py``,
``user_request.py``, ``server_response.py``): POST JSON to ``webhook + method``; ``call()`` and
``get_all()`` pack commands into ``batch`` requests keyed ``cmd…``/``order…`` and send them in parallel;
any 5xx or a broken connection is retried with a growing back-off (more than 10 failures in a row →
``RuntimeError``); other 4xx, 429 ``OPERATION_TIME_LIMIT`` included, are raised at once; a 401 with a
``token_func`` fetches a new token and repeats the call; its own query encoder writes ``None`` as
``"None"`` and ``True`` as ``"True"``.
"""

from __future__ import annotations

import aiohttp
import httpx
import pytest
from fast_bitrix24 import BitrixAsync
from fast_bitrix24.server_response import ErrorInServerResponseException

pytestmark = pytest.mark.usefixtures("fast_env")


def _fast(url: str, **options) -> BitrixAsync:
    return BitrixAsync(url, verbose=False, **options)


def _seed_companies(srv, count: int) -> None:
    for i in range(count):
        srv.sandbox.call("crm.company.add", {"fields": {"TITLE": f"Company {i + 1}"}})


async def test_call_adds_items_in_parallel_batches(serve):
    srv = serve()
    ids = await _fast(srv.webhook_url).call("crm.company.add", [{"fields": {"TITLE": f"C{i}"}} for i in range(120)])
    assert sorted(ids) == list(range(1, 121))  # batches run in parallel: any order, as on a portal (#234)
    stats = srv.sandbox.stats()
    assert stats["batches"] == 3 and stats["http_requests"] == 3


async def test_get_all_returns_every_row_once(serve):
    srv = serve()
    _seed_companies(srv, 2600)
    rows = await _fast(srv.webhook_url).get_all("crm.company.list", {"select": ["ID", "TITLE"]})
    assert sorted(int(r["ID"]) for r in rows) == list(range(1, 2601))
    assert srv.sandbox.stats()["http_requests"] == 3  # one page to learn the total, then 51 pages in 2 batches


async def test_get_all_of_an_empty_list_is_empty(serve):
    srv = serve()
    assert await _fast(srv.webhook_url).get_all("crm.deal.list") == []


async def test_get_by_id_keys_results_by_id(serve):
    srv = serve()
    _seed_companies(srv, 3)
    companies = await _fast(srv.webhook_url).get_by_ID("crm.company.get", [1, 3])
    assert {k: v["TITLE"] for k, v in companies.items()} == {"1": "Company 1", "3": "Company 3"}


async def test_call_batch_returns_the_result_bucket_and_raises_on_command_errors(serve):
    srv = serve()
    _seed_companies(srv, 1)
    fast = _fast(srv.webhook_url)
    result = await fast.call_batch({"halt": 0, "cmd": {"one": "crm.company.get?id=1",
                                                       "list": "crm.company.list?select[]=ID"}})
    assert result["one"]["TITLE"] == "Company 1" and result["list"] == [{"ID": "1"}]
    with pytest.raises(ErrorInServerResponseException):
        await fast.call_batch({"halt": 0, "cmd": {"missing": "crm.company.get?id=99"}})


async def test_its_query_encoder_sends_none_and_booleans_as_words_unless_raw(serve):
    srv = serve()
    fast = _fast(srv.webhook_url)
    batched = await fast.call("crm.company.add", {"fields": {"TITLE": "Encoded", "COMMENTS": None}})
    raw = await fast.call("crm.company.add", {"fields": {"TITLE": "Raw", "COMMENTS": None}}, raw=True)
    companies = {c["TITLE"]: c for c in srv.sandbox.state()["companies"]}
    assert batched == 1 and raw["result"] == 2
    assert companies["Encoded"]["COMMENTS"] == "None"  # issue #235: the text "None" reaches the portal
    assert companies["Raw"]["COMMENTS"] is None


async def test_a_full_bucket_gets_503_and_the_client_backs_off_until_every_call_is_done(serve, fast_env):
    srv = serve(rate=2, burst=5)
    _seed_companies(srv, 12)
    companies = await _fast(srv.webhook_url, batch_size=1).call("crm.company.get", [{"ID": i} for i in range(1, 13)])
    assert sorted(int(c["ID"]) for c in companies) == list(range(1, 13))
    assert srv.sandbox.stats()["rate_limited"] > 0 and fast_env.delays  # it did hit the limit and wait


async def test_its_own_throttle_set_to_the_portals_limits_never_trips_the_bucket(serve, fast_throttle):
    srv = serve(rate=2, burst=5)
    fast = _fast(srv.webhook_url, request_pool_size=5, requests_per_second=2.0)
    for i in range(12):
        assert await fast.call("crm.company.add", {"fields": {"TITLE": f"C{i}"}}) == i + 1
    assert srv.sandbox.stats()["rate_limited"] == 0
    assert [d for d in fast_throttle.delays if d] == [0.5] * 7  # after five requests, one every half second


async def test_a_503_storm_shorter_than_its_retry_budget_is_ridden_out(serve, fast_env):
    srv = serve()
    srv.sandbox.faults.storm(requests=4)
    assert await _fast(srv.webhook_url).call("crm.company.add", {"fields": {"TITLE": "After"}}) == 1
    assert len(fast_env.delays) == 4 and fast_env.delays == sorted(fast_env.delays)  # a growing back-off


async def test_an_endless_storm_exhausts_its_retries(serve, fast_env):
    srv = serve()
    srv.sandbox.faults.storm()
    with pytest.raises(RuntimeError, match="All attempts to get data from server exhausted"):
        await _fast(srv.webhook_url).call("crm.company.get", {"ID": 1})
    assert srv.sandbox.stats()["faults"] == {"storm": 11}


async def test_nginx_pages_and_dropped_connections_are_retried(serve, fast_env):
    srv = serve()
    srv.sandbox.faults.add_error("HTML_502", count=2)
    srv.sandbox.faults.outage(requests=1)
    assert await _fast(srv.webhook_url).call("crm.company.add", {"fields": {"TITLE": "Survivor"}}) == 1
    assert srv.sandbox.stats()["faults"] == {"HTML_502": 2, "outage": 1}


async def test_operation_time_limit_is_raised_at_once(serve, fast_env):
    srv = serve(operating_limit=2, operating_cost=1.5)
    fast = _fast(srv.webhook_url)
    await fast.call("crm.company.list", {"select": ["ID"]}, raw=True)
    await fast.call("crm.company.list", {"select": ["ID"]}, raw=True)
    with pytest.raises(aiohttp.ClientResponseError) as blocked:
        await fast.call("crm.company.list", {"select": ["ID"]}, raw=True)
    assert blocked.value.status == 429 and fast_env.delays == []
    assert srv.sandbox.stats()["operating_limited"] == 1


async def test_a_batch_blocked_by_the_operating_limit_fails_like_any_command_error(serve):
    srv = serve(operating_limit=1, operating_cost=2)
    fast = _fast(srv.webhook_url)
    await fast.call("crm.company.add", {"fields": {"TITLE": "first"}})
    with pytest.raises(ErrorInServerResponseException, match="OPERATION_TIME_LIMIT"):
        await fast.call("crm.company.add", [{"fields": {"TITLE": "second"}}])


async def test_an_app_token_is_fetched_again_when_the_portal_says_it_expired(serve, clock):
    srv = serve()
    refresh = {"token": srv.sandbox.oauth.mint(base_url=srv.base_url)["refresh_token"]}
    fetched = []

    async def token_func() -> str:
        async with httpx.AsyncClient() as http:
            reply = (await http.get(srv.token_url, params={
                "grant_type": "refresh_token", "client_id": srv.sandbox.config.oauth_client_id,
                "client_secret": srv.sandbox.config.oauth_client_secret, "refresh_token": refresh["token"]})).json()
        refresh["token"] = reply["refresh_token"]
        fetched.append(reply["access_token"])
        return reply["access_token"]

    fast = _fast(srv.rest_url, token_func=token_func)
    assert await fast.call("crm.company.add", {"fields": {"TITLE": "By the app"}}, raw=True) is not None
    clock.advance(3601)
    reply = await fast.call("crm.company.get", {"id": 1}, raw=True)
    assert reply["result"]["TITLE"] == "By the app" and len(fetched) == 2
    assert srv.sandbox.stats()["errors"] == {"expired_token": 1}
