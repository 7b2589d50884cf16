"""Build the Bitrix24 client from :class:`~bridge.settings.Settings` (the composition root calls this)."""

from __future__ import annotations

import asyncpg
import httpx

from ..errors import ConfigError
from ..settings import Settings
from .auth import Auth, OAuthAuth, PgTokenStore, WebhookAuth, origin_of
from .client import B24Client
from .limits import DEFAULT_BULK_LINGER, DEFAULT_CONNECT_TIMEOUT, Batching, RateLimit, RetryPolicy, Timeouts
from .ratelimit import Bucket, LocalBucket, PgBucket


def auth_from_settings(settings: Settings, pool: asyncpg.Pool | None = None) -> Auth:
    """Webhook mode, or OAuth app mode when ``BRIDGE_B24_OAUTH_CLIENT_ID`` is set."""
    if not settings.b24_oauth_client_id:
        return WebhookAuth(settings.b24_webhook_url.get_secret_value())
    missing = [
        name
        for name, value in (
            ("BRIDGE_B24_OAUTH_CLIENT_SECRET", settings.b24_oauth_client_secret),
            ("BRIDGE_B24_OAUTH_PORTAL_URL", settings.b24_oauth_portal_url),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"OAuth mode (BRIDGE_B24_OAUTH_CLIENT_ID is set) also needs {', '.join(missing)}")
    if pool is None:
        raise ConfigError(
            "OAuth mode keeps its tokens in PostgreSQL: build the Bitrix24 client with the pool"
        )
    assert settings.b24_oauth_client_secret is not None and settings.b24_oauth_portal_url is not None
    refresh = (
        settings.b24_oauth_refresh_token.get_secret_value() if settings.b24_oauth_refresh_token else None
    )
    _, portal, _ = origin_of(settings.b24_oauth_portal_url, "BRIDGE_B24_OAUTH_PORTAL_URL")
    return OAuthAuth(
        settings.b24_oauth_portal_url,
        settings.b24_oauth_client_id,
        settings.b24_oauth_client_secret.get_secret_value(),
        PgTokenStore(pool, portal, settings.b24_oauth_client_id),
        initial_refresh_token=refresh,
        server_url=settings.b24_oauth_server_url,
    )


def client_from_settings(
    settings: Settings, pool: asyncpg.Pool | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> B24Client:
    """The client for the configured portal.  With a pool, the rate limit is shared by every replica
    (``b24_rate_buckets``); without one it is per process.  Nothing connects until the first call."""
    auth = auth_from_settings(settings, pool)
    rate = RateLimit(settings.b24_rate_per_second, settings.b24_rate_burst)
    bucket: Bucket = PgBucket(pool, auth.portal, rate) if pool is not None else LocalBucket(rate)
    return B24Client(
        auth,
        timeouts=Timeouts(
            connect=min(DEFAULT_CONNECT_TIMEOUT, settings.b24_timeout), read=settings.b24_timeout
        ),
        retry=RetryPolicy(max_retries=settings.b24_max_retries),
        rate=rate,
        # bulk waits for company at most half the time between two requests: never a slot lost to it
        batching=Batching(linger=settings.b24_batch_linger or None,
                          bulk_linger=min(DEFAULT_BULK_LINGER, 0.5 / rate.per_second) if rate.per_second else 0.0),
        bucket=bucket,
        transport=transport,
        http_client=settings.b24_http_client,
        proxy=settings.b24_proxy_url.get_secret_value() if settings.b24_proxy_url else None,
    )
