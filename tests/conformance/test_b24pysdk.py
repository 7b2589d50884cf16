"""The official SDK (b24pysdk) against the sandbox, over HTTPS: it must behave as it does against a portal.

What a real portal makes b24pysdk do (read from its code, ``api/requesters`` and ``credentials``): every
call is a JSON POST to ``https://{domain}/rest/{user_id}/{code}/{method}.json`` with redirects off; HTTP 503
is retried (3 attempts in all, sleeping 1 s then 2 s) and then raised as ``BitrixAPIQueryLimitExceeded``;
429 ``OPERATION_TIME_LIMIT`` and other errors are raised at once; a body that is not JSON raises a
``BitrixResponse…JSONDecodeError`` (the 302 one carries the new domain); an OAuth token that answers
``expired_token`` is refreshed through the OAuth server and the call repeated once.
"""

from __future__ import annotations

import pytest
from b24pysdk import BitrixApp, BitrixToken, BitrixWebhook, Client
from b24pysdk.api.requesters.bitrix_oauth_requester import BitrixOAuthRequester
from b24pysdk.errors import (
    BitrixAPIBadRequest,
    BitrixAPIOperationTimeLimit,
    BitrixAPIOverloadLimit,
    BitrixAPIQueryLimitExceeded,
    BitrixRequestError,
    BitrixResponse302JSONDecodeError,
    BitrixResponse500JSONDecodeError,
    BitrixResponseJSONDecodeError,
)
from b24pysdk.errors.oauth import BitrixOAuthInvalidGrant

from .conftest import WEBHOOK_TOKEN

pytestmark = pytest.mark.usefixtures("b24pysdk_env")


def _client(srv) -> Client:
    return Client(BitrixWebhook(domain=srv.domain, webhook_token=WEBHOOK_TOKEN))


def _seed_companies(srv, count: int) -> None:
    for i in range(count):
        srv.sandbox.call("crm.company.add", {"fields": {"TITLE": f"Company {i + 1}"}})


def test_add_get_update_delete_round_trip(serve):
    srv = serve(tls=True)
    client = _client(srv)
    company_id = client.crm.company.add(fields={"TITLE": "ACME", "PHONE": [{"VALUE": "+7 1"}]}).result
    assert company_id == 1
    assert client.crm.company.update(bitrix_id=company_id, fields={"TITLE": "ACME 2"}).result is True
    company = client.crm.company.get(bitrix_id=company_id).result
    assert company["TITLE"] == "ACME 2" and company["PHONE"][0]["VALUE"] == "+7 1"
    assert client.crm.company.delete(bitrix_id=company_id).result is True
    with pytest.raises(BitrixAPIBadRequest) as missing:
        client.crm.company.get(bitrix_id=company_id).call()
    assert missing.value.error == "" and missing.value.error_description == "Not found"


def test_the_time_block_parses_with_operating_data(serve):
    srv = serve(tls=True, operating_cost=1.5)
    request = _client(srv).crm.company.list()
    assert request.time.operating == 1.5 and request.time.operating_reset_at is not None


def test_as_list_pages_through_everything_with_one_batch(serve):
    srv = serve(tls=True)
    _seed_companies(srv, 120)
    rows = _client(srv).crm.company.list(select=["ID", "TITLE"]).as_list().result
    assert [int(r["ID"]) for r in rows] == list(range(1, 121))
    stats = srv.sandbox.stats()
    assert stats["http_requests"] == 2 and stats["batches"] == 1 and stats["per_method"]["crm.company.list"] == 3


def test_as_list_fast_walks_the_id_window_through_result_references(serve):
    srv = serve(tls=True)
    _seed_companies(srv, 120)
    rows = list(_client(srv).crm.company.list(select=["ID", "TITLE"]).as_list_fast().result)
    assert [int(r["ID"]) for r in rows] == list(range(1, 121))
    assert srv.sandbox.stats()["http_requests"] == 2  # the discovery page, then one chained batch


def test_as_list_fast_descending_with_a_limit(serve):
    srv = serve(tls=True)
    _seed_companies(srv, 130)
    rows = list(_client(srv).crm.company.list(select=["ID"]).as_list_fast(descending=True, limit=70).result)
    assert [int(r["ID"]) for r in rows] == list(range(130, 60, -1))


def test_call_batch_with_keys_and_errors(serve):
    srv = serve(tls=True)
    _seed_companies(srv, 2)
    client = _client(srv)
    batch = client.call_batch({"one": client.crm.company.get(bitrix_id=1),
                               "missing": client.crm.company.get(bitrix_id=99)}).result
    assert batch.result["one"]["TITLE"] == "Company 1"
    assert batch.result_error == {"missing": {"error": "", "error_description": "Not found"}}


def test_call_batch_of_a_sequence_gets_its_results_back_as_a_list(serve):
    srv = serve(tls=True)
    client = _client(srv)
    batch = client.call_batch([client.crm.company.add(fields={"TITLE": t}) for t in ("A", "B", "C")]).result
    assert batch.result == [1, 2, 3]  # keys 0..n-1: PHP encodes the bucket as a JSON list


