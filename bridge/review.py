"""The review list: events parked because Bitrix24 already holds records that may be their 1C object.

When the matching rules (``bridge/domain/matching.py``) find several candidates, or only a weak one, the
handler raises :class:`~bridge.errors.NeedsReview`; the consumer stores the whole event here (one open row
per 1C object: a newer event of the same object replaces the stored one) and acks the message.  Nothing is
created in Bitrix24 meanwhile.  An operator resolves a row (``b24bridge review resolve``, or the console):
adopt a picked record, or create a new one.  Resolving records the decision and, in the same transaction,
puts the stored event back into the outbox; the relay publishes it, and the handler, meeting the decision
(:meth:`ReviewStore.decision`), adopts the picked record or creates one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from onec_outbox.contract import ContractViolation, parse_event

from . import metrics
from .backoff import sleep_or_stop
from .sql import Q

log = logging.getLogger(__name__)

STATES = ("open", "resolved", "all")
DEFAULT_LIMIT = 1000
GAUGE_EVERY = 30.0  # seconds between the consumer processes' reads of the open count (bridge_review_open)
ADOPT, CREATE = "adopt", "create"


class NotACandidate(ValueError):
    """An adopt decision naming a record the item does not list: the decision is final for its 1C object, so a
    mistyped id (another company, say) would be adopted for good; nothing is decided, the item stays open."""

    def __init__(self, item_id: int, target_id: int | None, candidates: list[Any]) -> None:
        self.candidates = candidates
        super().__init__(f"#{target_id} is not a candidate of review item {item_id} (candidates: "
                         f"{', '.join(f'#{i}' for i in candidates)}); adopt one of them, create a new record, "
                         "or mark the record as one matching did not find")


@dataclass(frozen=True)
class Decision:
    """What an operator chose for a parked 1C object (None: still open, no decision)."""

    decision: str | None  # "adopt", "create", or None while open
    target_id: int | None = None
    item_id: int | None = None
    reason: str = ""

    @property
    def open(self) -> bool:
        return self.decision is None


@dataclass
class ReviewItem:
    row: dict[str, Any]

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def state(self) -> str:
        return "resolved" if self.row["resolved_at"] else "open"

    def candidates(self) -> list[dict[str, Any]]:
        return json.loads(self.row["candidates"])

    def envelope(self) -> dict[str, Any]:
        return json.loads(self.row["envelope"])

    def summary(self) -> dict[str, Any]:
        r = self.row
        return {"id": r["id"], "consumer": r["consumer"], "source": r["source"], "onec_type": r["onec_type"],
                "onec_id": r["onec_id"], "entity_id": r["entity_id"], "event_id": str(r["event_id"]),
                "version": r["version"], "reason": r["reason"], "summary": r["summary"],
                "candidates": [c["id"] for c in self.candidates()], "parked_at": r["parked_at"],
                "times_parked": r["times_parked"], "state": self.state, "decision": r["decision"],
                "target_id": r["target_id"]}

    def export(self) -> dict[str, Any]:
        r = self.row
        return {**self.summary(), "candidates": self.candidates(), "error": r["error"],
                "event_type": r["event_type"], "updated_at": r["updated_at"],
                "resolved": {"at": r["resolved_at"], "by": r["resolved_by"], "note": r["note"]}
                if r["resolved_at"] else None,
                "envelope": self.envelope()}


@dataclass
class Resolved:
    done: list[ReviewItem] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


class ReviewStore:
    """The ``review_items`` table: parked by consumers, read and resolved by operators."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def park(self, *, consumer: str, onec_type: str, onec_id: str, reason: str, summary: str,
                   error: str, candidates: list[dict[str, Any]] | tuple, event: dict[str, Any],
                   body: bytes) -> int:
        """Store the event (committed when this returns: the caller acks the message after it)."""
        async with self._pool.acquire() as conn:
            item_id = await conn.fetchval(
                Q.review_park, consumer, str(event.get("source") or ""), onec_type, onec_id,
                _str(event.get("event_type", "")).split(".")[0] or None, _str(event.get("entity_id")),
                str(event.get("event_id")), _str(event.get("event_type")), _int(event.get("version")), reason,
                summary, error[:2000], json.loads(json.dumps(list(candidates), default=str)), json.loads(body))
            await self.refresh_gauge(conn)
        return int(item_id)

    async def decision(self, source: str, onec_type: str, onec_id: str,
                       conn: asyncpg.Connection | None = None) -> Decision | None:
        """The latest review state of one 1C object: None when it was never parked.  ``conn``: read in
        that (open) transaction instead of one of its own."""
        if conn is not None:
            row = await conn.fetchrow(Q.review_state_of, source, onec_type, onec_id)
        else:
            async with self._pool.acquire() as own:
                row = await own.fetchrow(Q.review_state_of, source, onec_type, onec_id)
        if row is None:
            return None
        return Decision(row["decision"], row["target_id"], row["id"], row["reason"])

    async def select(self, state: str = "open", ids: list[int] | None = None, consumer: str | None = None,
                     limit: int = DEFAULT_LIMIT) -> list[ReviewItem]:
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q.review_select, state, ids or [], consumer, limit)
        return [ReviewItem(dict(r)) for r in rows]

    async def resolve(self, item_id: int, *, decision: str, target_id: int | None, by: str,
                      note: str | None = None, any_record: bool = False) -> ReviewItem | None:
        """Record the decision and put the stored event back into the outbox, in one transaction; None when
        the item is not open (resolved already, by anyone, or no such id).  An adopt names one of the item's
        candidates (:class:`NotACandidate`) unless ``any_record``: the operator knows a record matching did not
        find (its ИНН mistyped in Bitrix24, say)."""
        if decision not in (ADOPT, CREATE):
            raise ValueError(f"decision must be {ADOPT} or {CREATE}, not {decision!r}")
        if decision == ADOPT and (target_id is None or target_id <= 0):
            raise ValueError("adopt needs the Bitrix24 id of the record to adopt")
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q.review_lock_open, item_id)
            if row is None:
                return None
            candidates = [c.get("id") for c in json.loads(row["candidates"] or "[]")]
            if decision == ADOPT and candidates and target_id not in candidates and not any_record:
                raise NotACandidate(item_id, target_id, candidates)
            event = _event(row["envelope"])
            await conn.execute(Q.review_mark_resolved, item_id, decision,
                               target_id if decision == ADOPT else None, by, note)
            await conn.execute(Q.review_requeue, event.event_id, event.event_type, event.entity, event.source,
                               event.entity_id, event.version, event.occurred_at, json.loads(row["envelope"]))
            await conn.execute(Q.outbox_notify)
            await self.refresh_gauge(conn)
        log.info("review item resolved", extra={"action": "review.resolve", "item": item_id, "decision": decision,
                                                 "target_id": target_id, "by": by})
        return (await self.select("all", [item_id]))[0]

    async def open_counts(self) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            return {r["consumer"]: r["n"] for r in await conn.fetch(Q.review_open_counts)}

    @staticmethod
    async def refresh_gauge(conn: asyncpg.Connection) -> None:
        counts = {r["consumer"]: r["n"] for r in await conn.fetch(Q.review_open_counts)}
        for consumer in {*counts, "counterparty", "product"}:
            metrics.REVIEW_OPEN.labels(consumer).set(counts.get(consumer, 0))


async def keep_open_gauge(pool: asyncpg.Pool, stop: asyncio.Event, every: float = GAUGE_EVERY) -> None:
    """Refresh ``bridge_review_open`` every ``every`` seconds until ``stop``: items are resolved by other
    processes (the CLI, the console), so a consumer's gauge set only when it parks would stay up for work
    already done.  A failure is logged and tried again."""
    while not stop.is_set():
        try:
            async with pool.acquire() as conn:
                await ReviewStore.refresh_gauge(conn)
        except Exception as exc:  # noqa: BLE001 - PostgreSQL away: the next look tries again
            log.warning("could not refresh the open review count", extra={
                "action": "review.gauge_failed", "error": f"{type(exc).__name__}: {exc}"})
        await sleep_or_stop(stop, every)


def _event(envelope: str) -> Any:
    try:
        return parse_event(json.loads(envelope))
    except (ValueError, ContractViolation) as exc:  # stored by a consumer that parsed it: cannot happen
        raise ValueError(f"the stored event is not a valid v1 event: {exc}") from exc


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""
