"""Where is a 1C object or event on its way to Bitrix24?  Outbox → relay → consumers → links, plus dead
letters and, for orders, the projection: the answer to "did the bridge get it, and what did it make?"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from . import dlq
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


async def trace(pool: asyncpg.Pool, ident: str, limit: int = 20) -> Trace:
    """``ident`` is an event_id or a 1C object's UUID (counterparty, product, order, document)."""
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
    table = dlq.DeadLetterTable(pool)
    found = await table.select(dlq.Selector(entity_id=entity, state="all"), limit)
    if event is None:  # an event_id whose event left the outbox (or never had an entity header)
        found += [letter for letter in await table.select(dlq.Selector(event_ids=frozenset({str(key)}), state="all"))
                  if letter.id not in {f.id for f in found}]
    result.dead_letters = [letter.summary() for letter in found]
    return result
