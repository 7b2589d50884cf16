"""Statements that lock several lease rows lock them in key order, and the renewal never waits for a row.

Found in a first load (benchmarks/initial_load.py): a product's unit of work holds its own lease and its
shared key's (``key:product/…``) and gave both back in the order it took them, while the renewal locked the
process's leases in key order — PostgreSQL broke the cycle by failing one of them, and the product went to
a retry tier.  Each test holds one row from a third connection and asks which rows the statement under
test locked meanwhile (``FOR UPDATE NOWAIT``), so the order is observed, not raced.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bridge.links import Leases
from bridge.sql import Q
from tests.helpers import finish_args, waiting_for_a_lock

HOLDER = "consumer-1"
SOURCE = "ut103-main"
FIRST, SECOND = "key:product/a1", "ut103-main/product/7f6f8e2a-0000-4000-8000-000000000001"  # FIRST < SECOND


async def _hold(pool, *keys: str) -> None:
    await pool.executemany("INSERT INTO object_leases (key, holder, expires_at) "
                           "VALUES ($1, $2, now() + interval '20 seconds')", [(k, HOLDER) for k in keys])


async def _locked(pool, key: str) -> bool:
    """Whether another transaction holds ``key``'s row."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            await conn.execute("SELECT 1 FROM object_leases WHERE key = $1 FOR UPDATE NOWAIT", key)
        except asyncpg.LockNotAvailableError:
            return True
    return False


@pytest.mark.parametrize("statement", ["uow_finish", "lease_release"])
async def test_leases_given_back_are_locked_in_key_order_whatever_order_they_were_taken_in(db_pool, statement):
    await _hold(db_pool, FIRST, SECOND)
    async with db_pool.acquire() as other, other.transaction():
        await other.execute("SELECT 1 FROM object_leases WHERE key = $1 FOR UPDATE", FIRST)
        taken_order = [SECOND, FIRST]  # the product's own lease first, then its shared key's
        if statement == "uow_finish":
            release = asyncio.create_task(db_pool.fetchrow(Q.uow_finish, *finish_args(SOURCE, HOLDER, taken_order, consumer="product")))
        else:
            release = asyncio.create_task(db_pool.execute(Q.lease_release, taken_order, HOLDER))
        assert await waiting_for_a_lock(db_pool, release)
        # waiting for FIRST, it must not hold SECOND: the renewal (key order) would wait for it while holding
        # FIRST — the deadlock of the first load
        assert not await _locked(db_pool, SECOND)
    await release
    assert await db_pool.fetchval("SELECT count(*) FROM object_leases") == 0


async def test_the_renewal_skips_a_row_another_transaction_holds_and_renews_the_others(db_pool):
    await _hold(db_pool, FIRST, SECOND)
    await db_pool.execute("UPDATE object_leases SET expires_at = now() + interval '1 second'")
    async with db_pool.acquire() as other, other.transaction():
        await other.execute("SELECT 1 FROM object_leases WHERE key = $1 FOR UPDATE", FIRST)  # being given back
        await asyncio.wait_for(db_pool.execute(Q.lease_renew, [FIRST, SECOND], HOLDER, 20.0), 5)
    left = {r["key"]: r["left"] for r in await db_pool.fetch(
        "SELECT key, extract(epoch FROM expires_at - now()) AS left FROM object_leases")}
    assert left[SECOND] > 15  # renewed
    assert left[FIRST] < 2  # skipped this time, not waited for


async def test_a_lease_skipped_because_its_row_was_busy_is_renewed_again_shortly(db_pool):
    """A hand-over or another consumer's failed claim holds the row for a moment: the renewal tries that key
    again after a short pause instead of leaving it to the next round (a lease outlives only four)."""
    leases = Leases(db_pool, ttl=20.0)
    await db_pool.execute("INSERT INTO object_leases (key, holder, expires_at) "
                          "VALUES ($1, $2, now() + interval '1 second')", SECOND, leases.holder)
    leases.committed([SECOND])
    try:
        async with db_pool.acquire() as other:
            await other.execute("BEGIN")
            await other.execute("SELECT 1 FROM object_leases WHERE key = $1 FOR UPDATE", SECOND)
            renewal = asyncio.create_task(leases.renew([SECOND]))
            await asyncio.sleep(0.05)  # its first statement skips the row
            await other.execute("COMMIT")
            await asyncio.wait_for(renewal, 5)
        left = await db_pool.fetchval("SELECT extract(epoch FROM expires_at - now()) FROM object_leases "
                                      "WHERE key = $1", SECOND)
        assert left > 15
    finally:
        leases.released([SECOND])
        if leases._renewer is not None:
            leases._renewer.cancel()
