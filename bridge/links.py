"""Entity links (1C object ↔ Bitrix24 object) and the consumer inbox, read and written inside one
transaction per event: the unit of work that makes a Bitrix24 effect happen once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from .sql import Q


@dataclass(frozen=True)
class Link:
    source: str
    onec_type: str
    onec_id: str
    b24_type: str
    b24_id: int
    version: int
    state_hash: str | None
    pushed_state: Any
    in_doubt: bool = False  # a push began and never committed: Bitrix24 may hold part of it
    pending_state: Any = None  # what that push meant to write

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Link:
        return cls(row["source"], row["onec_type"], row["onec_id"], row["b24_type"], row["b24_id"],
                   row["version"], row["state_hash"], row["pushed_state"], row["pushing_since"] is not None,
                   row["pushing_state"])

    @property
    def confirmed_state(self) -> Any:
        """The pushed state when Bitrix24 is known to hold it (what to diff against), else None: after a
        push that died half-way some fields may already have the newer values and others not."""
        return None if self.in_doubt else self.pushed_state


def state_hash(state: Any) -> str:
    """A stable hash of a JSON-able state (key order does not matter)."""
    return hashlib.sha256(json.dumps(state, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class UnitOfWork:
    """One event's transaction: the per-object lock, the inbox, and the links it reads and writes."""

    def __init__(self, conn: asyncpg.Connection, consumer: str, source: str, pool: asyncpg.Pool) -> None:
        self.conn = conn
        self._pool = pool
        self.consumer = consumer
        self.source = source

    async def seen(self, event_id: Any) -> bool:
        return bool(await self.conn.fetchval(Q.inbox_seen, self.consumer, event_id))

    async def mark_processed(self, event_id: Any) -> None:
        await self.conn.execute(Q.inbox_add, self.consumer, event_id)

    async def links(self, onec_type: str, onec_id: str) -> dict[str, Link]:
        """Links of one 1C object, by Bitrix24 type."""
        rows = await self.conn.fetch(Q.links_for, self.source, onec_type, onec_id)
        return {r["b24_type"]: Link.from_row(r) for r in rows}

    async def links_many(self, onec_type: str, onec_ids: list[str]) -> dict[tuple[str, str], Link]:
        rows = await self.conn.fetch(Q.links_for_many, self.source, onec_type, onec_ids)
        return {(r["onec_id"], r["b24_type"]): Link.from_row(r) for r in rows}

    async def save_link(self, onec_type: str, onec_id: str, b24_type: str, b24_id: int, *,
                        version: int = -1, pushed_state: Any = None) -> None:
        await self.conn.execute(
            Q.link_upsert, self.source, onec_type, onec_id, b24_type, b24_id, version,
            state_hash(pushed_state) if pushed_state is not None else None, pushed_state)

    async def begin_push(self, link: Link | None, pending: Any) -> None:
        """Call before the first Bitrix24 write of a push that updates ``link``'s object.

        Bitrix24 calls cannot roll back with this transaction, so the link is marked in doubt in a short
        transaction of its own (one UPDATE on a second pool connection, committed at once, recording
        ``pending``: what the push means to write, so a later push can clear a field it set); this
        transaction's ``save_link`` clears the mark.  If the push dies in between, the link is read in
        doubt and the next push sends the full desired state instead of a diff against a stale one.  Must
        come before this transaction writes the row (else the UPDATE would wait for it: a deadlock).
        """
        if link is None:  # nothing linked yet: found by its key next time, and brought up to date whole
            return
        async with self._pool.acquire() as conn:
            await conn.execute(Q.link_push_begin, link.source, link.onec_type, link.onec_id, link.b24_type, pending)

    async def lock_key(self, key: str) -> None:
        """Hold a lock on a Bitrix24 key shared by sources until this transaction ends (first contact)."""
        await self.conn.execute(Q.key_lock, key)

    async def linked_elsewhere(self, b24_type: str, b24_ids: list[int]) -> set[int]:
        """Those of ``b24_ids`` another source links to."""
        rows = await self.conn.fetch(Q.links_to_b24_elsewhere, b24_type, b24_ids, self.source)
        return {r["b24_id"] for r in rows}

    async def drop_link(self, onec_type: str, onec_id: str, b24_type: str) -> None:
        await self.conn.execute(Q.link_delete, self.source, onec_type, onec_id, b24_type)


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, consumer: str, source: str, lock_key: str) -> AsyncIterator[UnitOfWork]:
    """A transaction holding an advisory lock on ``lock_key`` (one 1C object), committed on normal exit.

    The lock serialises every consumer replica working on the same 1C object, so two versions of one
    counterparty can never race to create two companies.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(Q.link_lock, f"{source}/{lock_key}")
        yield UnitOfWork(conn, consumer, source, pool)
