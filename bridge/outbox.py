"""The PostgreSQL outbox: the ingest stores events here (commit before 2xx), the relay drains it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from . import edges
from .sql import Q
from .wire import OutboxMessage


@dataclass(frozen=True)
class NewEvent:
    """A validated event ready to store; ``body`` is its JSON text."""

    event_id: uuid.UUID
    event_type: str
    entity: str
    source: str
    entity_id: uuid.UUID
    version: int
    occurred_at: datetime
    body: str


@dataclass(frozen=True)
class Backlog:
    entity: str
    pending: int
    oldest_age: float


class Claim:
    """Rows locked by one relay transaction, held open on its own connection until :meth:`commit` or
    :meth:`release`; ``mark`` records those whose confirm arrived.  The relay keeps two claims open at once
    (the next batch is claimed while the previous one's confirms arrive); ``SKIP LOCKED`` keeps them apart."""

    def __init__(self, conn: asyncpg.Connection, release: Any, rows: list[asyncpg.Record]) -> None:
        self._conn = conn
        self._release = release
        self.ids = [r["id"] for r in rows]
        self.messages = [
            OutboxMessage(r["event_id"], r["event_type"], r["entity"], r["source"], r["entity_id"],
                          r["version"], r["body"].encode(), r["replays"], r["received_at"])
            for r in rows
        ]

    async def mark(self, ids: list[int]) -> None:
        """Mark published, all in one statement."""
        if ids:
            await self._conn.execute(Q.outbox_mark_published, ids)

    async def commit(self) -> None:
        try:
            await self._conn.execute("COMMIT")
        finally:
            await self.release()

    async def release(self) -> None:
        """End the claim without committing (rollback): its rows stay unpublished for the next claim.
        Never raises: a connection that cannot roll back is closed, which rolls back too."""
        if self._release is None:
            return
        release, self._release = self._release, None
        try:
            if not self._conn.is_closed() and self._conn.is_in_transaction():
                await asyncio.wait_for(self._conn.execute("ROLLBACK"), 5)
        except Exception:  # noqa: BLE001 - PostgreSQL away or the connection broken: closing it rolls back
            # a connection lost mid-statement has already detached asyncpg's pool proxy (every call on it then
            # raises "released back to the pool"): the server has rolled back, nothing is left to close
            with suppress(asyncpg.InterfaceError):
                self._conn.terminate()
        finally:
            await release()


def _columns(events: list[NewEvent]) -> tuple[list, ...]:
    """The parallel arrays of ``outbox_insert``, one element per event."""
    return ([e.event_id for e in events], [e.event_type for e in events], [e.entity for e in events],
            [e.source for e in events], [e.entity_id for e in events], [e.version for e in events],
            [e.occurred_at for e in events], [e.body for e in events])


class Outbox:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def store(self, events: list[NewEvent]) -> set[uuid.UUID]:
        """Insert in one transaction; returns the event_ids stored now (the rest were already there)."""
        if not events:
            return set()
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(Q.outbox_insert, *_columns(events))
            if rows:
                await conn.execute(Q.outbox_notify)
        return {r["event_id"] for r in rows}

    async def store_isolated(self, events: list[NewEvent]) -> tuple[set[uuid.UUID], dict[int, str]]:
        """Like :meth:`store`, but one event PostgreSQL refuses (a data error the validation let through)
        cannot fail the others: the batch is retried event by event, each under its own savepoint, in one
        transaction.  Returns the event_ids stored now and ``{index: why}`` for the refused events.
        Any other failure of PostgreSQL (away, read-only, a timeout, a missing table…) raises
        :class:`~bridge.errors.InfrastructureError` and nothing is stored: the sender retries."""
        if not events:
            return set(), {}
        with edges.postgres("outbox store", every_error=True):
            async with self._pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        rows = await conn.fetch(Q.outbox_insert, *_columns(events))
                        if rows:
                            await conn.execute(Q.outbox_notify)
                    return {r["event_id"] for r in rows}, {}
                except Exception as exc:
                    if not edges.refuses_data(exc):
                        raise
                stored: set[uuid.UUID] = set()
                refused: dict[int, str] = {}
                async with conn.transaction():
                    for index, event in enumerate(events):
                        try:
                            async with conn.transaction():
                                rows = await conn.fetch(Q.outbox_insert, *_columns([event]))
                        except Exception as exc:
                            if not edges.refuses_data(exc):
                                raise
                            refused[index] = f"{type(exc).__name__}: {exc}"
                            continue
                        stored.update(r["event_id"] for r in rows)
                    if stored:
                        await conn.execute(Q.outbox_notify)
                return stored, refused

    async def open_claim(self, limit: int) -> Claim:
        """Lock up to ``limit`` unpublished rows in a transaction of their own; the caller ends it with
        :meth:`Claim.commit` or :meth:`Claim.release` (a crash releases the locks: the rows stay unpublished)."""
        conn = await self._pool.acquire()
        try:
            await conn.execute("BEGIN")
            rows = await conn.fetch(Q.outbox_claim, limit)
        except BaseException:
            await Claim(conn, lambda: self._pool.release(conn), []).release()
            raise
        return Claim(conn, lambda: self._pool.release(conn), rows)

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[Claim]:
        """Lock up to ``limit`` unpublished rows for the duration of the block (commit on normal exit)."""
        claim = await self.open_claim(limit)
        try:
            yield claim
        except BaseException:
            await claim.release()
            raise
        await claim.commit()

    async def backlog(self) -> list[Backlog]:
        async with self._pool.acquire() as conn:
            return [Backlog(r["entity"], r["pending"], r["oldest_age"]) for r in await conn.fetch(Q.outbox_backlog)]

    async def purge(self, retention: timedelta, limit: int = 10_000) -> int:
        async with self._pool.acquire() as conn:
            status = await conn.execute(Q.outbox_purge, datetime.now(UTC) - retention, limit)
        return int(status.split()[-1])

    async def purge_inbox(self, retention: timedelta) -> int:
        """Forget processed event ids older than ``retention`` (the consumers' links keep versions)."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(Q.inbox_purge, datetime.now(UTC) - retention)
        return int(status.split()[-1])

    async def get(self, event_id: uuid.UUID) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            return await conn.fetchrow(Q.outbox_get, event_id)
