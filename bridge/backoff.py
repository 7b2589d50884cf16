"""Jittered exponential backoff, as a small value object (reconnect loops, retries)."""

from __future__ import annotations

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
