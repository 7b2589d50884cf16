"""Entity links (1C object ↔ Bitrix24 object) and the consumer inbox: the unit of work that makes a
Bitrix24 effect happen once, in short transactions.

A unit of work never holds a PostgreSQL connection across Bitrix24 calls.  Its first transaction takes
the object's **lease** (a row in ``object_leases``, plus an in-process asyncio lock) and does the reads
(inbox, links, the projection …); :meth:`UnitOfWork.begin_push` — called before the first Bitrix24 write —
commits it and gives the connection back.  What the handler writes afterwards (links, the inbox row) is
kept in memory and written, with the lease released, in the last transaction when the block ends.  An
event that needs no Bitrix24 call (duplicate, stale, unchanged) is one transaction; a push is two.

The lease serialises every consumer and replica working on one 1C object, like the advisory lock of the
old single transaction did: two versions of one counterparty can never race to create two companies.
Work that needs the object only for its first transaction (a document's merge into the order projection)
takes a transaction-level advisory lock instead, with its inbox read (``lease=False``): no lease row is
written and deleted for it.  A
lease is renewed while its push runs; one whose holder died expires (``LEASE_TTL``) and the next consumer
takes it over — the links that push was writing are already marked in doubt (``begin_push``), so the next
push sends the full state.  Waiting for a lease another consumer holds never holds a connection.

Work that only needs to be redone by whoever holds a lease (an order's deal recomputed from facts already
committed) is **handed over** instead of waiting (:meth:`UnitOfWork.take_or_hand_over`): to another task of
this process in memory, to another consumer through ``object_leases.handed_over``.  The holder learns of it
when it gives the lease back (``UnitOfWork.handed_back``) and redoes the work.  A failed claim inside a
transaction keeps the holder's row locked, so a holder cannot give the lease back between the failed claim
and the hand-over without seeing it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from . import metrics
from .b24 import calls as b24_calls
from .sql import Q

log = logging.getLogger(__name__)

LEASE_TTL = 20.0  # seconds a lease outlives its holder's last renewal (a dead consumer's keys wait this long)
LEASE_RENEW = 5.0  # seconds between renewals of the leases of running pushes
RENEW_RETRY = (0.1, 0.3, 1.0)  # pauses before renewing again a lease row someone else held at that moment
LEASE_POLL = (0.02, 1.0)  # first and longest pause between attempts at a lease another consumer holds


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

    @property
    def confirmed_hash(self) -> str | None:
        """:func:`state_hash` of :attr:`confirmed_state`: the digest saved with it (the state as it was
        pushed, not as read back), computed only for a row without one; None when there is none."""
        if self.in_doubt or self.pushed_state is None:
            return None
        return self.state_hash or state_hash(self.pushed_state)


def state_hash(state: Any) -> str:
    """A stable hash of a JSON-able state (key order does not matter)."""
    return hashlib.sha256(json.dumps(state, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


class Leases:
    """This process's side of the leases: its holder name, an asyncio lock per key (tasks of one process
    queue in memory, in arrival order), and the renewal of the leases of running pushes."""

    def __init__(self, pool: asyncpg.Pool, *, ttl: float = LEASE_TTL, renew_every: float = LEASE_RENEW) -> None:
        self.pool = pool
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl = ttl
        self._renew_every = renew_every
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._held: dict[str, int] = {}  # committed leases of this process (key → units of work holding it)
        self._handed: dict[str, int] = {}  # key → hand-overs to the task holding its lock (see hand_over)
        self._renewer: asyncio.Task | None = None

    @asynccontextmanager
    async def local(self, key: str, handed_back: set[str] | None = None) -> AsyncIterator[None]:
        """This process's lock on ``key``; when it is given back, the hand-overs made to its holder
        meanwhile are moved to ``handed_back`` (in the same step, so none falls between two holders)."""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        held = False
        try:
            async with lock:
                held = True
                yield
        finally:
            if held and self._handed.pop(key, 0) and handed_back is not None:  # not a waiter cancelled
                handed_back.add(key)
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def locked(self, key: str) -> bool:
        entry = self._locks.get(key)
        return entry is not None and entry[0].locked()

    def hand_over(self, key: str) -> bool:
        """Leave the work on ``key`` to the task of this process holding its lock, which redoes it after
        giving the lock back; False when nobody holds it now (the caller does the work itself).  The
        caller's facts must be committed before: the holder reads them after this."""
        if not self.locked(key):
            return False
        self._handed[key] = self._handed.get(key, 0) + 1
        return True

    def committed(self, keys: list[str]) -> None:
        for key in keys:
            self._held[key] = self._held.get(key, 0) + 1
        if self._held and (self._renewer is None or self._renewer.done()):
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    def released(self, keys: list[str]) -> None:
        for key in keys:
            left = self._held.get(key, 0) - 1
            if left > 0:
                self._held[key] = left
            else:
                self._held.pop(key, None)

    async def _renew(self) -> None:
        while self._held:
            await asyncio.sleep(self._renew_every)
            keys = list(self._held)
            if not keys:
                return
            await self.renew(keys)

    async def renew(self, keys: list[str]) -> None:
        """Extend these leases.  The statement skips a row another transaction holds for a moment (a
        hand-over, another consumer's failed claim): those are tried again after a short pause, a few times,
        so a busy order's lease does not run out while its push is still running."""
        for attempt in range(len(RENEW_RETRY) + 1):
            try:
                async with self.pool.acquire() as conn:
                    renewed = {r["key"] for r in await conn.fetch(Q.lease_renew, keys, self.holder, self.ttl)}
            except Exception as exc:  # noqa: BLE001 - a lost database: the pushes fail on their own
                log.warning("could not renew leases", extra={"action": "lease.renew_failed",
                                                             "error": f"{type(exc).__name__}: {exc}"})
                return
            keys = [k for k in keys if k not in renewed and k in self._held]  # (given back meanwhile: done)
            if not keys or attempt == len(RENEW_RETRY):
                return
            await asyncio.sleep(RENEW_RETRY[attempt])


