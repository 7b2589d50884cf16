"""How requests are authorised: an inbound webhook (the code in the URL) or an OAuth app (a token in ``auth``).

OAuth tokens live in PostgreSQL (``b24_oauth_tokens``, one row per portal and app) because a refresh
token is spent by its use: the replica that refreshes holds the row lock, calls the OAuth server, and
commits the new pair before anyone uses it; a replica that finds the row changed under the lock adopts
the new access token instead of refreshing again.  Refresh happens only after the portal says
``expired_token`` (or when no access token is known yet), as the portal's docs ask.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote, urlencode, urlsplit

import asyncpg

from .. import edges
from ..errors import B24AuthError, B24ServerError, ConfigError
from ..logs import redact, register_secret, url_password
from ..sql import Q
from . import metrics
from .envelope import BAD_REPLY, NON_JSON

log = logging.getLogger("bridge.b24")

DEFAULT_OAUTH_SERVER_URL = "https://oauth.bitrix.info/oauth/token/"
TOKEN_METHOD = "oauth.token"
_WEBHOOK_PATH = re.compile(r"^/rest/(\d+)/([^/]+)/?$")


def origin_of(url: str, what: str) -> tuple[str, str, dict[str, str]]:
    """(``scheme://host[:port]``, lower-cased ``host[:port]``: the portal's key, the headers that carry a
    user and password written in the URL) of a URL from the settings.  Such a user and password (a portal
    behind basic authentication) go in an ``Authorization: Basic`` header, never in a URL the bridge shows,
    logs or keys anything by; the password and the header are registered secrets.

    Errors name the setting and the expected shape, never the URL: its path may hold the secret."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must be an http(s) URL with a host (scheme {parts.scheme!r})")
    host = parts.netloc.rpartition("@")[2]
    headers: dict[str, str] = {}
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        register_secret(url_password(url))  # (a short one would eat ordinary words: inside a URL it is hidden anyway)
        register_secret(headers["Authorization"].removeprefix("Basic "))
    return f"{parts.scheme}://{host}", host.lower(), headers


class Auth(Protocol):
    kind: str
    portal: str  # host[:port], the key of the shared rate limit
    base_url: str  # for display: never holds a secret
    headers: dict[str, str]  # sent with every request (basic authentication written in the URL)

    def target(self, method: str) -> tuple[str, str | None]:
        """(display URL, real URL or None when the display URL is the real one)."""

    async def token(self) -> str | None: ...

    def sign(self, params: Mapping[str, Any], token: str | None) -> Mapping[str, Any]: ...

    def secrets(self) -> list[str]: ...


class WebhookAuth:
    """``https://PORTAL/rest/<user>/<code>/``; the code is the secret."""

    kind = "webhook"
    can_refresh = False

    def __init__(self, webhook_url: str) -> None:
        origin, self.portal, self.headers = origin_of(webhook_url, "BRIDGE_B24_WEBHOOK_URL")
        match = _WEBHOOK_PATH.match(urlsplit(webhook_url.strip()).path)
        if not match:
            raise ConfigError(
                "BRIDGE_B24_WEBHOOK_URL must look like https://PORTAL/rest/<user id>/<webhook code>/ "
                f"(host {self.portal!r}; the path is not shown, it may hold the code)"
            )
        user, self._code = match.groups()
        register_secret(self._code)
        self.base_url = f"{origin}/rest/{user}/***/"
        self._real_base = f"{origin}/rest/{user}/{self._code}/"

    def target(self, method: str) -> tuple[str, str | None]:
        return self.base_url + method, self._real_base + method

    async def token(self) -> str | None:
        return None

    def sign(self, params: Mapping[str, Any], token: str | None) -> Mapping[str, Any]:
        return params

    def secrets(self) -> list[str]:
        return [self._code]

    def __repr__(self) -> str:
        return f"WebhookAuth({self.base_url!r})"


@dataclass(frozen=True)
class Tokens:
    access: str | None
    refresh: str
    expires_at: datetime | None = None


