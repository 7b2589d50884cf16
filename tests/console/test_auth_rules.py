"""The console's credentials, sessions and form tokens (pure rules, no server)."""

from __future__ import annotations

import base64

import pytest

from bridge.console import auth
from bridge.errors import ConfigError


def test_no_users_and_no_tokens_is_refused_with_the_settings_to_set():
    with pytest.raises(ConfigError, match="BRIDGE_CONSOLE_USERS.*BRIDGE_CONSOLE_TOKENS"):
        auth.Credentials.parse([], [])


@pytest.mark.parametrize(("users", "tokens", "problem"), [
    (["anna"], [], "entry 1 is not user:password"),
    ([":secret-password"], [], "entry 1 is not user:password"),
    (["anna:short"], [], "shorter than 8"),
    (["anna:long-enough-1", "anna:long-enough-2"], [], "given twice"),
    ([], ["tiny"], "token 1 is shorter than 16"),
])
def test_malformed_credentials_name_the_setting_and_the_entry(users, tokens, problem):
    with pytest.raises(ConfigError, match=problem):
        auth.Credentials.parse(users, tokens)


def test_a_password_may_contain_colons_and_only_the_right_one_lets_in():
    creds = auth.Credentials.parse(["anna:pa:ss:word!"], [])
    assert creds.user("anna", "pa:ss:word!") == "anna"
    assert creds.user("anna", "pa:ss:word") is None
    assert creds.user("boris", "pa:ss:word!") is None


def test_a_token_is_recorded_by_a_fingerprint_never_by_itself():
    token = "script-token-0123456789"
    name = auth.Credentials.parse([], [token]).token(token)
    assert name is not None and name.startswith("token:") and token not in name
    assert auth.Credentials.parse([], [token]).token("script-token-0123456788") is None


def test_a_session_cookie_is_read_back_only_unaltered_and_unexpired():
    signer = auth.Signer(b"k" * 32, ttl=60)
    cookie = signer.session("анна", now=1000)
    user, nonce = signer.read_session(cookie, now=1030)
    assert user == "анна" and nonce
    assert signer.read_session(cookie, now=1061) is None  # expired
    name, expires, nonce, mac = cookie.split(".")
    assert signer.read_session(f"{name}.{int(expires) + 3600}.{nonce}.{mac}", now=1030) is None  # extended
    other = base64.urlsafe_b64encode(b"boris").decode().rstrip("=")
    assert signer.read_session(f"{other}.{expires}.{nonce}.{mac}", now=1030) is None  # another user
    assert auth.Signer(b"x" * 32).read_session(cookie, now=1030) is None  # another key


def test_a_form_token_belongs_to_one_session():
    signer = auth.Signer()
    assert signer.csrf_ok("session:a", signer.csrf("session:a"))
    assert not signer.csrf_ok("session:b", signer.csrf("session:a"))
    assert not signer.csrf_ok("session:a", "")


@pytest.mark.parametrize(("origin", "referer", "ok"), [
    ("http://console:9103", None, True),
    (None, "http://console:9103/dead-letters", True),
    (None, None, True),  # not a browser; browser credentials still need the form token
    ("https://evil.example", None, False),
    (None, "https://evil.example/page", False),
    ("null", None, False),  # a sandboxed frame or a file:// page
])
def test_a_post_must_come_from_the_consoles_own_origin(origin, referer, ok):
    assert auth.same_origin("console:9103", origin, referer) is ok


def test_basic_and_bearer_headers_are_told_apart():
    value = base64.b64encode("anna:pa:ss".encode()).decode()
    assert auth.basic(f"Basic {value}") == ("anna", "pa:ss")
    assert auth.basic("Bearer abc") is None and auth.basic("Basic !!!") is None
    assert auth.bearer("Bearer abc") == "abc" and auth.bearer(f"Basic {value}") is None
