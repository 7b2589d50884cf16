"""Where is a 1C object or event on its way to Bitrix24?  Outbox → relay → consumers → links, plus dead
letters and, for orders, the projection: the answer to "did the bridge get it, and what did it make?"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from . import dlq
from .broker import Connect
from .sql import Q


@dataclass
class Trace:
    query: str
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    order_documents: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.events or self.links or self.order_documents or self.dead_letters)


async def trace(pool: asyncpg.Pool, connect: Connect | None, ident: str, limit: int = 20) -> Trace:
    """``ident`` is an event_id or a 1C object's UUID (counterparty, product, order, document); dead letters
    are looked up when ``connect`` (RabbitMQ) is given."""
    try:
        key = uuid.UUID(ident)
    except ValueError as exc:
        raise ValueError(f"{ident!r} is not a UUID (give an event_id or a 1C object's УникальныйИдентификатор)") from exc
    result = Trace(str(key))
    async with pool.acquire() as conn:
        event = await conn.fetchrow(Q.trace_event, key)
        entity = event["entity_id"] if event is not None else str(key)
        result.events = [dict(r) for r in await conn.fetch(Q.trace_events, uuid.UUID(entity), limit)]
        result.links = [dict(r) for r in await conn.fetch(Q.trace_links, entity)]
        result.order_documents = [dict(r) for r in await conn.fetch(Q.trace_order_documents, uuid.UUID(entity))]
    if connect is not None:
        async with dlq.DeadLetters(connect) as letters:
            found = await letters.list(dlq.dead_letter_queues(), dlq.Selector(entity_id=entity))
            if event is not None:
                found += [l for l in await letters.list(dlq.dead_letter_queues(),
                                                         dlq.Selector(event_ids=frozenset({str(key)})))
                          if l.event_id not in {f.event_id for f in found}]
        result.dead_letters = [l.summary() for l in found]
    return result
