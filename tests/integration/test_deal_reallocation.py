"""A document moved to another order leaves no stale deal behind, even when the new order cannot be
synced yet (its company is not in Bitrix24): the order it left is recomputed on the first attempt and,
after a failure, on every redelivery until it is."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bridge.errors import DependencyMissing
from bridge.projection import OrderProjection
from onec_outbox.contract import parse_event
from tests.support.deals import deal_of, seed_links
from tests.support.orders import Lifecycle

async def test_a_payment_moved_to_an_order_still_waiting_unpays_the_order_it_left(
        db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product, order_id="ffffffff-" + str(uuid.uuid4())[9:])
    for e in (a.order(), a.invoice()):
        await deal_handler.handle(parse_event(e))
    payment = str(uuid.uuid4())
    await deal_handler.handle(parse_event(a.payment(payment, version=1)))
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_PAID"
    # order B's company is not in Bitrix24 yet, and B sorts before A
    b = Lifecycle(str(uuid.uuid4()), product, order_id="00000000-" + str(uuid.uuid4())[9:])
    with pytest.raises(DependencyMissing):
        await deal_handler.handle(parse_event(b.order()))
    moved = a.payment(payment, version=2, orders=[(b.order_id, "1200.00")])
    with pytest.raises(DependencyMissing):
        await deal_handler.handle(parse_event(moved))  # B waits, but A was recomputed anyway
    left = deal_of(portal.sandbox, a.order_id)
    assert left["STAGE_ID"] == "B24B_INVOICE" and left["UF_CRM_B24B_PAID_SUM"] is None
    with pytest.raises(DependencyMissing):
        await deal_handler.handle(parse_event(moved))  # redelivered from the wait queue: still consistent
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_INVOICE"


async def test_an_order_left_behind_by_a_failed_attempt_is_recomputed_on_redelivery(
        db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product, order_id="ffffffff-" + str(uuid.uuid4())[9:])  # synced second
    for e in (a.order(), a.invoice()):
        await deal_handler.handle(parse_event(e))
    invoice_to_a = a.invoice(number="СЧ-9", amount="1300.00", version=1)
    invoice_id = invoice_to_a["entity_id"]
    await deal_handler.handle(parse_event(invoice_to_a))
    b = Lifecycle(cp, product, order_id="00000000-" + str(uuid.uuid4())[9:])  # synced first
    await deal_handler.handle(parse_event(b.order()))
    moved = b.invoice(invoice_id, number="СЧ-9", amount="1300.00", version=2)
    original = deal_handler._sync_order
    calls = []

    async def crash_after_first(uow, source, order_id):  # the process dies after B's push, before A's
        calls.append(order_id)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return await original(uow, source, order_id)

    deal_handler._sync_order = crash_after_first
    with pytest.raises(RuntimeError):
        await deal_handler.handle(parse_event(moved))
    deal_handler._sync_order = original
    assert deal_of(portal.sandbox, a.order_id)["UF_CRM_B24B_INVOICE_NO"] == "СЧ-9"  # A still shows it
    await deal_handler.handle(parse_event(moved))  # redelivered: A is recomputed although the invoice left it
    assert deal_of(portal.sandbox, a.order_id)["UF_CRM_B24B_INVOICE_NO"] != "СЧ-9"
    assert deal_of(portal.sandbox, b.order_id)["UF_CRM_B24B_INVOICE_NO"] == "СЧ-9"
    async with db_pool.acquire() as conn:  # both recomputed: nothing waits, A is not recomputed again
        assert await OrderProjection(conn, moved["source"]).affected_orders("invoice", invoice_id) == {b.order_id}


async def test_a_document_another_replica_is_merging_waits_for_that_merge_then_applies(
        db_pool, portal, deal_handler):
    """Two consumer replicas: an invoice arrives while the other replica's first transaction holds that
    document (merging another delivery of it).  Versions of one document merge one at a time: this one waits
    for that transaction (a PostgreSQL advisory lock, no lease row), then applies — the invoice is neither
    merged alongside nor lost."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product)
    await deal_handler.handle(parse_event(a.order()))
    invoice = a.invoice()
    key = f"{invoice['source']}/{invoice['event_type'].removesuffix('.upserted')}/{invoice['entity_id']}"
    async with db_pool.acquire() as other_replica, other_replica.transaction():
        await other_replica.execute("SELECT pg_advisory_xact_lock(71, hashtext($1))", key)
        applying = asyncio.create_task(deal_handler.handle(parse_event(invoice)))
        await asyncio.sleep(0.5)
        assert not applying.done()  # held: it waits for the other replica's transaction
        assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_ORDER"
    assert (await asyncio.wait_for(applying, 10)).value == "applied"
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_INVOICE"


async def test_a_document_is_locked_whichever_statement_comes_first_and_never_committed_unlocked(db_pool):
    """The document's transaction lock is taken by the inbox read, or by the first statement or claim when
    a handler asks for its connection first; a unit of work that would commit without it is an error, not
    a silently unprotected merge."""
    from bridge.links import unit_of_work

    key = "ut103-main/invoice/" + str(uuid.uuid4())

    async def locked_elsewhere() -> bool:
        async with db_pool.acquire() as conn:
            return not await conn.fetchval("SELECT pg_try_advisory_xact_lock(71, hashtext($1))", key)

    async with unit_of_work(db_pool, "deal", "ut103-main", key.split("/", 1)[1], lease=False) as uow:
        await uow.connection()  # no inbox read first
        assert await locked_elsewhere()
        await uow.give_back(key)
        assert await locked_elsewhere()  # PostgreSQL's lock ends with the transaction, not before
    assert not await locked_elsewhere()
    with pytest.raises(RuntimeError, match="lease=False"):
        async with unit_of_work(db_pool, "deal", "ut103-main", key.split("/", 1)[1], lease=False) as uow:
            await uow.begin_push(None, {})  # would commit the first transaction unprotected
    assert not await locked_elsewhere()
