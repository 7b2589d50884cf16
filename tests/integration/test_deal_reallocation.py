"""A document moved to another order leaves no stale deal behind, even when the new order cannot be
synced yet (its company is not in Bitrix24): the order it left is recomputed on the first attempt and,
after a failure, on every redelivery until it is."""

from __future__ import annotations

import uuid

import pytest

from bridge import metrics
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


async def test_a_document_whose_lease_another_replica_holds_waits_for_it_then_applies(
        db_pool, portal, deal_handler):
    """Two consumer replicas: an invoice arrives while the other replica still holds its lease. The handler
    waits for the lease without a connection, then works in a fresh transaction (it once crashed here
    with "the unit of work is detached" and went to the 5 s retry tier: the p99 of two replicas)."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product)
    order = a.order()
    await deal_handler.handle(parse_event(order))
    invoice = a.invoice()
    key = f"{invoice['source']}/{invoice['event_type'].removesuffix('.upserted')}/{invoice['entity_id']}"
    async with db_pool.acquire() as conn:
        await conn.execute("INSERT INTO object_leases (key, holder, expires_at) "
                           "VALUES ($1, 'the-other-replica', now() + interval '2 seconds')", key)
    before = _observed("another_process")
    assert (await deal_handler.handle(parse_event(invoice))).value == "applied"
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_INVOICE"
    count, seconds = (a - b for a, b in zip(_observed("another_process"), before, strict=True))
    assert count == 1 and 1.0 < seconds < 4.0  # the wait is exported (bridge_consumer_lease_wait_seconds)


def _observed(holder: str) -> tuple[float, float]:
    """(waits, seconds) of bridge_consumer_lease_wait_seconds{holder} so far."""
    samples = {s.name: s.value for family in metrics.LEASE_WAIT.collect() for s in family.samples
               if s.labels.get("holder") == holder}
    name = "bridge_consumer_lease_wait_seconds"
    return samples.get(name + "_count", 0.0), samples.get(name + "_sum", 0.0)
