"""The portal's resource limit, ``OPERATION_TIME_LIMIT``: run time per method per app or webhook.

For each (caller, method) the portal sums execution time in ten one-minute buckets, a ten-minute window.
``time.operating`` in every reply is that running sum and ``time.operating_reset_at`` the moment the oldest
bucket drops out (its first call + 10 minutes).  The check runs *before* a call: the call that pushes the
sum over the limit still finishes, the next one to that method by that caller gets HTTP 429 until enough
buckets age out.  Other methods and other callers are not affected.  The outer ``batch`` is not counted;
each command inside it counts under its own method.

A sandbox call takes microseconds, so the cost of a call is configurable (see ``SandboxConfig``): per
method, a default per call, or — when neither is set — the measured time.  Pure bookkeeping: the caller
passes the time in, so tests drive it with a manual clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

WINDOW = 600.0
BUCKETS = 10
BUCKET_WIDTH = WINDOW / BUCKETS


@dataclass
class Bucket:
    minute: int
    first_call: float
    total: float


@dataclass(frozen=True)
class Usage:
    """What a reply's ``time`` block shows: the running sum and when the oldest bucket drops out."""

    operating: float
    reset_at: int


class OperatingLimiter:
    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._buckets: dict[tuple[str, str], list[Bucket]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def blocked(self, caller: str, method: str, now: float) -> bool:
        """True when the sum for this caller and method is already over the limit (checked before a call)."""
        if not self.enabled:
            return False
        with self._lock:
            return self._sum(self._live(caller, method, now)) > self.limit

    def record(self, caller: str, method: str, now: float, cost: float) -> Usage:
        """Add one call's cost to the bucket of the current minute and return the usage after it."""
        with self._lock:
            buckets = self._live(caller, method, now)
            minute = int(now // BUCKET_WIDTH)
            if buckets and buckets[-1].minute == minute:
                buckets[-1].total += cost
            else:
                buckets.append(Bucket(minute, now, cost))
            return self._usage(buckets, now)

    def usage(self, caller: str, method: str, now: float) -> Usage:
        with self._lock:
            return self._usage(self._live(caller, method, now), now)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def snapshot(self, now: float) -> dict[str, dict[str, float]]:
        """Running sums by caller and method (only those still inside the window), for ``/_sandbox/stats``."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            for (caller, method) in list(self._buckets):
                total = self._sum(self._live(caller, method, now))
                if total:
                    out.setdefault(caller, {})[method] = round(total, 6)
        return out

    def _live(self, caller: str, method: str, now: float) -> list[Bucket]:
        buckets = self._buckets.setdefault((caller, method), [])
        while buckets and buckets[0].first_call + WINDOW <= now:
            buckets.pop(0)
        return buckets

    @staticmethod
    def _sum(buckets: list[Bucket]) -> float:
        return sum(b.total for b in buckets)

    def _usage(self, buckets: list[Bucket], now: float) -> Usage:
        first = buckets[0].first_call if buckets else now
        return Usage(self._sum(buckets), int(first + WINDOW))
