"""The sandbox's one clock: unix seconds, injectable so tests move time instead of sleeping.

Everything that depends on time reads it here: the leaky bucket, the operating-time buckets, OAuth token
expiry, fault windows, the ``time`` block of every reply and the dates the portal writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


class ManualClock:
    """A clock for tests: it starts at the wall time (or ``start``) and moves only on :meth:`advance`."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(time.time() if start is None else start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
