"""Fixtures of the deal-consumer integration tests: a sandbox portal prepared for deals, and a handler."""

from __future__ import annotations

import pytest

from bridge import mapping as mapping_mod
from bridge.b24 import client_from_settings
from b24_sandbox import SandboxConfig, serve_in_thread
from bridge.settings import Settings
from bridge.sync.deal import DealHandler
from tests.support.portal import prepare_deals

MAPPING = mapping_mod.load(None)


@pytest.fixture(scope="module")
def portal():
    """A sandbox with the stages and user fields the default mapping needs (one per test module)."""
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        prepare_deals(srv.webhook_url, MAPPING)
        yield srv


@pytest.fixture
async def deal_handler(db_pool, portal):
    """The deal consumer's handler on this test's database and the portal, without batching."""
    client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0))
    yield DealHandler(db_pool, client, MAPPING)
    await client.aclose()
