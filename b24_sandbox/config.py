"""Sandbox settings as one frozen value object with named defaults (the sandbox reads no environment)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone

DEFAULT_WEBHOOK_USER = 1
DEFAULT_WEBHOOK_CODE = "sandbox0webhook0code"
DEFAULT_RATE = 2.0
DEFAULT_BURST = 50
DEFAULT_DOMAIN = "sandbox.bitrix24.ru"
DEFAULT_UTC_OFFSET_HOURS = 3
DEFAULT_PAGE_SIZE = 50
DEFAULT_BATCH_LIMIT = 50
DEFAULT_OPERATING_LIMIT = 480.0
DEFAULT_OAUTH_CLIENT_ID = "local.sandbox0000000001.00000001"
DEFAULT_OAUTH_CLIENT_SECRET = "sandbox0client0secret"
DEFAULT_ACCESS_TOKEN_TTL = 3600
DEFAULT_REFRESH_TOKEN_TTL = 180 * 24 * 3600
DEFAULT_OAUTH_SCOPE = "crm,catalog,im,user,task"
DEFAULT_WEBHOOK_SCOPE = "crm,user,im,catalog"  # what the bridge's README has an admin tick
DEFAULT_SAVE_DELAY = 0.5


@dataclass(frozen=True)
class SandboxConfig:
    """What makes one sandbox portal differ from another.

    ``rate`` is the leaky bucket's drain per second and ``burst`` its size (one bucket per client address);
    either one set to 0 turns the limit off.  ``utc_offset_hours`` is the portal's time zone, used in every
    date it answers.

    ``operating_limit`` is the ``OPERATION_TIME_LIMIT`` budget in seconds per method per caller per ten
    minutes (0 = off).  A call costs ``operating_costs[method]`` if set, else ``operating_cost`` if set,
    else the time it really took (microseconds, so the limit is then out of reach): tests and demos set a
    cost to reach the limit in a few calls.

    ``extra_webhooks`` are further ``(user_id, code)`` pairs the portal accepts besides the main one.
    ``webhook_scope`` (comma-separated) is what every webhook may call and ``oauth_scope`` what the app's
    tokens may: a method of another scope answers 401 ``insufficient_scope`` (``batch`` needs none).
    ``oauth_client_id``/``oauth_client_secret`` describe the one installed OAuth app; access tokens live
    ``access_token_ttl`` seconds, refresh tokens ``refresh_token_ttl``.  ``state_file`` makes the portal
    survive restarts (saved ``save_delay`` seconds after a change, and at shutdown).  ``fault_seed`` makes
    random fault injection repeatable.
    """

    webhook_user: int = DEFAULT_WEBHOOK_USER
    webhook_code: str = DEFAULT_WEBHOOK_CODE
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    domain: str = DEFAULT_DOMAIN
    utc_offset_hours: int = DEFAULT_UTC_OFFSET_HOURS
    page_size: int = DEFAULT_PAGE_SIZE
    batch_limit: int = DEFAULT_BATCH_LIMIT
    extra_webhooks: tuple[tuple[int, str], ...] = ()
    webhook_scope: str = DEFAULT_WEBHOOK_SCOPE
    operating_limit: float = DEFAULT_OPERATING_LIMIT
    operating_cost: float | None = None
    operating_costs: Mapping[str, float] = field(default_factory=dict)
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: str = DEFAULT_OAUTH_CLIENT_SECRET
    oauth_scope: str = DEFAULT_OAUTH_SCOPE
    access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL
    refresh_token_ttl: int = DEFAULT_REFRESH_TOKEN_TTL
    state_file: str | None = None
    save_delay: float = DEFAULT_SAVE_DELAY
    fault_seed: int | None = None

    @property
    def rate_limited(self) -> bool:
        return self.rate > 0 and self.burst > 0

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))

    @property
    def member_id(self) -> str:
        """The portal's stable id as OAuth replies show it (32 hex digits derived from the domain)."""
        return hashlib.md5(self.domain.encode()).hexdigest()

    def webhook_path(self) -> str:
        return f"/rest/{self.webhook_user}/{self.webhook_code}/"

    def webhooks(self) -> tuple[tuple[int, str], ...]:
        return ((self.webhook_user, self.webhook_code), *self.extra_webhooks)

    def cost_of(self, method: str, measured: float) -> float:
        if method in self.operating_costs:
            return float(self.operating_costs[method])
        if self.operating_cost is not None:
            return float(self.operating_cost)
        return measured
