"""OAuth apps: the token endpoint (``/oauth/token/``) and REST calls at ``/rest/<method>`` with an access token."""

from __future__ import annotations

import pytest

from b24_sandbox.config import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_OAUTH_CLIENT_SECRET

TOKEN_KEYS = ["access_token", "expires", "expires_in", "scope", "domain", "server_endpoint", "status",
              "client_endpoint", "member_id", "user_id", "refresh_token"]
APP = {"client_id": DEFAULT_OAUTH_CLIENT_ID, "client_secret": DEFAULT_OAUTH_CLIENT_SECRET}


def _mint(portal, **spec):
    response = portal.http.post(portal.url("/_sandbox/oauth"), json=spec)
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(portal, refresh_token, method="GET", **overrides):
    params = {"grant_type": "refresh_token", **APP, "refresh_token": refresh_token, **overrides}
    if method == "GET":
        return portal.http.get(portal.url("/oauth/token/"), params=params)
    return portal.http.post(portal.url("/oauth/token/"), data=params)


def _app_call(portal, method, token, **params):
    return portal.http.post(portal.url(f"/rest/{method}"), json={"auth": token, **params})


def test_minted_tokens_look_like_the_oauth_servers_reply(make_portal, clock):
    portal = make_portal()
    tokens = _mint(portal)
    assert list(tokens) == TOKEN_KEYS
    assert tokens["expires_in"] == 3600 and tokens["expires"] == int(clock.now) + 3600
    assert tokens["client_endpoint"] == portal.srv.base_url + "/rest/" and tokens["status"] == "L"
    assert tokens["user_id"] == 1 and len(tokens["member_id"]) == 32


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_refresh_gives_a_new_pair_and_the_old_refresh_token_stops_working(portal, method):
    first = _mint(portal)
    response = _refresh(portal, first["refresh_token"], method)
    assert response.status_code == 200
    second = response.json()
    assert list(second) == TOKEN_KEYS
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    again = _refresh(portal, first["refresh_token"], method)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
    assert _refresh(portal, second["refresh_token"], method).status_code == 200


def test_wrong_client_credentials_answer_invalid_client(portal):
    tokens = _mint(portal)
    response = _refresh(portal, tokens["refresh_token"], client_secret="guess")
    assert response.status_code == 400 and response.json()["error"] == "invalid_client"
    assert _refresh(portal, tokens["refresh_token"]).status_code == 200  # the failed try did not use it up


def test_an_expired_refresh_token_answers_invalid_grant(make_portal, clock):
    portal = make_portal(refresh_token_ttl=100)
    tokens = _mint(portal)
    clock.advance(100)
    response = _refresh(portal, tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Refresh token has expired"}


def test_a_missing_grant_type_answers_invalid_request(portal):
    response = portal.http.get(portal.url("/oauth/token/"), params=APP)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_an_authorization_code_is_exchanged_once(portal):
    code = _mint(portal, code=True)["code"]
    params = {"grant_type": "authorization_code", **APP, "code": code}
    first = portal.http.get(portal.url("/oauth/token/"), params=params)
    assert first.status_code == 200 and list(first.json()) == TOKEN_KEYS
    assert portal.http.get(portal.url("/oauth/token/"), params=params).json()["error"] == "invalid_grant"


def test_the_access_token_is_accepted_in_auth_access_token_or_a_bearer_header(portal):
    token = _mint(portal)["access_token"]
    assert _app_call(portal, "crm.company.add", token, fields={"TITLE": "Auth"}).json()["result"] == 1
    by_query = portal.http.get(portal.url("/rest/crm.company.get.json"), params={"auth": token, "id": 1})
    assert by_query.json()["result"]["TITLE"] == "Auth"
    by_name = portal.http.post(portal.url("/rest/crm.company.list"), json={"access_token": token})
    assert by_name.json()["total"] == 1
    by_header = portal.http.post(portal.url("/rest/crm.company.list"), json={},
                                 headers={"Authorization": f"Bearer {token}"})
    assert by_header.json()["total"] == 1


def test_an_expired_access_token_answers_401_expired_token_until_refreshed(make_portal, clock):
    portal = make_portal()
    tokens = _mint(portal)
    clock.advance(3600)
    response = _app_call(portal, "crm.company.list", tokens["access_token"])
    assert response.status_code == 401
    assert response.json() == {"error": "expired_token", "error_description": "The access token provided has expired"}
    fresh = _refresh(portal, tokens["refresh_token"]).json()
    assert _app_call(portal, "crm.company.list", fresh["access_token"]).status_code == 200


def test_unknown_and_missing_tokens_answer_401(portal):
    unknown = _app_call(portal, "crm.company.list", "0123456789abcdef")
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_token"
    missing = portal.http.post(portal.url("/rest/crm.company.list"), json={})
    assert missing.status_code == 401
    assert missing.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}


def test_app_calls_run_as_the_tokens_user(portal):
    token = _mint(portal, user_id=3)["access_token"]
    company_id = _app_call(portal, "crm.company.add", token, fields={"TITLE": "By user 3"}).json()["result"]
    assert portal.result("crm.company.get", id=company_id)["ASSIGNED_BY_ID"] == "3"


def test_an_app_has_its_own_operating_time_budget(make_portal):
    portal = make_portal(operating_limit=1, operating_cost=2)
    token = _mint(portal)["access_token"]
    portal.call("crm.company.list")
    assert portal.call("crm.company.list").status_code == 429
    assert _app_call(portal, "crm.company.list", token).status_code == 200
    assert _app_call(portal, "crm.company.list", token).status_code == 429
    callers = sorted(portal.sandbox.stats()["operating"])
    assert callers[0] == f"app:{DEFAULT_OAUTH_CLIENT_ID}" and callers[1].startswith("webhook:1:")


def test_the_python_api_mints_tokens_and_expires_them(make_portal):
    portal = make_portal()
    tokens = portal.sandbox.oauth.mint()
    assert _app_call(portal, "crm.company.list", tokens["access_token"]).status_code == 200
    portal.sandbox.oauth.expire_access_tokens()
    assert _app_call(portal, "crm.company.list", tokens["access_token"]).json()["error"] == "expired_token"
