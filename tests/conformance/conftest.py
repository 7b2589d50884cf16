"""Third-party Bitrix24 clients pointed at the sandbox: what a real portal makes them do, the sandbox must too.

The clients are used as published (b24pysdk and fast_bitrix24 from the dev extras), with two test-only
substitutions that change *when* things happen, never *what*:

- their back-off sleeps are replaced by a recorder that advances the sandbox's manual clock by the same
  amount, so a client waiting out a full leaky bucket really lets it drain, without the test sleeping;
- b24pysdk only speaks ``https://{domain}``: the sandbox serves HTTPS with the self-signed certificate in
  ``tls/`` (CN and SAN 127.0.0.1/localhost, valid for a century, test use only), trusted through
  ``REQUESTS_CA_BUNDLE``.

fast_bitrix24's own client-side throttling stays at its defaults (a pool of 50 requests, then 2 per
second) in most tests: they send fewer than 50 requests, so it never waits, and the portal's limits are
reached by shrinking the *sandbox's* bucket instead.  The one test of that throttle (``fast_throttle``)
runs it on the sandbox's manual clock too, with a pool as small as the sandbox's bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from b24_sandbox import ManualClock, RunningSandbox, SandboxConfig, serve_in_thread

TLS = Path(__file__).parent / "tls"
CERT, KEY = str(TLS / "cert.pem"), str(TLS / "key.pem")
WEBHOOK_TOKEN = "1/sandbox0webhook0code"


class SleepRecorder:
    """Stands in for a client's sleep: records the delay and moves the sandbox clock forward by it."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(round(seconds, 3))
        self.clock.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sleeps(clock: ManualClock) -> SleepRecorder:
    return SleepRecorder(clock)


@pytest.fixture
def serve(clock: ManualClock) -> Iterator[Any]:
    """``serve(tls=False, **config)`` → a running sandbox on the test's manual clock (no rate limit unless set)."""
    with contextlib.ExitStack() as stack:
        def start(*, tls: bool = False, **config: Any) -> RunningSandbox:
            tls_files = {"ssl_certfile": CERT, "ssl_keyfile": KEY} if tls else {}
            return stack.enter_context(serve_in_thread(SandboxConfig(**{"rate": 0, **config}), clock=clock,
                                                       **tls_files))

        yield start


@pytest.fixture
def b24pysdk_env(monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder) -> SleepRecorder:
    """Trust the sandbox's certificate and record (instead of sleeping) b24pysdk's 503 back-off."""
    from b24pysdk.api.requesters import _base_requester

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", CERT)
    monkeypatch.setattr(_base_requester, "time", types.SimpleNamespace(sleep=sleeps))
    return sleeps


@pytest.fixture
def fast_throttle(monkeypatch: pytest.MonkeyPatch, clock: ManualClock, sleeps: SleepRecorder) -> SleepRecorder:
    """Run fast_bitrix24's client-side throttle on the sandbox's manual clock (its waits advance it)."""
    from fast_bitrix24 import throttle

    monkeypatch.setattr(throttle, "time", types.SimpleNamespace(monotonic=clock))
    monkeypatch.setattr(throttle, "asyncio", types.SimpleNamespace(sleep=sleeps.async_sleep))
    return sleeps


@pytest.fixture
def fast_env(monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder) -> SleepRecorder:
    """Record (instead of sleeping) fast_bitrix24's retry back-off."""
    from fast_bitrix24 import srh

    monkeypatch.setattr(srh, "sleep", sleeps.async_sleep)
    return sleeps
