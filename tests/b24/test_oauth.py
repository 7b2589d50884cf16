"""OAuth app mode: token in ``auth``, refresh once on ``expired_token``, tokens kept in real PostgreSQL
before use, one refresh for all replicas.  The OAuth server and the portal are MockTransport fakes."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import httpx
import pytest

from bridge.b24 import B24Client, OAuthAuth, PgTokenStore, RateLimit, RetryPolicy
from bridge.b24.limits import NO_BATCHING
from bridge.errors import B24AuthError, B24TokenExpired, ConfigError

PORTAL = "https://portal.example.com/"
SERVER = "https://oauth.example.com/oauth/token/"
CLIENT_ID = "local.app.1"
CLIENT_SECRET = "cl13nt-s3cr3t-value"


class OAuthWorld:
    """The OAuth server (single-use refresh tokens) and a portal that accepts only the newest access token."""

    def __init__(self, pool, initial_refresh: str = "R0") -> None:
        self.pool = pool
        self.valid_refresh = initial_refresh
        self.access: str | None = None
        self.issued = 0
        self.token_requests: list[dict] = []
        self.portal_calls: list[str | None] = []
        self.stored_at_use: list[str | None] = []

    def expire(self) -> None:
        self.access = None  # every token given so far is now expired

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "oauth.example.com":
            return self._token(request)
        token = json.loads(request.read()).get("auth")
        self.portal_calls.append(token)
        self.stored_at_use.append(await self.pool.fetchval("SELECT access_token FROM b24_oauth_tokens"))
        if token is None or token != self.access:
            return httpx.Response(
                401,
                json={"error": "expired_token", "error_description": "The access token provided has expired"},
            )
        return httpx.Response(200, json={"result": {"ID": "1"}})

    def _token(self, request: httpx.Request) -> httpx.Response:
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        self.token_requests.append(query)
        if query.get("client_secret") != CLIENT_SECRET or query.get("grant_type") != "refresh_token":
            return httpx.Response(401, json={"error": "invalid_client"})
        if query.get("refresh_token") != self.valid_refresh:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Invalid grant"})
        self.issued += 1
        self.access, self.valid_refresh = f"A{self.issued}-access-token", f"R{self.issued}-refresh-token"
        return httpx.Response(
            200,
            json={
                "access_token": self.access,
                "refresh_token": self.valid_refresh,
                "expires": 1_900_000_000,
                "expires_in": 3600,
                "domain": "portal.example.com",
            },
        )


def oauth_client(world: OAuthWorld, pool, refresh: str | None = "R0") -> B24Client:
    auth = OAuthAuth(
        PORTAL,
        CLIENT_ID,
        CLIENT_SECRET,
        PgTokenStore(pool, "portal.example.com", CLIENT_ID),
        initial_refresh_token=refresh,
        server_url=SERVER,
    )
    return B24Client(
        auth,
        transport=httpx.MockTransport(world.handle),
        batching=NO_BATCHING,
        retry=RetryPolicy(max_retries=0),
        rate=RateLimit(1000, 1000),
    )


async def test_the_first_call_gets_a_token_stores_it_then_uses_it(db_pool):
    world = OAuthWorld(db_pool)
    async with oauth_client(world, db_pool) as b24:
        assert await b24.call("crm.company.get", {"id": 1}) == {"ID": "1"}
    assert len(world.token_requests) == 1
    assert world.token_requests[0]["client_id"] == CLIENT_ID
    assert world.portal_calls == ["A1-access-token"]
    assert world.stored_at_use == ["A1-access-token"]  # in PostgreSQL before the portal saw it
    row = await db_pool.fetchrow("SELECT access_token, refresh_token, expires_at FROM b24_oauth_tokens")
    assert (row["access_token"], row["refresh_token"]) == ("A1-access-token", "R1-refresh-token")
    assert row["expires_at"] is not None


async def test_calls_go_to_the_rest_root_with_the_token_in_auth(db_pool):
    world = OAuthWorld(db_pool)
    seen = []

    async def spy(request):
        seen.append(str(request.url))
        return await world.handle(request)

    auth = OAuthAuth(
        PORTAL,
        CLIENT_ID,
        CLIENT_SECRET,
        PgTokenStore(db_pool, "portal.example.com", CLIENT_ID),
        initial_refresh_token="R0",
        server_url=SERVER,
    )
    async with B24Client(auth, transport=httpx.MockTransport(spy), batching=NO_BATCHING) as b24:
        await b24.call("crm.company.get", {"id": 1})
    assert seen[-1] == "https://portal.example.com/rest/crm.company.get"


async def test_an_expired_token_is_refreshed_once_and_the_call_repeated(db_pool):
    world = OAuthWorld(db_pool)
    async with oauth_client(world, db_pool) as b24:
        await b24.call("crm.company.get", {"id": 1})
        world.expire()
        assert await b24.call("crm.company.get", {"id": 1}) == {"ID": "1"}
    assert world.portal_calls == ["A1-access-token", "A1-access-token", "A2-access-token"]
    assert [q["refresh_token"] for q in world.token_requests] == ["R0", "R1-refresh-token"]


async def test_a_token_that_stays_expired_after_one_refresh_is_an_error(db_pool):
    world = OAuthWorld(db_pool)

    async def always_expired(request):
        if request.url.host == "oauth.example.com":
            return world._token(request)
        return httpx.Response(401, json={"error": "expired_token"})

    auth = OAuthAuth(
        PORTAL,
        CLIENT_ID,
        CLIENT_SECRET,
        PgTokenStore(db_pool, "portal.example.com", CLIENT_ID),
        initial_refresh_token="R0",
        server_url=SERVER,
    )
    async with B24Client(auth, transport=httpx.MockTransport(always_expired), batching=NO_BATCHING) as b24:
        with pytest.raises(B24TokenExpired):
            await b24.call("crm.company.get", {"id": 1})
    assert len(world.token_requests) == 2  # the first token, then exactly one refresh


async def test_replicas_refresh_once_and_the_others_adopt_the_stored_token(db_pool):
    world = OAuthWorld(db_pool)
    replicas = [oauth_client(world, db_pool) for _ in range(3)]
    await asyncio.gather(*(r.call("crm.company.get", {"id": 1}) for r in replicas))
    assert len(world.token_requests) == 1  # one got the first token, the others adopted it
    world.expire()
    results = await asyncio.gather(
        *(r.call("crm.company.get", {"id": 1}) for r in replicas for _ in range(4))
    )
    assert results == [{"ID": "1"}] * 12
    assert len(world.token_requests) == 2  # a second refresh would have burned R1 and got invalid_grant
    for r in replicas:
        await r.aclose()


async def test_a_dead_refresh_token_asks_for_re_authorisation(db_pool):
    world = OAuthWorld(db_pool, initial_refresh="something-else")
    async with oauth_client(world, db_pool) as b24:
        with pytest.raises(B24AuthError) as info:
            await b24.call("crm.company.get", {"id": 1})
    assert info.value.code == "invalid_grant"
    assert "re-authorisation is needed" in str(info.value)
    assert "BRIDGE_B24_OAUTH_REFRESH_TOKEN" in str(info.value)
    assert world.portal_calls == []


async def test_a_new_refresh_token_in_the_settings_replaces_the_stored_one(db_pool):
    store = PgTokenStore(db_pool, "portal.example.com", CLIENT_ID)
    await store.seed("R0")
    await db_pool.execute("UPDATE b24_oauth_tokens SET access_token = 'A5', refresh_token = 'R5'")
    await store.seed("R0")  # a restart with the same settings keeps the newer, refreshed pair
    assert (await store.current()).refresh == "R5"
    await store.seed("R-new")  # the operator re-authorised the app
    current = await store.current()
    assert (current.access, current.refresh) == (None, "R-new")


async def test_no_secret_of_the_app_shows_in_errors_or_reprs(db_pool, caplog):
    world = OAuthWorld(db_pool)
    b24 = oauth_client(world, db_pool)
    async with b24:
        await b24.call("crm.company.get", {"id": 1})
        world.valid_refresh = "nope"
        world.expire()
        with pytest.raises(B24AuthError) as info:
            await b24.call("crm.company.get", {"id": 1})
    texts = [str(info.value), repr(b24), *(r.getMessage() for r in caplog.records)]
    for secret in (CLIENT_SECRET, "A1-access-token", "R1-refresh-token"):
        assert not any(secret in text for text in texts)


def test_oauth_mode_without_a_database_pool_is_refused():
    from bridge.b24 import client_from_settings
    from bridge.settings import Settings

    settings = Settings(
        b24_oauth_client_id=CLIENT_ID,
        b24_oauth_client_secret=CLIENT_SECRET,
        b24_oauth_portal_url=PORTAL,
        b24_oauth_refresh_token="R0",
    )
    with pytest.raises(ConfigError, match="PostgreSQL"):
        client_from_settings(settings)
    with pytest.raises(ConfigError, match="BRIDGE_B24_OAUTH_CLIENT_SECRET"):
        client_from_settings(Settings(b24_oauth_client_id=CLIENT_ID, b24_oauth_portal_url=PORTAL))