def test_call_batches_splits_into_fifty_command_batches(serve):
    srv = serve(tls=True)
    client = _client(srv)
    batches = client.call_batches([client.crm.contact.add(fields={"NAME": f"N{i}"}) for i in range(120)]).result
    # chunk 1 has keys 0..49 (a JSON list on a portal), chunks 2 and 3 keep 50.. as object keys: the SDK's
    # merge only comes out whole if the sandbox encodes each chunk the PHP way
    assert batches.result == {str(i): i + 1 for i in range(120)}
    assert srv.sandbox.stats()["batches"] == 3


def test_a_full_bucket_is_retried_after_the_back_off_and_every_call_succeeds(serve, b24pysdk_env):
    srv = serve(tls=True, rate=2, burst=5)
    client = _client(srv)
    ids = [client.crm.company.add(fields={"TITLE": f"C{i}"}).result for i in range(10)]
    assert ids == list(range(1, 11))
    assert srv.sandbox.stats()["rate_limited"] == len(b24pysdk_env.delays) > 0
    assert set(b24pysdk_env.delays) == {1.0}  # one second drains two requests: never a second retry


def test_a_503_storm_is_retried_up_to_three_attempts_then_raised(serve, b24pysdk_env):
    srv = serve(tls=True)
    srv.sandbox.faults.storm(requests=2)
    assert _client(srv).crm.company.list().result == []
    srv.sandbox.faults.storm(requests=3)
    with pytest.raises(BitrixAPIQueryLimitExceeded):
        _client(srv).crm.company.list().call()
    assert b24pysdk_env.delays == [1.0, 2.0, 1.0, 2.0]
    assert srv.sandbox.stats()["faults"] == {"storm": 5}


def test_overload_limit_is_a_503_too_and_retried(serve, b24pysdk_env):
    srv = serve(tls=True)
    srv.sandbox.faults.add_error("OVERLOAD_LIMIT", count=3)
    with pytest.raises(BitrixAPIOverloadLimit):
        _client(srv).crm.company.list().call()
    assert len(b24pysdk_env.delays) == 2


def test_operation_time_limit_raises_at_once_without_retrying(serve, b24pysdk_env):
    srv = serve(tls=True, operating_limit=2, operating_cost=1.5)
    client = _client(srv)
    client.crm.company.list().call()
    client.crm.company.list().call()
    with pytest.raises(BitrixAPIOperationTimeLimit) as blocked:
        client.crm.company.list().call()
    assert blocked.value.error_description == "Method is blocked due to operation time limit."
    assert b24pysdk_env.delays == [] and srv.sandbox.stats()["http_requests"] == 3
    assert client.crm.contact.list().result == []  # other methods keep working


def test_nginx_error_pages_are_json_decode_errors_and_a_503_page_is_retried(serve, b24pysdk_env):
    srv = serve(tls=True)
    srv.sandbox.faults.add_error("HTML_500", count=1)
    with pytest.raises(BitrixResponse500JSONDecodeError):
        _client(srv).crm.company.list().call()
    srv.sandbox.faults.add_error("HTML_502", count=1)
    with pytest.raises(BitrixResponseJSONDecodeError):
        _client(srv).crm.company.list().call()
    srv.sandbox.faults.add_error("HTML_503", count=1)
    assert _client(srv).crm.company.list().result == []
    assert b24pysdk_env.delays == [1.0]


def test_a_dropped_connection_is_a_request_error(serve):
    srv = serve(tls=True)
    srv.sandbox.faults.outage(requests=1)
    with pytest.raises(BitrixRequestError):
        _client(srv).crm.company.list().call()
    assert _client(srv).crm.company.list().result == []


def test_a_moved_portal_is_read_as_a_domain_change(serve):
    class ManualDomainWebhook(BitrixWebhook):
        _AUTO_CHANGED_DOMAIN = False

    srv = serve(tls=True)
    srv.sandbox.faults.moved(f"localhost:{srv.port}")
    client = Client(ManualDomainWebhook(domain=srv.domain, webhook_token=WEBHOOK_TOKEN))
    with pytest.raises(BitrixResponse302JSONDecodeError) as moved:
        client.crm.company.list().call()
    assert moved.value.new_domain == "localhost"
    assert moved.value.redirect_url.startswith(f"https://localhost:{srv.port}/rest/1/")


def test_an_expired_oauth_token_is_refreshed_through_the_token_server_and_the_call_repeated(
        serve, clock, monkeypatch):
    srv = serve(tls=True)
    monkeypatch.setattr(BitrixOAuthRequester, "_OAUTH_TOKEN_URL", srv.token_url)
    tokens = srv.sandbox.oauth.mint(base_url=srv.base_url)
    app = BitrixApp(client_id=srv.sandbox.config.oauth_client_id,
                    client_secret=srv.sandbox.config.oauth_client_secret)
    token = BitrixToken(domain=srv.domain, auth_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                        bitrix_app=app)
    client = Client(token)
    assert client.crm.company.add(fields={"TITLE": "By the app"}).result == 1
    clock.advance(3601)
    assert client.crm.company.get(bitrix_id=1).result["TITLE"] == "By the app"
    assert token.auth_token != tokens["access_token"] and token.refresh_token != tokens["refresh_token"]
    assert srv.sandbox.stats()["errors"] == {"expired_token": 1}
    stale = BitrixToken(domain=srv.domain, auth_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                        bitrix_app=app)
    with pytest.raises(BitrixOAuthInvalidGrant):  # the first refresh token was used up
        Client(stale).crm.company.get(bitrix_id=1).call()