_STORE = "OAuth token store"  # a store that cannot be read is unavailable, whatever PostgreSQL said


class PgTokenStore:
    """The ``b24_oauth_tokens`` row of one portal and app."""

    def __init__(self, pool: asyncpg.Pool, portal: str, client_id: str) -> None:
        self.pool = pool
        self.portal = portal
        self.client_id = client_id

    async def seed(self, refresh_token: str) -> None:
        digest = hashlib.sha256(refresh_token.encode()).hexdigest()
        await self._run(
            self.pool.execute, Q.b24_oauth_seed, self.portal, self.client_id, refresh_token, digest
        )

    async def current(self) -> Tokens | None:
        row = await self._run(self.pool.fetchrow, Q.b24_oauth_get, self.portal, self.client_id)
        return None if row is None else Tokens(row["access_token"], row["refresh_token"], row["expires_at"])

    async def refresh(
        self, used: str | None, exchange: Callable[[str], Awaitable[Tokens]]
    ) -> tuple[Tokens, bool]:
        """Under the row lock: adopt a token someone else stored, or exchange the refresh token and store
        the new pair before returning it.  Returns (tokens, refreshed_here)."""
        with edges.postgres(_STORE, every_error=True):
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(Q.b24_oauth_lock, self.portal, self.client_id)
                if row is None:
                    raise B24AuthError(
                        TOKEN_METHOD,
                        "BRIDGE_NO_TOKEN",
                        "no OAuth tokens are stored for this portal and app: set BRIDGE_B24_OAUTH_REFRESH_TOKEN",
                    )
                if row["access_token"] and row["access_token"] != used:
                    return Tokens(row["access_token"], row["refresh_token"], row["expires_at"]), False
                tokens = await exchange(row["refresh_token"])
                await conn.execute(
                    Q.b24_oauth_store,
                    self.portal,
                    self.client_id,
                    tokens.access,
                    tokens.refresh,
                    tokens.expires_at,
                )
                return tokens, True

    @staticmethod
    async def _run(fn, *args):
        with edges.postgres(_STORE, every_error=True):
            return await fn(*args)


Fetch = Callable[[str, str], Awaitable[tuple[int, bytes]]]  # (display URL, real URL) → (status, body)


