"""Bitrix24 REST client: typed errors, batching, the portal's rate and time limits, webhook or OAuth.

See ``docs/b24-client.md``.  Build it with :func:`client_from_settings`; nothing connects at import.
"""

from .auth import DEFAULT_OAUTH_SERVER_URL, OAuthAuth, PgTokenStore, WebhookAuth
from .client import B24Client, is_read_only, normalize_method
from .coalescer import chain_ref
from .envelope import BatchResult, Page, items_of
from .factory import auth_from_settings, client_from_settings
from .protocol import B24
from .limits import (
    ENTERPRISE_RATE_LIMIT,
    NO_BATCHING,
    Batching,
    OperatingLimit,
    RateLimit,
    RetryPolicy,
    Timeouts,
)
from .query import Unencodable, build_command, build_query
from .ratelimit import LocalBucket, PgBucket

__all__ = [
    "DEFAULT_OAUTH_SERVER_URL",
    "ENTERPRISE_RATE_LIMIT",
    "NO_BATCHING",
    "B24",
    "B24Client",
    "BatchResult",
    "Batching",
    "LocalBucket",
    "OAuthAuth",
    "OperatingLimit",
    "Page",
    "PgBucket",
    "PgTokenStore",
    "RateLimit",
    "RetryPolicy",
    "Timeouts",
    "Unencodable",
    "WebhookAuth",
    "auth_from_settings",
    "chain_ref",
    "build_command",
    "build_query",
    "client_from_settings",
    "is_read_only",
    "items_of",
    "normalize_method",
]
