"""Pipeline health per entity, read from the outbox, the consumers' inboxes and the dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .. import topology
from ..sql import Q

WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}  # the outbox keeps published events 7 days
DEFAULT_WINDOW = "24h"


@dataclass(frozen=True)
class EntityHealth:
    entity: str
    consumer: str | None  # the consumer that applies it (None: no consumer takes it; it goes unrouted)
    ingested: int = 0
    published: int = 0
    applied: int = 0
    waiting: int = 0
    dead_lettered: int = 0
    oldest_waiting_seconds: float | None = None
    median_apply_seconds: float | None = None
    max_apply_seconds: float | None = None
    last_received_at: datetime | None = None
    last_applied_at: datetime | None = None
    unpublished: int = 0  # not windowed: every row the relay has not published yet
    oldest_unpublished_seconds: float | None = None


def routes() -> dict[str, str]:
    """Entity → the consumer target whose queue is bound to it."""
    return {entity: target.name for target in topology.TARGETS.values() for entity, _ in target.sources}


async def pipeline(pool: asyncpg.Pool, window_seconds: float) -> list[EntityHealth]:
    """One row per known entity (zeros when nothing came), plus any other entity the outbox holds."""
    route = routes()
    async with pool.acquire() as conn:
        rows = {r["entity"]: dict(r) for r in await conn.fetch(
            Q.console_pipeline, float(window_seconds), list(route), list(route.values()))}
        backlog = {r["entity"]: r for r in await conn.fetch(Q.outbox_backlog)}
    out = []
    for entity in dict.fromkeys([*topology.ENTITIES, *rows, *backlog]):
        found = rows.get(entity, {"entity": entity})
        pending = backlog.get(entity)
        out.append(EntityHealth(**{**found, "consumer": route.get(entity),
                                   "unpublished": pending["pending"] if pending else 0,
                                   "oldest_unpublished_seconds": pending["oldest_age"] if pending else None}))
    return out
