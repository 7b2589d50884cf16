"""Jittered exponential backoff, as a small value object (reconnect loops, retries), and the pause of such a
loop that ends early when the process stops."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

DEFAULT_INITIAL = 0.5
DEFAULT_MAXIMUM = 30.0


@dataclass
class Backoff:
    initial: float = DEFAULT_INITIAL
    maximum: float = DEFAULT_MAXIMUM
    factor: float = 2.0
    jitter: float = 0.25  # ± this share of the delay
    _attempt: int = field(default=0, init=False)

    def next(self) -> float:
        delay = min(self.maximum, self.initial * self.factor ** self._attempt)
        self._attempt += 1
        return max(0.0, delay * (1 + random.uniform(-self.jitter, self.jitter)))

    def reset(self) -> None:
        self._attempt = 0

    @property
    def attempts(self) -> int:
        return self._attempt


async def sleep_or_stop(stop: asyncio.Event, delay: float) -> bool:
    """Wait ``delay`` seconds or until ``stop`` is set; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True
