"""What the consumer does with a failed message: one pure function over the error tree (``bridge/errors.py``).

===============================  ===========================================================================
error                            decision
===============================  ===========================================================================
B24OperationTimeLimit            Hold(delay): only this message, until the method's ``reset_at`` (1–600 s)
ServiceUnavailable (Bitrix24     Pause: hold every message in flight, one probe at a time every 0.5–3 s
down / 5xx / query limit /       (bridge/pause.py); no budget is spent, so an outage of hours costs only time
webhook refused, portal moved,
PostgreSQL)
DependencyMissing                Wait(since) through the wait queue; DeadLetter(dependency_missing) after the
                                 wait budget
NeedsReview                      ParkForReview: stored whole in the review list (bridge/review.py), then acked;
                                 an operator's resolve puts it back through the outbox
PermanentError                   DeadLetter(its reason)
anything else                    Retry(tier) through the retry tiers; DeadLetter(retries_exhausted) after
===============================  ===========================================================================

The reason strings come from :func:`bridge.errors.failure_reason` only (DLQ headers and metric labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from onec_outbox.contract import ContractViolation

from .errors import (
    B24OperationTimeLimit,
    DependencyExpired,
    DependencyMissing,
    NeedsReview,
    PermanentError,
    RetriesExhausted,
    ServiceUnavailable,
    failure_reason,
)

MAX_HOLD = 600.0  # seconds one message waits for a paused method before it is looked at again
MIN_HOLD = 1.0


@dataclass(frozen=True)
class Pause:
    """Keep the message in hand and pause the whole consumer; the next attempt after the delay probes."""

    reason: str = field(default="", compare=False)
    error: str = field(default="", compare=False)


@dataclass(frozen=True)
class Hold:
    """Keep only this message in hand for ``delay`` seconds; messages for other methods go on."""

    delay: float
    method: str = field(default="", compare=False)


@dataclass(frozen=True)
class Wait:
    """Republish to the target's wait queue, uncounted; the dependency has been missing since ``since``."""

    since: float
    error: str = field(default="", compare=False)
    missing: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Retry:
    """Republish to retry tier ``tier`` (0-based) with the attempt counted."""

    tier: int
    reason: str = field(default="", compare=False)
    error: str = field(default="", compare=False)


@dataclass(frozen=True)
class DeadLetter:
    """Republish to the dead-letter queue with ``reason`` (the ``x-bridge-reason`` header)."""

    reason: str
    error: str = field(default="", compare=False)


@dataclass(frozen=True)
class ParkForReview:
    """Store the event in the review list (the matching rules could not pick a Bitrix24 record), then ack."""

    onec_type: str
    onec_id: str
    reason: str
    candidates: tuple = field(default=(), compare=False)
    summary: str = field(default="", compare=False)
    error: str = field(default="", compare=False)


Decision = Pause | Hold | Wait | Retry | DeadLetter | ParkForReview


def decide(exc: BaseException, *, now: float, attempt: int = 0, retry_tiers: int = 0,
           waiting_since: float | None = None, wait_budget: float = 0.0) -> Decision:
    """The decision for ``exc``: ``attempt`` is the retries so far (of ``retry_tiers``), ``waiting_since``
    when the message first waited for a dependency (epoch seconds, None if never), ``now`` the time."""
    if isinstance(exc, B24OperationTimeLimit):
        return Hold(max(MIN_HOLD, min((exc.reset_at or 0) - now, MAX_HOLD)), exc.method)
    if isinstance(exc, ServiceUnavailable):
        return Pause(failure_reason(exc), str(exc))
    if isinstance(exc, DependencyMissing):
        since = waiting_since or now
        if now - since > wait_budget:
            return _dead(DependencyExpired(str(exc)))
        return Wait(since, str(exc), tuple(exc.missing))
    if isinstance(exc, NeedsReview):
        return ParkForReview(exc.onec_type, exc.onec_id, exc.reason, tuple(exc.candidates), exc.summary, str(exc))
    if isinstance(exc, (PermanentError, ContractViolation)):  # a contract violation is the event's own fault
        return _dead(exc)
    if attempt >= retry_tiers:
        return _dead(RetriesExhausted(f"after {attempt} retries: {exc!r}"))
    return Retry(attempt, failure_reason(exc), repr(exc))


def _dead(exc: BaseException) -> DeadLetter:
    return DeadLetter(failure_reason(exc), str(exc))
