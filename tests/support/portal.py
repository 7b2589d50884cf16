"""Prepare a sandbox portal with `b24bridge portal setup` itself (stages and deal user fields of the
mapping), for tests that exercise deals."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from bridge.b24 import client_from_settings
from bridge.mapping import Mapping, default_text
from bridge.portal.service import setup
from bridge.settings import Settings


async def prepare_deals_async(webhook_url: str, mapping: Mapping) -> Mapping:
    client = client_from_settings(Settings(b24_webhook_url=SecretStr(webhook_url), b24_batch_linger=0))
    try:
        report = await setup(client, mapping, default_text(), "test mapping")
    finally:
        await client.aclose()
    assert report.ok, report.after.problems
    return report.mapping


def prepare_deals(webhook_url: str, mapping: Mapping) -> Mapping:
    return asyncio.run(prepare_deals_async(webhook_url, mapping))
