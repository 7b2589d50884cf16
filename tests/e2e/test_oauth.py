"""The bridge in OAuth application mode against the sandbox's OAuth server: an expired access token is
refreshed once, the new tokens are stored in PostgreSQL before use, and the whole path still works."""

from __future__ import annotations

import pytest

from bridge.b24 import client_from_settings
from bridge.errors import B24AuthError
from b24_sandbox import SandboxConfig, serve_in_thread
from bridge.settings import Settings


def oauth_settings(srv, refresh_token: str) -> Settings:
    config = srv.sandbox.config
    return Settings(b24_oauth_client_id=config.oauth_client_id, b24_oauth_client_secret=config.oauth_client_secret,
                    b24_oauth_refresh_token=refresh_token, b24_oauth_portal_url=srv.base_url + "/",
                    b24_oauth_server_url=srv.token_url, b24_batch_linger=0)


async def test_an_expired_token_is_refreshed_stored_and_the_call_repeated(db_pool):
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        first = srv.sandbox.oauth.mint()
        client = client_from_settings(oauth_settings(srv, first["refresh_token"]), pool=db_pool)
        try:
            company = await client.call("crm.company.add", {"fields": {"TITLE": "ООО OAuth"}})
            stored_before = await db_pool.fetchrow("SELECT * FROM b24_oauth_tokens")
            srv.sandbox.oauth.expire_access_tokens()  # an hour has passed
            got = await client.call("crm.company.get", {"id": company})
            stored_after = await db_pool.fetchrow("SELECT * FROM b24_oauth_tokens")
        finally:
            await client.aclose()
    assert got["TITLE"] == "ООО OAuth"
    assert stored_before is not None and stored_after is not None
    assert dict(stored_after) != dict(stored_before)  # the refreshed pair replaced the old one


async def test_a_dead_refresh_token_says_reauthorisation_is_needed(db_pool):
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        client = client_from_settings(oauth_settings(srv, "not-a-refresh-token"), pool=db_pool)
        try:
            with pytest.raises(B24AuthError) as caught:
                await client.call("crm.company.list", {})
        finally:
            await client.aclose()
    assert "authori" in str(caught.value).lower()
