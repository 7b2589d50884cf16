"""OAuth 2.0 as a Bitrix24 app sees it: the token server (``oauth.bitrix.info``) and token checks on REST calls.

The sandbox plays both parts.  ``/oauth/token/`` answers ``grant_type=refresh_token`` (and
``authorization_code``) the way the OAuth server does: a new access token *and* a new refresh token each
time, the old refresh token dead from then on.  REST calls in app mode (``/rest/<method>``) carry the access
token in ``auth``, ``access_token`` or ``Authorization: Bearer``; an expired one answers 401
``expired_token``, an unknown one 401 ``invalid_token``, none at all 401 ``NO_AUTH_FOUND``.  Expiry follows
the sandbox clock, so tests move time instead of waiting an hour.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .clock import Clock
from .config import SandboxConfig
from .errors import ApiError, no_auth

CODE_TTL = 30


class OAuthError(Exception):
    """An error of the OAuth server itself: ``{"error", "error_description"}`` with HTTP 400."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


def expired_token() -> ApiError:
    return ApiError("expired_token", "The access token provided has expired", 401)


def invalid_token() -> ApiError:
    return ApiError("invalid_token", "Unable to get application by token", 401)


@dataclass
class Token:
    value: str
    kind: str  # "access", "refresh" or "code"
    client_id: str
    user_id: int
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class AppCaller:
    """Who an access token speaks for."""

    client_id: str
    user_id: int


class OAuthServer:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.apps: dict[str, str] = {config.oauth_client_id: config.oauth_client_secret}
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        self.on_change: Any = None

    # ---- issuing -----------------------------------------------------------------------------------

    def add_app(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self.apps[client_id] = client_secret

    def mint(self, *, client_id: str | None = None, user_id: int | None = None,
             base_url: str = "") -> dict[str, Any]:
        """Issue a fresh access + refresh token pair as if the app had just been authorized (tests, demos)."""
        client_id = client_id or self.config.oauth_client_id
        if client_id not in self.apps:
            raise OAuthError("invalid_client", "Invalid client credentials")
        return self._issue(client_id, user_id or self.config.webhook_user, base_url)

    def mint_code(self, *, client_id: str | None = None, user_id: int | None = None) -> str:
        """A one-time authorization code (valid 30 s), as the portal hands to the app's redirect URL."""
        client_id = client_id or self.config.oauth_client_id
        value = secrets.token_hex(16)
        with self._lock:
            self._tokens[value] = Token(value, "code", client_id, user_id or self.config.webhook_user,
                                        self.clock() + CODE_TTL)
        return value

    def token_endpoint(self, params: dict[str, Any], base_url: str) -> dict[str, Any]:
        """``/oauth/token/``: exchange a refresh token or an authorization code; raise :class:`OAuthError`."""
        grant = str(params.get("grant_type") or "")
        client_id = str(params.get("client_id") or "")
        secret = str(params.get("client_secret") or "")
        if grant not in ("refresh_token", "authorization_code"):
            raise OAuthError("invalid_request", "Invalid grant_type parameter or parameter missing")
        if not client_id or self.apps.get(client_id) != secret:
            raise OAuthError("invalid_client", "Invalid client credentials")
        field, kind = ("refresh_token", "refresh") if grant == "refresh_token" else ("code", "code")
        value = str(params.get(field) or "")
        if not value:
            raise OAuthError("invalid_request", f"No \"{field}\" parameter found")
        with self._lock:
            token = self._tokens.get(value)
            if token is None or token.kind != kind or token.client_id != client_id or token.used:
                raise OAuthError("invalid_grant", "Invalid authorization code" if kind == "code"
                                 else "Invalid refresh token")
            if token.expires_at <= self.clock():
                raise OAuthError("invalid_grant", "The authorization code has expired" if kind == "code"
                                 else "Refresh token has expired")
            token.used = True
        return self._issue(client_id, token.user_id, base_url)

    # ---- checking ----------------------------------------------------------------------------------

    def authenticate(self, value: str | None) -> AppCaller:
        """The app and user behind an access token, or the 401 the portal answers."""
        if not value:
            raise no_auth()
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.kind != "access":
            raise invalid_token()
        if token.expires_at <= self.clock():
            raise expired_token()
        return AppCaller(token.client_id, token.user_id)

    def expire_access_tokens(self) -> None:
        """Make every access token expired now (a test shortcut for "an hour has passed")."""
        now = self.clock()
        with self._lock:
            for token in self._tokens.values():
                if token.kind == "access":
                    token.expires_at = min(token.expires_at, now)

    # ---- persistence ---------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            return {"apps": dict(self.apps),
                    "tokens": [asdict(t) for t in self._tokens.values() if not t.used and t.expires_at > now]}

    def load(self, data: dict[str, Any]) -> None:
        with self._lock:
            self.apps.update(data.get("apps") or {})
            self._tokens = {t["value"]: Token(**t) for t in data.get("tokens") or []}

    def counts(self) -> dict[str, int]:
        now = self.clock()
        with self._lock:
            live = [t for t in self._tokens.values() if not t.used and t.expires_at > now]
        return {kind: sum(1 for t in live if t.kind == kind) for kind in ("access", "refresh")}

    # ---- internals ---------------------------------------------------------------------------------

    def _issue(self, client_id: str, user_id: int, base_url: str) -> dict[str, Any]:
        now = self.clock()
        access = Token(secrets.token_hex(16), "access", client_id, user_id, now + self.config.access_token_ttl)
        refresh = Token(secrets.token_hex(16), "refresh", client_id, user_id, now + self.config.refresh_token_ttl)
        with self._lock:
            self._prune(now)
            self._tokens[access.value] = access
            self._tokens[refresh.value] = refresh
        if self.on_change is not None:
            self.on_change()
        host = base_url.split("://", 1)[-1].rstrip("/")
        rest = base_url.rstrip("/") + "/rest/"
        # Key order as the OAuth server sends it (b24-rest-docs issue #285).
        return {
            "access_token": access.value,
            "expires": int(access.expires_at),
            "expires_in": self.config.access_token_ttl,
            "scope": self.config.oauth_scope,
            "domain": host or self.config.domain,
            "server_endpoint": rest,
            "status": "L",
            "client_endpoint": rest,
            "member_id": self.config.member_id,
            "user_id": user_id,
            "refresh_token": refresh.value,
        }

    def _prune(self, now: float) -> None:
        for value in [v for v, t in self._tokens.items() if t.used or t.expires_at <= now - 86400]:
            del self._tokens[value]
