"""How hard the client may push the portal: small frozen value objects with named defaults.

Only :mod:`bridge.settings` reads the environment; :func:`bridge.b24.factory.client_from_settings` turns
settings into these objects, and tests build them directly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_POOL_TIMEOUT = 30.0

DEFAULT_MAX_RETRIES = 8
DEFAULT_BACKOFF_BASE = 0.5
# A few seconds, not more: the client's retries ride out a blip; a longer outage surfaces to the consumer,
# whose pause probes it (bridge/pause.py).  A longer cap would leave a request asleep here for up to
# that long after the portal is back, and the consumer resuming that late.
DEFAULT_BACKOFF_MAX = 3.0
DEFAULT_BACKOFF_MULTIPLIER = 2.0
DEFAULT_BACKOFF_JITTER = 0.5

DEFAULT_RATE_PER_SECOND = 2.0
DEFAULT_RATE_BURST = 50
ENTERPRISE_RATE_PER_SECOND = 5.0
ENTERPRISE_RATE_BURST = 250
DEFAULT_RATE_JITTER = 0.5

MAX_BATCH_COMMANDS = 50  # the portal answers ERROR_BATCH_LENGTH_EXCEEDED for command #51 and later
DEFAULT_BATCH_LINGER = 0.02
DEFAULT_BULK_LINGER = 0.25  # under the 0.5 s between requests at 2/s: lingering costs bulk no slot
# PHP's parse_str (which reads every batch command's query) stops at max_input_vars, 1000 by default,
# and drops the rest silently; a command with more leaves goes as its own JSON request instead.
DEFAULT_MAX_COMMAND_VARS = 1000

DEFAULT_OPERATING_BUDGET = 480.0
DEFAULT_OPERATING_MAX_WAIT = 30.0
DEFAULT_OPERATING_FALLBACK_PAUSE = 60.0

PAGE_SIZE = 50  # fixed by the portal: list methods have no page-size parameter


def _positive(name: str, value: float, *, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")


@dataclass(frozen=True)
class Timeouts:
    """Seconds per phase of one HTTP request.  The cloud cuts a request off after 60 s on its side."""

    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    pool: float = DEFAULT_POOL_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("connect", "read", "pool"):
            _positive(f"Timeouts.{name}", getattr(self, name))


DEFAULT_TIMEOUTS = Timeouts()


@dataclass(frozen=True)
class RetryPolicy:
    """In-client retries of one HTTP request; after ``max_retries`` the typed error goes to the caller.

    Retried: ``QUERY_LIMIT_EXCEEDED`` always (the portal did nothing); 5xx and network errors when the
    request cannot have had an effect (connection never made) or the method only reads.  A write whose
    fate is unknown is *not* repeated blindly: the consumer's retry tier looks the record up first.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = DEFAULT_BACKOFF_BASE
    max_delay: float = DEFAULT_BACKOFF_MAX
    multiplier: float = DEFAULT_BACKOFF_MULTIPLIER
    jitter: float = DEFAULT_BACKOFF_JITTER

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries must be >= 0, got {self.max_retries!r}")
        _positive("RetryPolicy.base_delay", self.base_delay, zero_ok=True)
        _positive("RetryPolicy.max_delay", self.max_delay, zero_ok=True)
        if self.multiplier < 1:
            raise ValueError(f"RetryPolicy.multiplier must be >= 1, got {self.multiplier!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"RetryPolicy.jitter must be within [0, 1], got {self.jitter!r}")

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to sleep after the ``failures``-th failure in a row: exponential, capped, jittered down."""
        raw = min(self.max_delay, self.base_delay * self.multiplier ** max(failures - 1, 0))
        return raw * (1 - self.jitter * (rng or random).random())


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class RateLimit:
    """The portal's leaky bucket: ``per_second`` drained, room for ``burst`` requests.

    The client keeps ``ceil(per_second * jitter)`` slots free (at least one request may always go).  A
    request that reaches the portal later than its slot (network, event loop, another replica's latency)
    drains later too, so the portal's bucket runs fuller than ours by ``per_second`` × that lateness —
    and in steady state it never empties to forget it.  ``jitter`` is the lateness absorbed: 0.5 s costs
    one slot of 50 at 2/s and three of 250 at 5/s.
    """

    per_second: float = DEFAULT_RATE_PER_SECOND
    burst: int = DEFAULT_RATE_BURST
    jitter: float = DEFAULT_RATE_JITTER

    def __post_init__(self) -> None:
        _positive("RateLimit.per_second", self.per_second)
        if self.burst < 1:
            raise ValueError(f"RateLimit.burst must be >= 1, got {self.burst!r}")
        _positive("RateLimit.jitter", self.jitter, zero_ok=True)

    @property
    def capacity(self) -> int:
        """How full the client lets the bucket get before requests wait (1..burst)."""
        return max(1, self.burst - math.ceil(self.per_second * self.jitter))


DEFAULT_RATE_LIMIT = RateLimit()
ENTERPRISE_RATE_LIMIT = RateLimit(ENTERPRISE_RATE_PER_SECOND, ENTERPRISE_RATE_BURST)


@dataclass(frozen=True)
class Batching:
    """Transparent packing of concurrent ``call()``\\ s into ``batch`` requests.

    ``linger`` is how long the first waiting call waits for company; ``None`` or 0 turns coalescing off.
    ``bulk_linger`` replaces it while every waiting call is bulk (:data:`bridge.b24.calls.BULK`: an
    initial load, a mass repricing): nobody waits for those, and a request that leaves with a few
    commands spends a slot — or the burst — that a full one would use fifty times better.  Only while
    fewer than ``max_commands`` wait (a full queue goes at once) and until a call of another class comes.
    """

    linger: float | None = DEFAULT_BATCH_LINGER
    bulk_linger: float = DEFAULT_BULK_LINGER
    max_commands: int = MAX_BATCH_COMMANDS
    max_command_vars: int = DEFAULT_MAX_COMMAND_VARS
    never_coalesce: frozenset[str] = field(default_factory=lambda: frozenset({"batch"}))

    def __post_init__(self) -> None:
        if self.linger is not None:
            _positive("Batching.linger", self.linger, zero_ok=True)
        _positive("Batching.bulk_linger", self.bulk_linger, zero_ok=True)
        if not 1 <= self.max_commands <= MAX_BATCH_COMMANDS:
            raise ValueError(
                f"Batching.max_commands must be within 1..{MAX_BATCH_COMMANDS}, got {self.max_commands!r}"
            )
        if self.max_command_vars < 1:
            raise ValueError(f"Batching.max_command_vars must be >= 1, got {self.max_command_vars!r}")

    @property
    def enabled(self) -> bool:
        return bool(self.linger) and self.max_commands > 1


DEFAULT_BATCHING = Batching()
NO_BATCHING = Batching(linger=None)


@dataclass(frozen=True)
class OperatingLimit:
    """The portal's per-method run-time budget (``OPERATION_TIME_LIMIT``).

    ``budget``: seconds of execution per method per 10 minutes; once a reply reports ``time.operating`` at
    or above it, the method is paused until ``operating_reset_at``.  ``max_wait``: a paused call sleeps at
    most this long in-process, otherwise it fails at once with ``reset_at`` so the consumer's delay tier
    holds the message instead.  ``fallback_pause``: how long to pause when the portal says 429 and no
    future ``operating_reset_at`` is known (the next one-minute bucket ages out within a minute).
    """

    budget: float = DEFAULT_OPERATING_BUDGET
    max_wait: float = DEFAULT_OPERATING_MAX_WAIT
    fallback_pause: float = DEFAULT_OPERATING_FALLBACK_PAUSE

    def __post_init__(self) -> None:
        _positive("OperatingLimit.budget", self.budget)
        _positive("OperatingLimit.max_wait", self.max_wait, zero_ok=True)
        _positive("OperatingLimit.fallback_pause", self.fallback_pause)


DEFAULT_OPERATING_LIMIT = OperatingLimit()
