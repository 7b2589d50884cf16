"""The portal's request limit: a leaky bucket (each HTTP request adds 1, it drains ``rate`` per second).

A request that would lift the level above ``burst`` is refused with 503 ``QUERY_LIMIT_EXCEEDED`` and not
counted.  The clock is injectable so tests can drain the bucket without sleeping.
"""

from __future__ import annotations

import threading
import time

from .clock import Clock, ManualClock

__all__ = ["Clock", "LeakyBucket", "ManualClock"]


class LeakyBucket:
    def __init__(self, rate: float, burst: int, clock: Clock | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock or time.monotonic
        self._level = 0.0
        self._last = self._clock()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def level(self) -> float:
        with self._lock:
            self._drain()
            return self._level

    def try_acquire(self) -> bool:
        if not self.enabled:
            return True
        with self._lock:
            self._drain()
            if self._level + 1 > self.burst:
                return False
            self._level += 1
            return True

    def reset(self) -> None:
        with self._lock:
            self._level = 0.0
            self._last = self._clock()

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - max(0.0, now - self._last) * self.rate)
        self._last = now
