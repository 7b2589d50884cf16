"""An unlimited sandbox over real HTTP and a client for it, for tests of the client's own features
(``test_sandbox.py`` keeps its own fixture)."""

from __future__ import annotations

import pytest

from bridge.b24 import B24Client, RateLimit, RetryPolicy, WebhookAuth
from b24_sandbox import SandboxConfig, serve_in_thread


@pytest.fixture
def sandbox():
    with serve_in_thread(SandboxConfig(rate=0, burst=0), port=0) as srv:
        yield srv


def make(srv, **kwargs) -> B24Client:
    kwargs.setdefault("rate", RateLimit(1000, 1000))
    kwargs.setdefault("retry", RetryPolicy(max_retries=1, base_delay=0.05))
    return B24Client(WebhookAuth(srv.webhook_url), **kwargs)
