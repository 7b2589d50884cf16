"""Dead letters, kept in PostgreSQL: what failed, why, and the message itself; read, replay, purge.

The sink (``bridge/dlq_sink.py``) moves every message of ``b24.<target>.dlq`` and ``onec.unrouted`` into
the ``dead_letters`` table; from then on everything here works on the table alone, so looking at dead
letters never touches the broker.  Replay puts the event back into the outbox (one transaction with
marking the row), and the relay publishes it to its entity exchange like any event from 1C, with the
retry bookkeeping gone and ``x-bridge-replayed`` one higher.  Purge marks rows, never deletes them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from onec_outbox.contract import ContractViolation, parse_event

from . import topology, wire
from .sql import Q

DEFAULT_LIMIT = 1000
STATES = ("open", "replayed", "purged", "all")
UNROUTED_REASON = "unrouted"


def dead_letter_queues() -> list[str]:
    return [t.dlq for t in topology.TARGETS.values()] + [topology.UNROUTED]


# --- from a broker message to a row (pure) ------------------------------------------------------------


@dataclass(frozen=True)
class NewDeadLetter:
    """A row of ``dead_letters`` as the sink stores it, read from a dead-lettered message."""

    queue: str
    consumer: str | None
    event_id: str
    replays: int
    event_type: str | None
    source: str | None
    entity: str | None
    entity_id: str | None
    version: int | None
    reason: str
    error: str | None
    attempts: int
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    exchange: str | None
    routing_key: str | None
    headers: dict[str, Any]
    body: bytes

    def params(self) -> tuple:
        return (self.queue, self.consumer, self.event_id, self.replays, self.event_type, self.source,
                self.entity, self.entity_id, self.version, self.reason, self.error, self.attempts,
                self.first_failed_at, self.last_failed_at, self.exchange, self.routing_key,
                self.headers, self.body)  # the pool's jsonb codec encodes it (json.dumps here made a JSON string)


def letter_from_message(queue: str, *, message_id: str | None, event_type: str | None,
                        headers: dict[str, Any] | None, body: bytes, received_at: datetime) -> NewDeadLetter:
    """What the table keeps of a message taken off ``queue`` (a DLQ or ``onec.unrouted``).

    The consumer's ``x-bridge-*`` headers give reason, error, attempts and times; a message the broker
    dead-lettered itself (the queue's delivery limit) carries only ``x-death``; an unrouted one nothing.
    """
    h = {k: _plain(v) for k, v in (headers or {}).items()}
    envelope = _envelope(body)  # for what the headers lack (a message published by something else)
    event_type = event_type or _str(envelope.get("event_type"))
    death = _latest_death(h)
    unrouted = queue == topology.UNROUTED
    failed_in = h.get(wire.H_QUEUE) or death.get("queue")
    if unrouted:
        consumer = None
    elif failed_in:
        consumer = str(failed_in).removeprefix("b24.")
    else:
        consumer = queue.removeprefix("b24.").removesuffix(".dlq")
    if unrouted:
        reason = UNROUTED_REASON
    else:
        reason = str(h.get(wire.H_REASON) or death.get("reason") or h.get("x-first-death-reason") or "unknown")
    if h.get(wire.H_REASON):
        attempts = int(h.get(wire.H_ATTEMPT) or 0) + 1
    elif death:
        # the broker's own dead-lettering: deliveries if it says, else what the queue's limit allowed
        target = topology.TARGETS.get(consumer or "")
        limit = target.delivery_limit + 1 if target and reason == "delivery_limit" else None
        attempts = int(h.get("x-delivery-count") or limit or death.get("count") or 1)
    else:
        attempts = 0
    last = _when(h.get(wire.H_FAILED_AT)) or _when(death.get("time")) or (None if unrouted else received_at)
    first = _when(h.get(wire.H_FIRST_FAILED)) or last
    entity = h.get(wire.H_ENTITY) or (event_type.split(".")[0] if event_type else None)
    exchange = (death.get("exchange") if death and not h.get(wire.H_REASON) else None) or \
        (topology.exchange_for(entity) if entity else None)
    routing_key = event_type or _first(death.get("routing-keys"))
    version = h.get(wire.H_VERSION, envelope.get("version"))
    return NewDeadLetter(
        queue=queue, consumer=consumer, event_id=message_id or f"sha256:{_digest(body)}",
        replays=int(h.get(wire.H_REPLAYED) or 0), event_type=event_type,
        source=_str(h.get(wire.H_SOURCE) or envelope.get("source")), entity=_str(entity),
        entity_id=_str(h.get(wire.H_ENTITY_ID) or envelope.get("entity_id")),
        version=int(version) if isinstance(version, (int, str)) and str(version).lstrip("-").isdigit() else None,
        reason=reason, error=_str(h.get(wire.H_ERROR)), attempts=attempts, first_failed_at=first,
        last_failed_at=last, exchange=exchange, routing_key=routing_key, headers=h, body=bytes(body))


def _envelope(body: bytes) -> dict[str, Any]:
    """The event's envelope fields when the body is a JSON object (bounded: bodies are at most a few MB)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("event_type", "source", "entity_id", "version")
            and isinstance(v, (str, int)) and not isinstance(v, bool)}


