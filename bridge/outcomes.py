"""What each consumer did with each event, kept in PostgreSQL (``event_outcomes``) for ``b24bridge trace``.

The consumer calls :meth:`OutcomeRecorder.record` once per decision it obeyed — a handler's
:class:`~bridge.consumer.Outcome` (:meth:`~OutcomeRecorder.note`, without waiting: the event is acked) or a
:mod:`bridge.disposition` decision — with the Bitrix24 calls of that attempt (:mod:`bridge.b24.calls`).  Written outside the handler's transactions, the outcomes of events
handled at the same time in one statement: the trace is a witness, so a failure to record is logged and
consuming goes on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from . import disposition, edges
from .sql import Q

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=7)
RECORD_TIMEOUT = 2.0  # seconds; a slow or lost database must not hold the consumer up
# seconds an outcome waits for others to share its statement: at a steady 50 events/s per consumer nearly
# every write was one row, a round trip (and a wake-up of the process) per event.  A handled event's is
# recorded after its ack, so the wait holds no delivery; a held or paused one's (once per message, while it
# waits anyway) before; ``trace`` shows the outcome this much later
RECORD_LINGER = 0.1
ERROR_LIMIT = 2000

# outcome names of decisions (the handlers' own outcomes are Outcome values: applied, unchanged, …)
WAITING, RETRY, DEAD_LETTERED, PAUSED, HELD, PARKED, REVIEW = (
    "waiting", "retry", "dead_lettered", "paused", "held", "parked", "review")


class NullRecorder:
    """Records nothing (a consumer built without a database, e.g. in a unit test)."""

    async def record(self, context: dict[str, Any], outcome: Any, calls: list[dict[str, Any]] | None = None) -> None:
        return None

    def note(self, context: dict[str, Any], outcome: Any, calls: list[dict[str, Any]] | None = None) -> None:
        return None

    async def flush(self) -> None:
        return None


class OutcomeRecorder(NullRecorder):
    """Writes outcomes by group commit: a ``record`` returns once its row is stored; the rows recorded within
    ``linger`` seconds of each other, or while a write is under way, go together in one statement, so a
    consumer spends one round trip on many outcomes instead of one transaction each."""

    def __init__(self, pool: asyncpg.Pool, timeout: float = RECORD_TIMEOUT, linger: float = RECORD_LINGER) -> None:
        self._pool = pool
        self._timeout = timeout
        self._linger = linger
        self._pending: list[_Row] = []
        self._writing = asyncio.Lock()
        self._window: asyncio.Future[None] | None = None  # the rows recorded until it is done write together
        self._writer: asyncio.Task | None = None  # writes what note() left, a linger after the first row

    @staticmethod
    def _row(context: dict[str, Any], outcome: Any, calls: list[dict[str, Any]] | None) -> _Row | None:
        event_id = _uuid(context.get("event_id"))
        if event_id is None:  # a message without a usable id cannot be traced by id anyway
            return None
        row = row_of(outcome)
        return _Row(context, row["outcome"], (
            event_id, context.get("consumer"), row["outcome"], context.get("entity_type"),
            _uuid(context.get("entity_id")), row.get("reason"), row.get("error"), row.get("retry_tier"),
            row.get("missing"), row.get("waiting_since"), calls or []))

    def note(self, context: dict[str, Any], outcome: Any, calls: list[dict[str, Any]] | None = None) -> None:
        """:meth:`record` without waiting for it (an event already acked): one task writes the rows of a
        ``linger`` in one statement, where each ``record`` would wait on the window, and hold its message's
        task, for itself.  :meth:`flush` (a consumer stopping) writes what is left."""
        row = self._row(context, outcome, calls)
        if row is None:
            return
        self._pending.append(row)
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:  # (a loop gone)
            self._writer = loop.create_task(self._write_noted())

    async def _write_noted(self) -> None:
        while self._pending:
            await asyncio.sleep(self._linger)
            await self._write_pending()

    async def _write_pending(self) -> None:
        async with self._writing:
            batch = [r for r in self._pending if not r.done]
            self._pending = []
            if not batch:
                return
            try:
                await self._write(batch)
            except BaseException:  # cancelled while writing: kept for flush() or the next writer
                self._pending[:0] = [r for r in batch if not r.done]
                raise
            for r in batch:
                r.done = True

    async def flush(self) -> None:
        """Write at once what :meth:`note` left (a stopping consumer: nothing noted is dropped)."""
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done() and writer.get_loop() is asyncio.get_running_loop():
            if not self._writing.locked():  # waiting out its linger: cancelled (a write under way ends first)
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        await self._write_pending()

    async def record(self, context: dict[str, Any], outcome: Any, calls: list[dict[str, Any]] | None = None) -> None:
        """Store ``outcome`` (an Outcome or a decision) of the event in ``context`` (consumer, event_id,
        entity_type, entity_id: the consumer's log context)."""
        mine = self._row(context, outcome, calls)
        if mine is None:
            return
        self._pending.append(mine)
        if self._linger > 0:
            await self._gathered()
        async with self._writing:  # whoever holds the lock writes everything recorded so far
            if mine.done:
                return
            batch, self._pending = self._pending, []
            try:
                await self._write(batch)
            except BaseException:  # cancelled while writing: the others' rows go to the next writer
                self._pending[:0] = [r for r in batch if r is not mine and not r.done]
                raise
            for r in batch:
                r.done = True

    async def _gathered(self) -> None:
        """Wait until the window this row fell into closes (one timer for all of its rows)."""
        loop = asyncio.get_running_loop()
        if self._window is not None and self._window.get_loop() is not loop:
            self._window = None  # left by a loop that is gone (a recorder reused by another run)
        if self._window is None:
            self._window = window = loop.create_future()
            loop.call_later(self._linger, self._close_window, window)
        await asyncio.shield(self._window)  # a cancelled record leaves the window to the others

    def _close_window(self, window: asyncio.Future[None]) -> None:
        if self._window is window:
            self._window = None
        if not window.done():
            window.set_result(None)

    async def _write(self, batch: list[_Row]) -> None:
        """All rows in one statement; if the database refused a value (not a lost, slow, read-only or full
        one), row by row, so that one row the database refuses costs only its own trace."""
        try:
            async with asyncio.timeout(self._timeout):
                async with self._pool.acquire() as conn:
                    await conn.executemany(Q.outcome_insert, [r.args for r in batch])
            return
        except Exception as exc:  # noqa: BLE001 - a witness: never let the trace stop the consumer
            if len(batch) == 1 or not edges.refuses_data(exc):
                self._failed(batch, exc)
                return
        for row in batch:
            try:
                async with asyncio.timeout(self._timeout):
                    async with self._pool.acquire() as conn:
                        await conn.execute(Q.outcome_insert, *row.args)
            except Exception as exc:  # noqa: BLE001 - as above
                self._failed([row], exc)

    @staticmethod
    def _failed(rows: list[_Row], exc: BaseException) -> None:
        for r in rows:
            log.warning("could not record the outcome for the trace", extra={
                "action": "trace.record_failed", "consumer": r.context.get("consumer"),
                "event_id": r.context.get("event_id"), "outcome": r.outcome, "error": f"{type(exc).__name__}: {exc}"})


@dataclass(slots=True)
class _Row:
    context: dict[str, Any]
    outcome: str
    args: tuple
    done: bool = False


def row_of(outcome: Any) -> dict[str, Any]:
    """The ``event_outcomes`` columns for a handler's outcome or a disposition decision (pure)."""
    if isinstance(outcome, disposition.Wait):
        return {"outcome": WAITING, "error": _cut(outcome.error), "missing": list(outcome.missing),
                "waiting_since": datetime.fromtimestamp(outcome.since, UTC)}
    if isinstance(outcome, disposition.Retry):
        return {"outcome": RETRY, "reason": outcome.reason, "error": _cut(outcome.error),
                "retry_tier": outcome.tier + 1}
    if isinstance(outcome, disposition.DeadLetter):
        return {"outcome": DEAD_LETTERED, "reason": outcome.reason, "error": _cut(outcome.error)}
    if isinstance(outcome, disposition.ParkForReview):
        return {"outcome": REVIEW, "reason": outcome.reason, "error": _cut(outcome.error)}
    if isinstance(outcome, disposition.Pause):
        return {"outcome": PAUSED, "reason": outcome.reason, "error": _cut(outcome.error)}
    if isinstance(outcome, disposition.Hold):
        return {"outcome": HELD, "reason": "b24_operation_time_limit", "error": f"method {outcome.method} paused "
                f"by the portal for {outcome.delay:.0f} s"}
    return {"outcome": str(getattr(outcome, "value", outcome))}


async def purge(pool: asyncpg.Pool, retention: timedelta, limit: int = 10_000) -> int:
    """Forget outcomes (and their Bitrix24 calls) older than ``retention``; the number of rows deleted."""
    async with pool.acquire() as conn:
        status = await conn.execute(Q.outcome_purge, datetime.now(UTC) - retention, limit)
    return int(status.split()[-1])


def _cut(text: str | None) -> str | None:
    return text[:ERROR_LIMIT] if text else text


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