class OAuthAuth:
    """An OAuth 2.0 app: ``https://PORTAL/rest/<method>`` with the access token in ``auth``."""

    kind = "oauth"
    can_refresh = True

    def __init__(
        self,
        portal_url: str,
        client_id: str,
        client_secret: str,
        store: PgTokenStore,
        initial_refresh_token: str | None = None,
        server_url: str = DEFAULT_OAUTH_SERVER_URL,
    ) -> None:
        origin, self.portal, _ = origin_of(portal_url, "BRIDGE_B24_OAUTH_PORTAL_URL")
        origin_of(server_url, "BRIDGE_B24_OAUTH_SERVER_URL")
        # no basic credentials from the URL: the token requests go to the OAuth server through the same
        # client, and a portal's credentials must not go there (a webhook portal's may, WebhookAuth)
        self.headers: dict[str, str] = {}
        self.base_url = f"{origin}/rest/"
        self.client_id = client_id
        self._client_secret = client_secret
        self._initial = initial_refresh_token
        self.server_url = server_url
        self.store = store
        self._access: str | None = None
        self._loaded = False
        self._lock = asyncio.Lock()
        self._fetch: Fetch | None = None
        for secret in (client_secret, initial_refresh_token):
            register_secret(secret)
        self._known_secrets = [s for s in (client_secret, initial_refresh_token) if s]

    def bind(self, fetch: Fetch) -> None:
        """Give the auth the HTTP edge it refreshes through (the client does this)."""
        self._fetch = fetch

    def target(self, method: str) -> tuple[str, str | None]:
        return self.base_url + method, None

    def sign(self, params: Mapping[str, Any], token: str | None) -> Mapping[str, Any]:
        return {**params, "auth": token}

    def secrets(self) -> list[str]:
        return [*self._known_secrets, *([self._access] if self._access else [])]

    def _remember(self, tokens: Tokens) -> None:
        for secret in (tokens.access, tokens.refresh):
            if secret:
                register_secret(secret)
                self._known_secrets.append(secret)
        self._known_secrets = self._known_secrets[-8:]
        self._access = tokens.access

    async def token(self) -> str | None:
        if self._access is None:
            async with self._lock:
                if not self._loaded:
                    if self._initial:
                        await self.store.seed(self._initial)
                    current = await self.store.current()
                    if current is not None:
                        self._remember(current)
                    self._loaded = True
            if self._access is None:
                return await self.refresh(None)
        return self._access

    async def refresh(self, used: str | None) -> str:
        """Get a fresh access token after ``used`` expired (None: no token known yet)."""
        async with self._lock:
            if self._access and self._access != used:
                return self._access  # another task of this process refreshed meanwhile
            try:
                tokens, refreshed = await self.store.refresh(used, self._exchange)
            except Exception:
                metrics.OAUTH_REFRESHES.labels("failed").inc()
                raise
            metrics.OAUTH_REFRESHES.labels("refreshed" if refreshed else "adopted").inc()
            self._remember(tokens)
            log.info(
                "Bitrix24 OAuth access token "
                + ("refreshed" if refreshed else "adopted from another replica"),
                extra={"action": "b24.oauth_refresh", "portal": self.portal, "refreshed": refreshed},
            )
            assert tokens.access is not None
            return tokens.access

    async def _exchange(self, refresh_token: str) -> Tokens:
        if self._fetch is None:
            raise RuntimeError("OAuthAuth is not bound to a client")
        query = urlencode(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "refresh_token": refresh_token,
            }
        )
        status, content = await self._fetch(self.server_url, f"{self.server_url}?{query}")
        return parse_token_reply(status, content)

    def __repr__(self) -> str:
        return f"OAuthAuth({self.base_url!r}, client_id={self.client_id!r})"


def parse_token_reply(status: int, content: bytes) -> Tokens:
    """The OAuth server's answer to ``grant_type=refresh_token`` → tokens, or a typed error."""
    try:
        payload = json.loads(content)
    except ValueError:
        raise B24ServerError(
            TOKEN_METHOD, NON_JSON, f"non-JSON reply from the OAuth server ({len(content)} bytes)", status
        ) from None
    if not isinstance(payload, dict):
        raise B24ServerError(TOKEN_METHOD, BAD_REPLY, "OAuth server reply is not an object", status)
    if "error" in payload:
        code = str(payload.get("error") or "")
        description = redact(str(payload.get("error_description") or ""))
        if code == "invalid_grant":
            raise B24AuthError(
                TOKEN_METHOD,
                code,
                "the refresh token was refused (expired after 180 days, revoked, or already used): "
                "re-authorisation is needed — install/open the app again and put the new refresh token in "
                f"BRIDGE_B24_OAUTH_REFRESH_TOKEN ({description})".rstrip(" ()"),
                status,
            )
        if status >= 500:
            raise B24ServerError(TOKEN_METHOD, code, description, status)
        raise B24AuthError(TOKEN_METHOD, code, description, status)
    access, refresh = payload.get("access_token"), payload.get("refresh_token")
    if (
        status >= 400
        or not isinstance(access, str)
        or not isinstance(refresh, str)
        or not access
        or not refresh
    ):
        cls = B24ServerError if status >= 500 or status < 400 else B24AuthError
        raise cls(TOKEN_METHOD, BAD_REPLY, "OAuth server reply lacks access_token/refresh_token", status)
    expires = payload.get("expires")
    expires_at = None
    if isinstance(expires, (int, float)) and not isinstance(expires, bool):
        expires_at = datetime.fromtimestamp(expires, UTC)
    return Tokens(access, refresh, expires_at)
