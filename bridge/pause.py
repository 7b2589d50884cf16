"""The consumer's pause (:class:`Pause`): while a service every message needs (Bitrix24, PostgreSQL) is
down, one message at a time probes it and the rest wait, so the pause follows the service and not the
prefetch."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from dataclasses import dataclass

from . import metrics
from .backoff import Backoff

log = logging.getLogger(__name__)

PROBE_INITIAL = 0.5  # seconds from the first failure to the first probe
PROBE_MAX = 3.0  # the longest wait between two probes, before jitter


@dataclass(frozen=True, eq=False)
class Attempt:
    """One message's permission to try the service: ``period`` is the pause's state (opened or closed so
    many times) when the attempt started; ``probe`` says it is the one attempt allowed while it is open."""

    period: int
    probe: bool = False


class Pause:
    """Holds the messages of one consumer while a service they all need is down.

    **Closed**: every message tries.  A failure that means "the service is down" (a Pause decision) of an
    attempt made while closed **opens** it.  While open, exactly one message, the *probe*, tries after a
    delay; the others wait without trying.  Only a failed probe lengthens the delay: one escalation per
    probe.  The probe getting any other answer (applied, or a failure of its own message) closes the pause
    and every waiting message resumes at once.

    Failures of attempts that started before the pause opened (the other messages in flight when the
    service went away, failing one after another over the next milliseconds) say nothing the first
    failure did not, so they neither escalate nor reopen it.  Escalating on each of them once took the
    delay from 1.2 to 34.5 s in 2 ms, and a consumer resumed 25 s after a 10 s outage ended.

    The delay is 0.5 s, then doubles up to a cap of 3 s (±25 % jitter), so the consumer resumes within a
    few seconds of the service answering again, however long the outage was.  Probing that often costs
    nothing worth saving: one request every few seconds to a portal that is down (it allows two a second),
    and no retry budget is spent.  A cheap dedicated probe call was the alternative; probing with a real
    message needs nothing per service (Bitrix24, PostgreSQL, a webhook refused or moved all pause alike)
    and proves exactly what the messages need.  The Bitrix24 client's own retries of one request back off
    at most 3 s too (``bridge/b24/limits.py``), so a probe asleep in them cannot hold the resume back.

    Use: ``attempt = await pause.turn(stop, deadline)``, try, then ``pause.failed(attempt)`` when the
    failure means the service is down, else ``pause.answered(attempt)``; ``pause.release(attempt)`` in a
    ``finally`` frees the probe's turn if the attempt ended any other way (cancelled).
    """

    def __init__(self, name: str, backoff: Backoff | None = None) -> None:
        self._name = name
        self._backoff = backoff or Backoff(initial=PROBE_INITIAL, maximum=PROBE_MAX)
        self._period = 0  # how many times the pause has opened or closed
        self._opened_at: float | None = None  # monotonic; None: closed
        self.since: datetime | None = None  # wall-clock start of the current pause (the notice watcher reads it)
        self._probe_at = 0.0  # monotonic time the next probe may start
        self._probe: Attempt | None = None  # the probe now trying, if any
        self._changed = asyncio.Event()  # set (and replaced) whenever the state changes

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    async def turn(self, stop: asyncio.Event, deadline: float) -> Attempt | None:
        """Wait until this message may try: at once while the pause is closed; while it is open, when this
        message is the probe or the probe brought the service back.  None when ``stop`` is set or the
        ``deadline`` (monotonic) passes first."""
        while not stop.is_set():
            now = time.monotonic()
            if self._opened_at is None:
                return Attempt(self._period)
            if self._probe is None and now >= self._probe_at:
                self._probe = Attempt(self._period, probe=True)
                return self._probe
            if now >= deadline:
                return None
            timeout = deadline - now if self._probe is not None else min(deadline, self._probe_at) - now
            await _first_of(stop, self._changed, timeout=timeout)
        return None

    def failed(self, attempt: Attempt) -> float:
        """The attempt failed because the service is down.  Opens the pause (an attempt that started since
        it last closed) or escalates it (the probe now trying); a failure of an attempt that started before
        the pause last opened or closed changes nothing.  Returns the seconds until the next probe."""
        now = time.monotonic()
        if attempt.probe and attempt is self._probe:
            self._probe = None
            self._schedule(now)
            log.warning("probe failed; the consumer stays paused", extra={
                "action": "consumer.probe_failed", "consumer": self._name,
                "paused_for": round(now - (self._opened_at or now), 2),
                "next_probe_in": round(self._probe_at - now, 2)})
        elif self._opened_at is None and attempt.period == self._period:
            self._period += 1
            self._opened_at = now
            self.since = datetime.now(UTC)
            self._schedule(now)
            metrics.PAUSED.labels(self._name).set(1)
            log.warning("a service the consumer needs is failing; paused", extra={
                "action": "consumer.paused", "consumer": self._name,
                "next_probe_in": round(self._probe_at - now, 2)})
        return max(0.0, self._probe_at - now) if self._opened_at is not None else 0.0

    def answered(self, attempt: Attempt) -> None:
        """The attempt got through to the service (whatever the outcome for its message).  The probe's
        answer closes the pause and every waiting message resumes; an attempt from before the pause opened
        that got through leaves it to the probe, which is never more than a few seconds away."""
        if attempt is not self._probe or self._opened_at is None:
            return
        paused_for = time.monotonic() - self._opened_at
        self._opened_at = None
        self.since = None
        self._period += 1
        self._probe = None
        self._backoff.reset()
        metrics.PAUSED.labels(self._name).set(0)
        log.info("the service answers again; resumed", extra={
            "action": "consumer.resumed", "consumer": self._name, "paused_for": round(paused_for, 2),
            "probe": attempt.probe})
        self._notify()

    def release(self, attempt: Attempt) -> None:
        """Free the probe's turn if ``attempt`` still holds it (it ended without a verdict)."""
        if attempt is self._probe:
            self._probe = None
            self._notify()

    def _schedule(self, now: float) -> None:
        self._probe_at = now + self._backoff.next()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Return when any of ``events`` is set or ``timeout`` seconds pass."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
