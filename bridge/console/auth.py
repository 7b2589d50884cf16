"""Who may use the console, and proof that a form was posted by the console's own page (pure: no I/O).

Three ways in, checked on every request except the login page, the static files and the probes:

* a session cookie from the login form (``BRIDGE_CONSOLE_USERS``): ``user.expires.nonce.signature``,
  signed with HMAC-SHA256 under the session key (``BRIDGE_CONSOLE_SESSION_KEY``, or random per process);
* HTTP basic auth with the same users (curl, or a browser's own prompt);
* a bearer token (``BRIDGE_CONSOLE_TOKENS``) for scripts; it is recorded as ``token:<fingerprint>``.

A browser sends cookies and basic credentials on its own, so every POST made with them must carry the
CSRF token the page put in its form (an HMAC of the session's nonce, or of the basic user) and, when the
browser says where it comes from, come from the console's own origin.  A bearer token is never sent by
a browser unasked, so a POST with one needs neither.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError

SESSION_TTL = 12 * 3600  # seconds a login lasts
SESSION_COOKIE = "b24bridge_console"


@dataclass(frozen=True)
class Principal:
    """Someone let in: ``name`` is what replay and purge record; ``csrf_subject`` what their form token
    is bound to (None: a bearer token, which needs no form token)."""

    name: str
    method: str  # "session", "basic" or "bearer"
    csrf_subject: str | None


class Credentials:
    """The users and tokens from the settings; comparisons take the same time whoever is asked about."""

    def __init__(self, users: dict[str, str], tokens: list[str]) -> None:
        if not users and not tokens:
            raise ConfigError("the console needs credentials: set BRIDGE_CONSOLE_USERS (user:password,…) "
                              "and/or BRIDGE_CONSOLE_TOKENS; it serves nothing without them")
        self._users = users
        self._tokens = tokens

    @classmethod
    def parse(cls, users: list[str], tokens: list[str]) -> Credentials:
        """``users`` as ``user:password`` entries (the password may contain ``:``)."""
        found: dict[str, str] = {}
        for n, entry in enumerate(users, 1):
            name, sep, password = entry.partition(":")
            name = name.strip()
            if not sep or not name or not password:
                raise ConfigError(f"BRIDGE_CONSOLE_USERS: entry {n} is not user:password")
            if len(password) < 8:
                raise ConfigError(f"BRIDGE_CONSOLE_USERS: the password of {name!r} is shorter than 8 characters")
            if name in found:
                raise ConfigError(f"BRIDGE_CONSOLE_USERS: user {name!r} is given twice")
            found[name] = password
        for n, token in enumerate(tokens, 1):
            if len(token) < 16:
                raise ConfigError(f"BRIDGE_CONSOLE_TOKENS: token {n} is shorter than 16 characters")
        return cls(found, list(tokens))

    @property
    def has_users(self) -> bool:
        return bool(self._users)

    def user(self, name: str, password: str) -> str | None:
        """The user's name when the password is theirs."""
        expected = self._users.get(name)
        ok = hmac.compare_digest((expected or secrets.token_hex(16)).encode(), password.encode())
        return name if ok and expected is not None else None

    def known(self, name: str) -> bool:
        return name in self._users

    def token(self, value: str) -> str | None:
        """``token:<fingerprint>`` for a configured token (the fingerprint is not the secret)."""
        for token in self._tokens:
            if hmac.compare_digest(token.encode(), value.encode()):
                return "token:" + hashlib.sha256(token.encode()).hexdigest()[:8]
        return None


class Signer:
    """Session cookies and CSRF tokens, both HMACs under one key."""

    def __init__(self, key: bytes | None = None, ttl: int = SESSION_TTL) -> None:
        self._key = key or secrets.token_bytes(32)
        self.ttl = ttl

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def session(self, user: str, now: float) -> str:
        name = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
        payload = f"{name}.{int(now) + self.ttl}.{secrets.token_hex(8)}"
        return f"{payload}.{self._mac('session|' + payload)}"

    def read_session(self, value: str, now: float) -> tuple[str, str] | None:
        """(user, nonce) of a genuine, unexpired cookie; None otherwise."""
        parts = value.split(".")
        if len(parts) != 4:
            return None
        name, expires, nonce, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"session|{name}.{expires}.{nonce}")):
            return None
        if not expires.isdigit() or int(expires) < now:
            return None
        try:
            user = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, nonce

    def csrf(self, subject: str) -> str:
        return self._mac("csrf|" + subject)

    def csrf_ok(self, subject: str, token: str) -> bool:
        return hmac.compare_digest(self.csrf(subject), token)


def basic(header: str) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic …`` value, or None when it is not one."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def same_origin(host: str | None, origin: str | None, referer: str | None) -> bool:
    """Did the browser post from this host?  Origin when it says, else Referer; a request that names
    neither (not a browser) passes, the CSRF token still being required of browser credentials."""
    claimed = origin if origin and origin != "null" else referer
    if origin == "null":
        return False
    if not claimed:
        return True
    return bool(host) and urlsplit(claimed).netloc.lower() == host.lower()
