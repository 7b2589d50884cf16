"""Keep the planner's statistics of the bridge's busiest tables in step with their size.

A new installation's tables grow from empty to tens of thousands of rows within minutes (an initial load,
the first busy hour).  Until autovacuum analyzes them — at best once a minute per database, later on a
busy server — the planner believes them nearly empty, and the plans cached on every pooled connection scan
them whole.  Measured in the end-to-end benchmark (a fresh database, a minute at 50 events/s, then 100/s):
``links_for_many`` read 3,553 buffers per call instead of about 20, an order's facts 1,250, the relay's
confirm mark scanned the whole outbox (14 ms), and PostgreSQL's CPU per event doubled.  So the relay and
the consumers look every few seconds for a table that has more than doubled since its statistics were
gathered (one cheap query) and ``ANALYZE`` it: a table growing from 500 to 100,000 rows is analyzed about
eight times, and every cached plan on it is made again with the new figures.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from .backoff import sleep_or_stop
from .sql import Q

log = logging.getLogger(__name__)

# the tables the hot paths look rows up in (by key, joined to arrays of keys)
TABLES = ("outbox", "inbox", "entity_links", "order_documents", "order_document_links", "order_resync",
          "event_outcomes", "dead_letters")
FEWEST_ROWS = 500  # below this a whole-table read costs about what an index look-up does
EVERY = 5.0  # seconds between two looks


async def refresh(pool: asyncpg.Pool) -> list[str]:
    """ANALYZE the tables whose statistics are stale; returns their names.  Another process analyzing the
    same table at the same moment is not waited for (it is being done)."""
    async with pool.acquire() as conn:
        stale = [r["name"] for r in await conn.fetch(Q.statistics_stale, list(TABLES), FEWEST_ROWS)]
        done = []
        for name in stale:
            if name not in TABLES:  # the query answers only these; never an identifier from elsewhere
                continue
            try:
                async with conn.transaction():
                    await conn.execute("SET LOCAL lock_timeout = '200ms'")
                    await conn.execute(f'ANALYZE "{name}"')
            except asyncpg.LockNotAvailableError:
                continue
            done.append(name)
    if done:
        log.info("planner statistics refreshed", extra={"action": "statistics.analyze", "tables": done})
    return done


async def keep(pool: asyncpg.Pool, stop: asyncio.Event, every: float = EVERY) -> None:
    """:func:`refresh` every ``every`` seconds until ``stop``; a failure is logged and tried again."""
    while not stop.is_set():
        try:
            await refresh(pool)
        except Exception as exc:  # noqa: BLE001 - PostgreSQL away: the next look tries again
            log.warning("could not refresh planner statistics", extra={
                "action": "statistics.failed", "error": f"{type(exc).__name__}: {exc}"})
        await sleep_or_stop(stop, every)