def _latest_death(headers: dict[str, Any]) -> dict[str, Any]:
    """The newest ``x-death`` entry (RabbitMQ puts it first)."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return deaths[0]
    return {}


def _first(values: Any) -> str | None:
    return str(values[0]) if isinstance(values, list) and values else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _plain(value: Any) -> Any:
    """An AMQP header value as JSON can hold it (times as ISO text, bytes as text)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace").replace("\x00", "")
    if isinstance(value, str):
        return value.replace("\x00", "")  # PostgreSQL text and jsonb cannot hold NUL
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if isinstance(value, (int, float, bool, type(None))) else str(value)


# --- rows as operators see them ---------------------------------------------------------------------------


@dataclass
class DeadLetter:
    """A stored dead letter."""

    row: dict[str, Any]

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def event_id(self) -> str:
        return self.row["event_id"]

    @property
    def queue(self) -> str:
        return self.row["queue"]

    @property
    def reason(self) -> str:
        return self.row["reason"]

    @property
    def state(self) -> str:
        return "purged" if self.row["purged_at"] else "replayed" if self.row["replayed_at"] else "open"

    def body(self) -> Any:
        try:
            return json.loads(self.row["body"])
        except ValueError:
            return bytes(self.row["body"]).decode("utf-8", "replace")

    def summary(self) -> dict[str, Any]:
        r = self.row
        return {"id": r["id"], "queue": r["queue"], "consumer": r["consumer"], "event_id": r["event_id"],
                "event_type": r["event_type"], "source": r["source"], "entity_id": r["entity_id"],
                "reason": r["reason"], "attempts": r["attempts"], "first_failed_at": r["first_failed_at"],
                "failed_at": r["last_failed_at"], "error": r["error"], "state": self.state}

    def export(self) -> dict[str, Any]:
        r = self.row
        return {**self.summary(), "replays": r["replays"], "version": r["version"], "exchange": r["exchange"],
                "routing_key": r["routing_key"], "stored_at": r["stored_at"],
                "replayed": {"at": r["replayed_at"], "by": r["replayed_by"], "reason": r["replay_reason"]}
                if r["replayed_at"] else None,
                "purged": {"at": r["purged_at"], "by": r["purged_by"], "reason": r["purge_reason"]}
                if r["purged_at"] else None,
                "headers": _headers(r["headers"]), "body": self.body()}


def _headers(text: str) -> Any:
    """The stored headers as an object; rows written before the fix hold them as a JSON string of JSON."""
    headers = json.loads(text)
    return json.loads(headers) if isinstance(headers, str) else headers


