"""The portal's leaky bucket, mirrored on our side so the portal never has to say 503.

Both buckets use virtual scheduling: every request *reserves* the next slot (level + 1, after draining
``per_second`` since the last update) and is told how long to wait until that slot is due — zero while
the level is within the capacity (``burst`` less a few slots kept free for jitter).  One atomic step per
request, no polling, first come first served.

* :class:`LocalBucket` — in-process, for one replica (or tests without a database).
* :class:`PgBucket` — one row per portal in ``b24_rate_buckets``, updated by a single
  ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` with PostgreSQL's clock, so any number of replicas
  share one bucket and together stay under the portal's limit.

On a ``QUERY_LIMIT_EXCEEDED`` the portal's own bucket is the truth: :meth:`saturate` pushes ours to
full, so every replica slows down, not just the one that was refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import asyncpg

from .. import edges
from ..sql import Q
from . import metrics
from .limits import RateLimit


class Bucket(Protocol):
    async def acquire(self) -> float:
        """Take the next slot; returns after it is due (the seconds waited)."""

    async def saturate(self) -> None:
        """Mark the bucket full (the portal just refused a request)."""


async def _wait(seconds: float) -> float:
    if seconds > 0:
        metrics.RATE_LIMIT_WAIT_SECONDS.inc(seconds)
        await asyncio.sleep(seconds)
    return max(seconds, 0.0)


class LocalBucket:
    def __init__(self, rate: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._level = 0.0
        self._updated = clock()

    def _drained(self) -> float:
        now = self._clock()
        level = max(self._level - max(now - self._updated, 0.0) * self.rate.per_second, 0.0)
        self._updated = now
        return level

    def reserve(self) -> float:
        """Reserve a slot now; the seconds until it is due."""
        self._level = self._drained() + 1
        return max(self._level - self.rate.capacity, 0.0) / self.rate.per_second

    async def acquire(self) -> float:
        return await _wait(self.reserve())

    async def saturate(self) -> None:
        metrics.RATE_LIMIT_SATURATIONS.inc()
        self._level = max(self._drained(), float(self.rate.burst))

    def __repr__(self) -> str:
        return f"LocalBucket({self.rate.per_second}/s, burst {self.rate.burst})"


_SHARED = "shared Bitrix24 rate limit"  # unreadable means unavailable, whatever PostgreSQL said


class PgBucket:
    def __init__(self, pool: asyncpg.Pool, portal: str, rate: RateLimit) -> None:
        self.pool = pool
        self.portal = portal
        self.rate = rate

    async def reserve(self) -> float:
        with edges.postgres(_SHARED, every_error=True):
            wait = await self.pool.fetchval(
                Q.b24_rate_take, self.portal, self.rate.per_second, float(self.rate.capacity)
            )
        return float(wait)

    async def acquire(self) -> float:
        return await _wait(await self.reserve())

    async def saturate(self) -> None:
        metrics.RATE_LIMIT_SATURATIONS.inc()
        with edges.postgres(_SHARED, every_error=True):
            await self.pool.execute(
                Q.b24_rate_saturate, self.portal, self.rate.per_second, float(self.rate.burst)
            )

    def __repr__(self) -> str:
        return f"PgBucket({self.portal!r}, {self.rate.per_second}/s, burst {self.rate.burst})"
