"""Settling an order's ``order_resync`` rows (uow_finish) never waits for a row a document's merge holds.

A deal unit of work that pushes nothing (the deal unchanged, or no order yet: the usual case for a
document of a first load) stays in its first transaction to the end: it claims the order's lease (the
row stays locked until it commits), reads the order's facts and settles the resync rows it read in that
same transaction.  Meanwhile another replica merges a new version of one of those documents (its resync
row locked) and then claims the order's lease, which waits for the first transaction.  Had the settling
waited for the merged row, the two would wait for each other ('deadlock detected').  The row a merge
holds is rewritten by it (a new row version: it would stay anyway), so the settling skips it.  Each test
holds the merge open on a second connection and watches, in pg_stat_activity, whether the settling waits.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bridge.projection import OrderProjection
from bridge.sql import Q
from onec_outbox.contract import parse_event
from tests.helpers import finish_args, waiting_for_a_lock
from tests.support.orders import Lifecycle

SOURCE = "ut103-main"
PUSH, MERGE = "consumer-1", "consumer-2"  # the holders of two replicas


async def _merge(conn, raw: dict) -> None:
    event = parse_event(raw)
    await OrderProjection(conn, SOURCE).merge(event.entity, str(event.entity_id), event.version, event.payload,
                                              event_id=event.event_id)


@pytest.mark.parametrize("first_transaction", [True, False], ids=["attached", "detached"])
async def test_settling_skips_a_resync_row_a_merge_holds_so_the_merge_can_claim_the_order_next(
        db_pool, first_transaction):
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    shipment = str(uuid.uuid4())
    key = f"{SOURCE}/order/{a.order_id}"
    async with db_pool.acquire() as conn:
        await _merge(conn, a.order())
        await _merge(conn, a.shipment(shipment, version=1))  # both rows wait for the deal
    async with db_pool.acquire() as push, db_pool.acquire() as merge:
        await push.execute("BEGIN")
        assert await push.fetchval(Q.lease_claim, key, PUSH, 20.0)
        if not first_transaction:  # a push: the claim committed, the settling in a transaction of its own
            await push.execute("COMMIT")
        _, resync = await OrderProjection(push, SOURCE).facts_and_resync(a.order_id)
        assert {t for t, _, _ in resync} == {"customer_order", "shipment"}
        await merge.execute("BEGIN")
        await _merge(merge, a.shipment(shipment, version=2))  # its resync row locked until it commits
        finish = asyncio.create_task(push.fetchrow(Q.uow_finish, *finish_args(SOURCE, PUSH, [key], order_id=a.order_id, resync=resync)))
        waited = await waiting_for_a_lock(db_pool, finish)
        if waited:  # (the merge ends: the settling goes on, and the test can say what went wrong)
            await merge.execute("ROLLBACK")
        assert (await finish)["handed_back"] == []
        if push.is_in_transaction():
            await push.execute("COMMIT")
        # had it waited while holding the order's lease row, the merge's claim would have closed the cycle
        assert not waited, "the settling waited for the resync row a merge holds"
        assert await merge.fetchval(Q.lease_claim, key, MERGE, 20.0)  # given back: the merge recomputes itself
        await merge.execute("COMMIT")
    rows = {r["doc_type"] for r in await db_pool.fetch(
        "SELECT doc_type FROM order_resync WHERE order_id = $1::uuid", a.order_id)}
    assert rows == {"shipment"}  # the order's row settled, the shipment's new version waits for the merge