@dataclass(frozen=True)
class Selector:
    """Which dead letters an operation reads or touches; empty means all (of ``state``)."""

    queues: tuple[str, ...] = ()
    event_ids: frozenset[str] = frozenset()
    entity_id: str | None = None
    reason: str | None = None
    state: str = "open"
    ids: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {self.state!r}")

    @property
    def narrows(self) -> bool:
        """Does it pick some letters rather than every open one?"""
        return bool(self.queues or self.event_ids or self.entity_id or self.reason or self.ids)


@dataclass
class Marked:
    """What a replay or purge did: the letters it marked, and those it could not replay (with why)."""

    done: list[DeadLetter] = field(default_factory=list)
    refused: list[tuple[DeadLetter, str]] = field(default_factory=list)


class DeadLetterTable:
    """The ``dead_letters`` table: the only place the ``dlq`` commands read and change."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def store(self, letter: NewDeadLetter) -> bool:
        """Insert (committed when this returns); False when this message was stored before."""
        async with self._pool.acquire() as conn:
            return await conn.fetchval(Q.dead_letter_store, *letter.params()) is not None

    async def select(self, selector: Selector = Selector(), limit: int = DEFAULT_LIMIT) -> list[DeadLetter]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q.dead_letter_select, list(selector.queues), sorted(selector.event_ids),
                                    selector.entity_id, selector.reason, selector.state, limit,
                                    sorted(selector.ids))
        return [DeadLetter(dict(r)) for r in rows]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Open dead letters: queue → reason → count."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(Q.dead_letter_counts)
        counts: dict[str, dict[str, int]] = {}
        for r in rows:
            counts.setdefault(r["queue"], {})[r["reason"]] = r["n"]
        return counts

    async def replay(self, selector: Selector, *, by: str, why: str, limit: int = DEFAULT_LIMIT) -> Marked:
        """Put each open matching letter's event back into the outbox and mark the row, in one transaction
        per letter: a letter replayed already (by anyone) is skipped, so replaying twice does nothing."""
        result = Marked()
        for letter in await self.select(_open(selector), limit):
            async with self._pool.acquire() as conn, conn.transaction():
                if not await conn.fetch(Q.dead_letter_lock_open, [letter.id]):
                    continue  # replayed or purged meanwhile
                try:
                    event = _replayable(letter)
                except ValueError as exc:
                    result.refused.append((letter, str(exc)))
                    continue
                await conn.execute(Q.dead_letter_requeue, event.event_id, event.event_type, event.entity,
                                   event.source, event.entity_id, event.version, event.occurred_at,
                                   bytes(letter.row["body"]).decode("utf-8"), letter.row["replays"] + 1)
                await conn.execute(Q.dead_letter_mark_replayed, letter.id, by, why)
                await conn.execute(Q.outbox_notify)
            result.done.append(letter)
        return result

    async def purge(self, selector: Selector, *, by: str, why: str, limit: int = DEFAULT_LIMIT) -> Marked:
        """Mark open matching letters as purged (kept for the record, never replayed)."""
        letters = {letter.id: letter for letter in await self.select(_open(selector), limit)}
        async with self._pool.acquire() as conn:
            marked = await conn.fetch(Q.dead_letter_mark_purged, list(letters), by, why)
        return Marked(done=[letters[r["id"]] for r in marked])


def _open(selector: Selector) -> Selector:
    return replace(selector, state="open")


def unreplayable(letter: DeadLetter) -> str | None:
    """Why ``replay`` would refuse this letter (its body is not a v1 event: only purge settles it), or None."""
    try:
        _replayable(letter)
    except ValueError as exc:
        return str(exc)
    return None


def _replayable(letter: DeadLetter) -> Any:
    """The v1 event in a letter's body, or ValueError saying why it cannot go back (purge those)."""
    try:
        data = json.loads(bytes(letter.row["body"]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the body is not JSON ({exc}); only purge can settle it") from None
    try:
        return parse_event(data)
    except ContractViolation as exc:
        raise ValueError(f"the body is not a valid v1 event ({exc}); only purge can settle it") from None
