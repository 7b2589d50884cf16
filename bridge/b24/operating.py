"""Per-method run-time budget (``OPERATION_TIME_LIMIT``): pause one method, let the others flow.

The portal sums each method's execution time over ten one-minute buckets and, once the sum passes its
limit, answers 429 to that method until the oldest bucket ages out (``time.operating_reset_at``).  The
tracker reads ``time.operating`` / ``operating_reset_at`` from every reply (and from each command's
``result_time`` in a batch) and pauses a method — before the portal has to refuse it when the budget is
known to be spent, and at the latest on its first 429.  The state is per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import metrics
from .limits import OperatingLimit

log = logging.getLogger("bridge.b24")


@dataclass
class MethodState:
    operating: float = 0.0
    reset_at: float | None = None
    blocked_until: float = 0.0


def _number(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


class OperatingTracker:
    def __init__(self, limit: OperatingLimit, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._methods: dict[str, MethodState] = {}

    def state(self, method: str) -> MethodState:
        return self._methods.setdefault(method, MethodState())

    def record(self, method: str, reply_time: Mapping[str, Any] | None) -> None:
        """Note a reply's ``time`` block; pause the method if its budget is spent."""
        if not isinstance(reply_time, Mapping):
            return
        operating = _number(reply_time.get("operating"))
        reset_at = _number(reply_time.get("operating_reset_at"))
        if operating is None and reset_at is None:
            return
        state = self.state(method)
        if operating is not None:
            state.operating = operating
            metrics.OPERATING_SECONDS.labels(method).set(operating)
        if reset_at is not None:
            state.reset_at = reset_at
            metrics.OPERATING_RESET_AT.labels(method).set(reset_at)
        if state.operating >= self.limit.budget and state.reset_at and state.reset_at > self._clock():
            self._pause(method, state, state.reset_at, "budget spent")

    def refused(self, method: str) -> float | None:
        """The portal answered ``OPERATION_TIME_LIMIT``: pause the method; returns the last known reset time."""
        state = self.state(method)
        now = self._clock()
        until = state.reset_at if state.reset_at and state.reset_at > now else now + self.limit.fallback_pause
        self._pause(method, state, until, "refused by the portal")
        return state.reset_at

    def _pause(self, method: str, state: MethodState, until: float, why: str) -> None:
        if until > state.blocked_until:
            state.blocked_until = until
            metrics.METHOD_BLOCKED_UNTIL.labels(method).set(until)
            log.warning(
                "Bitrix24 method paused by its operation time limit",
                extra={
                    "action": "b24.method_paused",
                    "method": method,
                    "until": until,
                    "why": why,
                    "operating": state.operating,
                },
            )

    def wait(self, method: str) -> float:
        """Seconds until the method may be called again (0 when it is not paused)."""
        state = self._methods.get(method)
        if state is None or not state.blocked_until:
            return 0.0
        left = state.blocked_until - self._clock()
        if left <= 0:
            state.blocked_until = 0.0
            metrics.METHOD_BLOCKED_UNTIL.labels(method).set(0)
            return 0.0
        return left

    def blocked_until(self, method: str) -> float:
        state = self._methods.get(method)
        return state.blocked_until if state else 0.0

    def reset_at(self, method: str) -> float | None:
        state = self._methods.get(method)
        return state.reset_at if state else None
