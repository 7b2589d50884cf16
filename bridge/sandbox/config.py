"""Sandbox settings as one frozen value object with named defaults (the sandbox reads no environment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone

DEFAULT_WEBHOOK_USER = 1
DEFAULT_WEBHOOK_CODE = "sandbox0webhook0code"
DEFAULT_RATE = 2.0
DEFAULT_BURST = 50
DEFAULT_DOMAIN = "sandbox.bitrix24.ru"
DEFAULT_UTC_OFFSET_HOURS = 3
DEFAULT_PAGE_SIZE = 50
DEFAULT_BATCH_LIMIT = 50


@dataclass(frozen=True)
class SandboxConfig:
    """What makes one sandbox portal differ from another.

    ``rate`` is the leaky bucket's drain per second and ``burst`` its size; either one set to 0 turns the
    limit off.  ``utc_offset_hours`` is the portal's time zone, used in every date it answers.
    """

    webhook_user: int = DEFAULT_WEBHOOK_USER
    webhook_code: str = DEFAULT_WEBHOOK_CODE
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    domain: str = DEFAULT_DOMAIN
    utc_offset_hours: int = DEFAULT_UTC_OFFSET_HOURS
    page_size: int = DEFAULT_PAGE_SIZE
    batch_limit: int = DEFAULT_BATCH_LIMIT

    @property
    def rate_limited(self) -> bool:
        return self.rate > 0 and self.burst > 0

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))

    def webhook_path(self) -> str:
        return f"/rest/{self.webhook_user}/{self.webhook_code}/"
