"""Building the client from settings, and the schema migration 0002 behind its shared state."""

from __future__ import annotations

import asyncpg
import pytest

from bridge import schema
from bridge.b24 import LocalBucket, PgBucket, WebhookAuth, client_from_settings
from bridge.errors import ConfigError
from bridge.settings import Settings
from tests.b24.fakes import WEBHOOK_CODE, WEBHOOK_URL


async def test_settings_give_a_webhook_client_with_a_process_bucket_and_nothing_connects():
    settings = Settings(
        b24_webhook_url="https://unreachable.invalid/rest/3/abcdefgh12345/",
        b24_rate_per_second=5,
        b24_rate_burst=250,
        b24_batch_linger=0,
        b24_max_retries=2,
    )
    b24 = client_from_settings(settings)
    assert isinstance(b24.auth, WebhookAuth) and isinstance(b24.bucket, LocalBucket)
    assert (b24.bucket.rate.per_second, b24.bucket.rate.burst) == (5, 250)
    assert b24.retry.max_retries == 2
    assert not b24.batching.enabled
    assert "abcdefgh12345" not in repr(b24)
    await b24.aclose()


async def test_with_a_pool_the_rate_limit_is_shared_per_portal(db_pool):
    b24 = client_from_settings(Settings(b24_webhook_url=WEBHOOK_URL), db_pool)
    assert isinstance(b24.bucket, PgBucket) and b24.bucket.portal == "portal.example.com"
    assert b24.batching.enabled
    await b24.aclose()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://portal/rest/1/x/",
        "https://portal.example.com/rest/x/",
        f"https://portal.example.com/{WEBHOOK_CODE}/",
    ],
)
def test_a_webhook_url_of_the_wrong_shape_is_refused_by_name(url):
    with pytest.raises(ConfigError, match="BRIDGE_B24_WEBHOOK_URL"):
        client_from_settings(Settings(b24_webhook_url=url))


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await conn.close()


async def test_migration_0002_adds_and_removes_the_client_state_tables(empty_db_url):
    schema.migrate(empty_db_url, "0002")
    assert {"b24_rate_buckets", "b24_oauth_tokens"} <= await _tables(empty_db_url)
    schema.downgrade(empty_db_url, "0001")
    tables = await _tables(empty_db_url)
    assert not {"b24_rate_buckets", "b24_oauth_tokens"} & tables
    assert "outbox" in tables