_LEASES: dict[int, Leases] = {}  # by id(pool) (an asyncpg pool takes no weak reference)


def leases_of(pool: asyncpg.Pool) -> Leases:
    """The one :class:`Leases` of a pool (of this process)."""
    leases = _LEASES.get(id(pool))
    if leases is None or leases.pool is not pool:
        for key in [k for k, v in _LEASES.items() if v.pool.is_closing()]:
            del _LEASES[key]
        leases = _LEASES[id(pool)] = Leases(pool)
    return leases


_DROP = object()  # a buffered drop_link


class UnitOfWork:
    """One event's work: the leases it holds, the inbox, and the links it reads and writes.

    Attached (a connection in a transaction) from the start until :meth:`detach` (``begin_push`` detaches):
    reads and writes run in that transaction.  Detached: reads are single statements (links already read
    come from memory), writes wait for the last transaction.
    """

    def __init__(self, pool: asyncpg.Pool, consumer: str, source: str, leases: Leases) -> None:
        self._pool = pool
        self._leases = leases
        self.consumer = consumer
        self.source = source
        self._conn: asyncpg.Connection | None = None
        self._tx: Any = None
        self._local: list[tuple[str, Any]] = []  # entered in-process locks (key, async context manager)
        self._let_go: list[str] = []  # in-process locks to leave once the open transaction commits
        self._claimed: list[str] = []  # leases taken in the open transaction (not committed yet)
        self._held: list[str] = []  # leases committed
        self._xact_key: str | None = None  # to lock with the first statement (until the first transaction ends)
        self._xact_local: str | None = None  # that key, held in this process until given back or the end
        self._known: dict[tuple[str, str], dict[str, Link]] = {}  # links read (complete per 1C object)
        self._writes: dict[tuple[str, str, str], Any] = {}  # buffered link upserts (Link) and drops (_DROP)
        self._processed: list[Any] = []  # buffered inbox rows
        self._recomputed: list[tuple[str, str, str, str]] = []  # settled order_resync rows (doc, order, stamp)
        self._handed_local: list[str] = []  # keys to hand to this process's holder once committed
        self.handed_back: set[str] = set()  # leases another task or consumer handed work over on
        self.event_id: Any = None  # the event this unit of work handles: its own settling does not record it
        self._hook: Any = None  # the before-Bitrix24-call hook's token while attached
        self.transactions = 0  # committed, for tests and the benchmark

    # --- the connection ------------------------------------------------------------------------------

    @property
    def conn(self) -> asyncpg.Connection:
        """The open transaction's connection (only while attached: see :meth:`connection`)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is detached (a push began): use `await uow.connection()`")
        return self._conn

    @property
    def attached(self) -> bool:
        return self._conn is not None

    async def connection(self) -> asyncpg.Connection:
        """The open transaction's connection, beginning a new short transaction when detached (writes
        saved meanwhile go in it).  Call :meth:`detach` before the next Bitrix24 call."""
        if self._conn is None:
            await self._attach()
            await self._lock_xact()
            await self._flush()
        else:
            await self._lock_xact()
        return self._conn  # type: ignore[return-value]

    async def _lock_xact(self) -> None:
        """The transaction-level lock of a ``lease=False`` unit of work, unless :meth:`seen` took it."""
        if self._xact_key is not None and self._conn is not None:
            key, self._xact_key = self._xact_key, None
            await self._conn.execute(Q.object_lock_xact, key)

    async def _attach(self) -> None:
        conn = await self._pool.acquire()
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException:
            await self._pool.release(conn)
            raise
        self._conn, self._tx = conn, tx
        self._hook = b24_calls.set_before_call(self.detach)  # a Bitrix24 call of this task detaches first

    async def detach(self) -> None:
        """Commit the open transaction and give its connection back (before any Bitrix24 call)."""
        if self._conn is None:
            return
        if self._xact_key is not None:  # the first transaction would commit unprotected
            raise RuntimeError("a lease=False unit of work must read the inbox (seen) or ask for its "
                               "connection before anything else")
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        self._unhook()
        try:
            await tx.commit()
        except BaseException:
            await self._rollback(conn, tx)
            self._claimed.clear()
            raise
        finally:
            await self._pool.release(conn)
        self.transactions += 1
        if self._claimed:
            self._leases.committed(self._claimed)
            self._held.extend(self._claimed)
            self._claimed = []
        if self._let_go:
            let_go, self._let_go = self._let_go, []
            gone = [k for k in let_go if k in self._held]  # given back in the transaction just committed
            for key in gone:
                self._held.remove(key)
            self._leases.released(gone)
            await self._leave_local(let_go)

    def _unhook(self) -> None:
        if self._hook is not None:
            b24_calls.reset_before_call(self._hook)
            self._hook = None

    @staticmethod
    async def _rollback(conn: asyncpg.Connection, tx: Any) -> None:
        try:
            await tx.rollback()
        except Exception:  # noqa: BLE001, S110 - the connection is broken: the pool discards it
            pass

    # --- leases --------------------------------------------------------------------------------------

    async def take(self, key: str) -> None:
        """Hold the lease on ``key`` (``source/…`` is not added) until this unit of work ends."""
        if key in self._claimed or key in self._held:
            return
        if self._leases.locked(key) and self._conn is not None:
            await self.detach()  # never wait for another task while holding a connection
        await self._enter_local(key)
        await self._claim(key)

    async def take_or_hand_over(self, key: str) -> bool:
        """Hold the lease on ``key`` (True), or — when another task or consumer holds it — leave the work to
        that holder (False): it recomputes once more after giving the lease back, from facts that include
        what this unit of work wrote, so nothing waits for the lease holding a prefetch slot.  The
        hand-over to another task of this process is made once this unit of work has committed."""
        if key in self._claimed or key in self._held:
            return True
        if self._leases.locked(key):
            self._handed_local.append(key)
            metrics.HAND_OVERS.labels("this_process").inc()
            return False
        await self._lock_xact()  # a document's lock before any lease row's
        local = self._leases.local(key, self.handed_back)
        await local.__aenter__()  # nobody holds it: taken without waiting
        self._local.append((key, local))  # left by _abort if a statement below fails
        holder, ttl = self._leases.holder, self._leases.ttl
        while True:
            if self._conn is not None:  # a failed claim keeps the row locked: the hand-over finds it
                if await self._conn.fetchval(Q.lease_claim, key, holder, ttl):
                    self._claimed.append(key)
                    break
                handed = await self._conn.fetchval(Q.lease_hand_over, key, holder)
            else:
                async with self._pool.acquire() as conn:
                    taken = await conn.fetchval(Q.lease_claim, key, holder, ttl)
                    handed = None if taken else await conn.fetchval(Q.lease_hand_over, key, holder)
                self.transactions += 1
                if taken:
                    self._leases.committed([key])
                    self._held.append(key)
                    break
            if handed:
                await self._leave_local([key])
                metrics.HAND_OVERS.labels("another_process").inc()
                return False
            # its holder gave it back between the two statements: claim it again
        return True

    async def _enter_local(self, key: str) -> None:
        waits = self._leases.locked(key)
        started = time.monotonic()
        local = self._leases.local(key, self.handed_back)
        await local.__aenter__()
        self._local.append((key, local))
        if waits:
            metrics.LEASE_WAIT.labels("this_process").observe(time.monotonic() - started)

    async def _claim(self, key: str) -> None:
        await self._lock_xact()
        delay = LEASE_POLL[0]
        waiting_since: float | None = None  # another consumer held it at the first attempt
        while True:
            if self._conn is not None:
                if await self._conn.fetchval(Q.lease_claim, key, self._leases.holder, self._leases.ttl):
                    self._claimed.append(key)
                    break
                await self.detach()  # another consumer's push holds it: wait without a connection
            else:
                async with self._pool.acquire() as conn:
                    taken = await conn.fetchval(Q.lease_claim, key, self._leases.holder, self._leases.ttl)
                self.transactions += 1
                if taken:
                    self._leases.committed([key])
                    self._held.append(key)
                    break
            waiting_since = waiting_since or time.monotonic()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LEASE_POLL[1])
        if waiting_since is not None:
            metrics.LEASE_WAIT.labels("another_process").observe(time.monotonic() - waiting_since)

    async def _release_all(self) -> None:
        self._let_go = []
        while self._local:
            await self._local.pop()[1].__aexit__(None, None, None)

    async def give_back(self, key: str) -> None:
        """Give the lease on ``key`` back before this unit of work ends (attached: with the open
        transaction, so what it wrote commits with the release; the next holder's claim waits for that
        commit): the rest of the work needs other leases only."""
        if key in self._claimed:
            await self.conn.execute(Q.lease_release, [key], self._leases.holder)
            self._claimed.remove(key)
            self._let_go.append(key)  # this process's next task for it enters once that commits
            return
        if key == self._xact_local:  # a transaction-level lock: PostgreSQL's ends with the transaction
            self._xact_local = None
            if self._conn is not None:
                self._let_go.append(key)
            else:
                await self._leave_local([key])
            return
        if key in self._held:
            if self._conn is not None:  # held until the release commits (a rollback keeps it ours)
                await self._conn.execute(Q.lease_release, [key], self._leases.holder)
                self._let_go.append(key)
                return
            await self._execute(Q.lease_release, [key], self._leases.holder)
            self._held.remove(key)
            self._leases.released([key])
            await self._leave_local([key])

    async def _leave_local(self, keys: list[str]) -> None:
        for key in keys:
            entry = next((e for e in self._local if e[0] == key), None)
            if entry is not None:
                self._local.remove(entry)
                await entry[1].__aexit__(None, None, None)

    # --- the inbox -----------------------------------------------------------------------------------

    async def seen(self, event_id: Any) -> bool:
        if self._xact_key is not None and self._conn is not None:  # the lock and the read in one round trip
            key, self._xact_key = self._xact_key, None
            return bool(await self._conn.fetchval(Q.inbox_seen_locking, self.consumer, event_id, key))
        return bool(await self._fetchval(Q.inbox_seen, self.consumer, event_id))

    async def seen_or_links(self, event_id: Any, onec_type: str, onec_id: str) -> dict[str, Link] | None:
        """None when the inbox has the event, else the 1C object's links (as :meth:`links`): one round trip."""
        if (onec_type, onec_id) in self._known or self._xact_key is not None:
            return None if await self.seen(event_id) else await self.links(onec_type, onec_id)
        rows = await self._fetch(Q.links_for_seen, self.source, onec_type, onec_id, self.consumer, event_id)
        if rows[0]["seen"]:
            return None
        self._known[(onec_type, onec_id)] = self._overlaid(
            onec_type, onec_id, [r for r in rows if r["b24_type"] is not None])
        return dict(self._known[(onec_type, onec_id)])

    async def mark_processed(self, event_id: Any) -> None:
        if self._conn is not None:
            await self._conn.execute(Q.inbox_add, self.consumer, event_id)
        else:
            self._processed.append(event_id)

    # --- links ---------------------------------------------------------------------------------------

    async def links(self, onec_type: str, onec_id: str) -> dict[str, Link]:
        """Links of one 1C object, by Bitrix24 type."""
        if (onec_type, onec_id) not in self._known:
            rows = await self._fetch(Q.links_for, self.source, onec_type, onec_id)
            self._known[(onec_type, onec_id)] = self._overlaid(onec_type, onec_id, rows)
        return dict(self._known[(onec_type, onec_id)])

    async def links_many(self, onec_type: str, onec_ids: list[str]) -> dict[tuple[str, str], Link]:
        """Links of several 1C objects of one type, by (1C id, Bitrix24 type); those read before (or
        saved by this unit of work) come from memory."""
        await self.read_links((onec_type, i) for i in onec_ids)
        return {(i, b24_type): link for i in dict.fromkeys(onec_ids)
                for b24_type, link in self._known[(onec_type, i)].items()}

    async def read_links(self, objects: Iterable[tuple[str, str]]) -> None:
        """Read the links of several 1C objects (type, id) of any types in one statement, for the
        :meth:`links` and :meth:`links_many` calls that follow; those read before come from memory."""
        missing = sorted({o for o in objects if o not in self._known})
        if not missing:
            return
        types, ids = [t for t, _ in missing], [i for _, i in missing]
        rows = await self._fetch(Q.links_for_many, self.source, types, ids)
        found: dict[tuple[str, str], list[asyncpg.Record]] = {}
        for r in rows:
            found.setdefault((r["onec_type"], r["onec_id"]), []).append(r)
        for key in missing:
            self._known[key] = self._overlaid(*key, found.get(key, []))

    def _overlaid(self, onec_type: str, onec_id: str, rows: list[asyncpg.Record]) -> dict[str, Link]:
        """Links read from the database with this unit of work's unwritten saves and drops on top."""
        links = {r["b24_type"]: Link.from_row(r) for r in rows}
        for (t, i, b24_type), write in self._writes.items():
            if (t, i) == (onec_type, onec_id):
                if write is _DROP:
                    links.pop(b24_type, None)
                else:
                    links[b24_type] = write
        return links

    async def prefetch(self, onec_type: str, onec_ids: list[str]) -> None:
        """Read links a push will need while still attached (one statement instead of one later)."""
        await self.links_many(onec_type, onec_ids)

    async def save_link(self, onec_type: str, onec_id: str, b24_type: str, b24_id: int, *,
                        version: int = -1, pushed_state: Any = None) -> None:
        digest = state_hash(pushed_state) if pushed_state is not None else None
        link = Link(self.source, onec_type, onec_id, b24_type, b24_id, version, digest, pushed_state)
        known = self._known.get((onec_type, onec_id))
        if known is not None:
            known[b24_type] = link
        if self._conn is not None:
            await self._conn.execute(Q.link_upsert, self.source, onec_type, onec_id, b24_type, b24_id, version,
                                     digest, pushed_state)
        else:
            self._writes[(onec_type, onec_id, b24_type)] = link

    async def begin_push(self, link: Link | None, pending: Any) -> None:
        """Call before the first Bitrix24 write of a push (whether it updates ``link``'s object or makes a
        new one): the open transaction marks ``link`` in doubt, recording ``pending`` (what the push means
        to write, so a later push can clear a field it set), commits and gives its connection back — no
        connection is held while Bitrix24 is called.  The last transaction's ``save_link`` clears the mark;
        if the push dies in between, the link is read in doubt and the next push sends the full desired
        state instead of a diff against a stale one."""
        if link is not None:
            await self._execute(Q.link_push_begin, link.source, link.onec_type, link.onec_id, link.b24_type,
                                pending)
        await self.detach()

    async def lock_key(self, key: str) -> None:
        """Hold a lease on a Bitrix24 key shared by sources until this unit of work ends (first contact)."""
        await self.take(f"key:{key}")

    async def linked_elsewhere(self, b24_type: str, b24_ids: list[int]) -> set[int]:
        """Those of ``b24_ids`` another source links to."""
        if not b24_ids:
            return set()
        rows = await self._fetch(Q.links_to_b24_elsewhere, b24_type, b24_ids, self.source)
        return {r["b24_id"] for r in rows}

    async def drop_link(self, onec_type: str, onec_id: str, b24_type: str) -> None:
        known = self._known.get((onec_type, onec_id))
        if known is not None:
            known.pop(b24_type, None)
        if self._conn is not None:
            await self._conn.execute(Q.link_delete, self.source, onec_type, onec_id, b24_type)
        else:
            self._writes[(onec_type, onec_id, b24_type)] = _DROP

    def recomputed(self, order_id: str, resync: Iterable[tuple[str, str, str]]) -> None:
        """The order's deal was recomputed from its facts: the ``order_resync`` rows read with them
        (``resync``: doc_type, doc_id, row version) go in the last statement, so they stay if the unit of
        work fails and the event comes back for them; a row inserted or rewritten after the facts were read
        stays too."""
        self._recomputed.extend((doc_type, doc_id, order_id, stamp) for doc_type, doc_id, stamp in resync)

    # --- statements ----------------------------------------------------------------------------------

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        if self._conn is not None:
            await self._lock_xact()
            return await self._conn.fetch(query, *args)
        self.transactions += 1
        return await self._pool.fetch(query, *args)

    async def _fetchval(self, query: str, *args: Any) -> Any:
        if self._conn is not None:
            await self._lock_xact()
            return await self._conn.fetchval(query, *args)
        self.transactions += 1
        return await self._pool.fetchval(query, *args)

    async def _execute(self, query: str, *args: Any) -> None:
        if self._conn is not None:
            await self._lock_xact()
            await self._conn.execute(query, *args)
        else:
            self.transactions += 1
            await self._pool.execute(query, *args)

    async def _flush(self) -> None:
        """Write what was saved while detached, in the open transaction."""
        conn = self.conn
        upserts = [(k, v) for k, v in self._writes.items() if v is not _DROP]
        drops = [k for k, v in self._writes.items() if v is _DROP]
        self._writes = {}
        if upserts:
            await conn.execute(Q.link_upsert_many, self.source, *(list(c) for c in zip(*(
                (t, i, bt, link.b24_id, link.version, link.state_hash,
                 json.dumps(link.pushed_state) if link.pushed_state is not None else None)
                for (t, i, bt), link in upserts))))
        if drops:
            await conn.execute(Q.link_delete_many, self.source, *(list(c) for c in zip(*drops)))
        for event_id in self._processed:
            await conn.execute(Q.inbox_add, self.consumer, event_id)
        self._processed = []

    def _finish_args(self) -> tuple:
        """uow_finish's parameters: the buffered writes (taken) and every lease this unit of work holds."""
        upserts = [(k, v) for k, v in self._writes.items() if v is not _DROP]
        drops = [k for k, v in self._writes.items() if v is _DROP]
        self._writes = {}
        rows = [(t, i, bt, link.b24_id, link.version, link.state_hash,
                 json.dumps(link.pushed_state) if link.pushed_state is not None else None)
                for (t, i, bt), link in upserts]
        upsert_columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(7)]
        drop_columns = [list(c) for c in zip(*drops)] if drops else [[], [], []]
        processed, self._processed = self._processed, []
        recomputed, self._recomputed = self._recomputed, []
        settled = [list(c) for c in zip(*recomputed)] if recomputed else [[], [], [], []]
        return (self.source, *upsert_columns, *drop_columns, self.consumer, processed,
                self._held + self._claimed, self._leases.holder, *settled, self.event_id)

    def _finished(self, row: asyncpg.Record | None) -> None:
        """What the last statement answered: leases handed back by another consumer, and the events that
        handed their order over whose facts this push has now applied (recorded; their latency ends here)."""
        if row is None:
            return
        self.handed_back.update(row["handed_back"])
        now = time.time()
        for entity, received_at in zip(row["settled_entities"], row["settled_received_at"], strict=True):
            metrics.APPLY_LATENCY.labels(entity).observe(max(now - received_at, 0.0))

    async def _commit(self) -> None:
        """The last transaction: buffered writes, recomputed orders, the leases given back — one
        statement in a transaction of its own when detached (the usual end of a push)."""
        try:
            if self._conn is None:
                if self._writes or self._processed or self._held or self._recomputed:
                    self._finished(await self._pool.fetchrow(Q.uow_finish, *self._finish_args()))
                    self.transactions += 1
            else:
                row = await self._conn.fetchrow(Q.uow_finish, *self._finish_args())
                self._claimed = []
                await self.detach()
                self._finished(row)
            self._leases.released(self._held)
            self._held = []
        finally:
            await self._abort()
        for key in self._handed_local:  # committed: its holder may read our facts now
            if not self._leases.hand_over(key):
                self.handed_back.add(key)  # it gave the lease back meanwhile: ours to redo
        self._handed_local = []

    async def _abort(self) -> None:
        """After an error: the open transaction rolled back, leases already committed given back."""
        try:
            if self._conn is not None:
                conn, tx = self._conn, self._tx
                self._conn = self._tx = None
                self._unhook()
                try:
                    await self._rollback(conn, tx)
                finally:  # even when cancelled again: a connection left out would keep its locks
                    await self._pool.release(conn)
            self._claimed = []
            if self._held:
                held, self._held = self._held, []
                self._leases.released(held)
                try:
                    async with self._pool.acquire() as conn:
                        await conn.execute(Q.lease_release, held, self._leases.holder)
                except Exception as exc:  # noqa: BLE001 - they expire (LEASE_TTL); this process may retake them
                    log.warning("could not release leases", extra={"action": "lease.release_failed",
                                                                   "error": f"{type(exc).__name__}: {exc}"})
        finally:
            await self._release_all()


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, consumer: str, source: str,
                       lock_key: str | None, *, lease: bool = True) -> AsyncIterator[UnitOfWork]:
    """The work on one 1C object (``lock_key``) under its lease, in short transactions (see the module).

    The lease serialises every consumer replica working on the same 1C object, so two versions of one
    counterparty can never race to create two companies.  On normal exit what was saved is written and the
    lease released in one transaction; on an error nothing buffered is written (what the first transaction
    committed — a link marked in doubt — stays).  ``lease=False``: the object is held only until the first
    transaction ends (in PostgreSQL by a transaction-level advisory lock taken with the first statement,
    usually :meth:`UnitOfWork.seen`; in this process until :meth:`UnitOfWork.give_back` or the end).
    """
    uow = UnitOfWork(pool, consumer, source, leases_of(pool))
    try:
        if lock_key is not None:  # None: the caller takes its leases itself (take, take_or_hand_over)
            await uow._enter_local(f"{source}/{lock_key}")  # queue behind this process's tasks first
        await uow._attach()
        if lock_key is not None and not lease:
            uow._xact_key = uow._xact_local = f"{source}/{lock_key}"
        elif lock_key is not None:
            await uow._claim(f"{source}/{lock_key}")
        yield uow
    except BaseException:
        await uow._abort()
        raise
    await uow._commit()
