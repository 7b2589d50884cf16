"""The portal's request limit: a leaky bucket per client address (each HTTP request adds 1 to its
caller's bucket, which drains ``rate`` per second).

A request that would lift the level above ``burst`` is refused with 503 ``QUERY_LIMIT_EXCEEDED`` and not
counted.  The portal counts per portal *and* per source IP (reference §3.1): apps on one server share a
bucket, another server has its own.  The clock is injectable so tests can drain the buckets without
sleeping.
"""

from __future__ import annotations

import threading
import time

from .clock import Clock, ManualClock

__all__ = ["Clock", "LeakyBucket", "ManualClock"]

# the key of requests without a peer address (an ASGI server that does not report one, in-process tests)
NO_ADDRESS = ""


class LeakyBucket:
    """One bucket per client address.  A drained bucket is the same as none, so it is dropped: the table
    holds only the addresses heard from within the last ``burst / rate`` seconds and cannot grow without
    limit."""

    def __init__(self, rate: float, burst: int, clock: Clock | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock or time.monotonic
        self._levels: dict[str, tuple[float, float]] = {}  # address → (level, when it was last drained)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def level(self, address: str = NO_ADDRESS) -> float:
        with self._lock:
            return self._drained(address, self._clock())

    def clients(self) -> int:
        """How many addresses have a bucket that is not yet drained."""
        with self._lock:
            self._prune(self._clock())
            return len(self._levels)

    def try_acquire(self, address: str = NO_ADDRESS) -> bool:
        if not self.enabled:
            return True
        with self._lock:
            now = self._clock()
            level = self._drained(address, now)
            if level + 1 > self.burst:
                return False
            if address not in self._levels:
                self._prune(now)  # a new address: make room by forgetting the drained ones first
            self._levels[address] = (level + 1, now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._levels.clear()

    def _drained(self, address: str, now: float) -> float:
        level, last = self._levels.get(address, (0.0, now))
        return max(0.0, level - max(0.0, now - last) * self.rate)

    def _prune(self, now: float) -> None:
        for address in [a for a in self._levels if self._drained(a, now) == 0.0]:
            del self._levels[address]
