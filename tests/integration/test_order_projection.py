"""The order projection keeps the latest version of each document, knows which orders a document touches
now and touched before, and hands the deal rules typed facts made from the stored contract JSON."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from bridge.domain.deal import CustomerOrder, Item, Responsible
from bridge.links import unit_of_work
from bridge.projection import OrderProjection
from onec_outbox.contract import parse_event
from tests.contract.samples import ORG
from tests.support.orders import RESPONSIBLE, Lifecycle

SOURCE = "ut103-main"


async def merge(pool, raw: dict) -> bool:
    event = parse_event(raw)
    async with pool.acquire() as conn, conn.transaction():
        merged = await OrderProjection(conn, SOURCE).merge(event.entity, str(event.entity_id), event.version,
                                                           event.payload)
    # what the deal handler recomputes is exactly what a separate read says right after the merge
    assert merged.affected == await affected(pool, event.entity, str(event.entity_id))
    return merged.newer


async def affected(pool, doc_type: str, doc_id: str) -> set[str]:
    async with pool.acquire() as conn:
        return set(await OrderProjection(conn, SOURCE).affected_orders(doc_type, doc_id))


async def recomputed(pool, *order_ids: str) -> None:
    """Every resync row of the orders gone, as after the deal handler recomputed them with nothing merged
    meanwhile (uow_finish deletes the rows read with the facts; see the tests at the end)."""
    await pool.execute("DELETE FROM order_resync WHERE source = $1 AND order_id = ANY($2::uuid[])",
                       SOURCE, list(order_ids))


async def facts(pool, order_id: str):
    async with pool.acquire() as conn:
        return await OrderProjection(conn, SOURCE).facts(order_id)


async def test_an_older_or_equal_version_changes_nothing_but_remembers_that_the_document_was_posted(db_pool):
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    assert await merge(db_pool, a.order(posted=False, amount="900.00", version=2))
    assert not await merge(db_pool, a.order(posted=True, version=1))
    assert not await merge(db_pool, a.order(posted=False, amount="900.00", version=2))
    order = (await facts(db_pool, a.order_id)).order
    assert (order.posted, order.ever_posted, order.amount) == (False, True, Decimal("900.00"))


async def test_a_reallocated_payment_affects_the_order_it_left_until_that_order_is_recomputed(db_pool):
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    b = Lifecycle(a.counterparty_id, a.product_id)
    payment = str(uuid.uuid4())
    await merge(db_pool, a.payment(payment, version=1))
    await recomputed(db_pool, a.order_id)
    assert await affected(db_pool, "payment", payment) == {a.order_id}
    await merge(db_pool, a.payment(payment, version=2, orders=[(b.order_id, "1200.00")]))
    assert await affected(db_pool, "payment", payment) == {a.order_id, b.order_id}
    await recomputed(db_pool, a.order_id, b.order_id)
    assert await affected(db_pool, "payment", payment) == {b.order_id}
    assert (await facts(db_pool, a.order_id)).payments == ()


async def test_the_facts_of_an_order_are_typed_documents_read_from_the_stored_contract_json(db_pool):
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    other = str(uuid.uuid4())
    for raw in (a.order(amounts_include_vat=False), a.invoice(number="СЧ-9"), a.shipment(),
                a.payment(orders=[(a.order_id, "500.00"), (other, "700.00"), (a.order_id, "100.00")])):
        await merge(db_pool, raw)
    known = await facts(db_pool, a.order_id)
    assert isinstance(known.order, CustomerOrder) and not known.order.amounts_include_vat
    assert known.order.responsible == Responsible(RESPONSIBLE["id"], RESPONSIBLE["name"], RESPONSIBLE["email"])
    assert known.order.counterparty_id == a.counterparty_id and known.order.amount == Decimal("1200.00")
    assert known.invoices[0].number == "СЧ-9" and known.invoices[0].items == (Item(
        product_id=a.product_id, name="Товар", quantity=Decimal("10.000"), amount=Decimal("1200.00"),
        vat_amount=Decimal("200.00"), discount_percent=Decimal("0.00"), vat_rate="20", unit_code="796",
        unit_name="шт", price=Decimal("120.0000")),)
    payment = known.payments[0]  # two allocations to this order add up; the other order's share is not ours
    assert (payment.kind, payment.amount, payment.allocated("RUB")) == ("bank", Decimal("1300.00"), Decimal("600.00"))
    assert known.shipments[0].organization == ORG["name"] and known.shipments[0].date == "2026-11-30"
    assert await affected(db_pool, "payment", payment.doc_id) == {a.order_id, other}


async def test_a_newer_payment_keeps_the_orders_it_still_pays_at_their_new_amounts_and_a_stale_one_changes_nothing(
        db_pool):
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    b, c = (Lifecycle(a.counterparty_id, a.product_id) for _ in range(2))
    payment = str(uuid.uuid4())

    async def links() -> dict[str, Decimal]:
        rows = await db_pool.fetch("SELECT order_id::text AS o, amount FROM order_document_links "
                                   "WHERE doc_type = 'payment' AND doc_id = $1::uuid", payment)
        return {r["o"]: r["amount"] for r in rows}

    assert await merge(db_pool, a.payment(payment, version=1, orders=[(a.order_id, "100.00"), (b.order_id, "200.00")]))
    await recomputed(db_pool, a.order_id, b.order_id)
    moved = a.payment(payment, version=2, orders=[(b.order_id, "250.00"), (c.order_id, "50.00")])
    assert await merge(db_pool, moved)  # A left, B stays at a new amount, C joins
    assert await links() == {b.order_id: Decimal("250.00"), c.order_id: Decimal("50.00")}
    assert await affected(db_pool, "payment", payment) == {a.order_id, b.order_id, c.order_id}
    assert not await merge(db_pool, a.payment(payment, version=1, orders=[(a.order_id, "100.00")]))  # stale
    assert await links() == {b.order_id: Decimal("250.00"), c.order_id: Decimal("50.00")}
    assert (await facts(db_pool, b.order_id)).payments[0].allocations == (("RUB", Decimal("250.00")),)
    await recomputed(db_pool, a.order_id, b.order_id, c.order_id)
    assert await affected(db_pool, "payment", payment) == {b.order_id, c.order_id}


async def _resync_rows(pool, order_id: str) -> set[tuple[str, str]]:
    rows = await pool.fetch("SELECT doc_type, doc_id::text AS doc_id FROM order_resync WHERE order_id = $1::uuid",
                            order_id)
    return {(r["doc_type"], r["doc_id"]) for r in rows}


async def test_a_recomputed_order_keeps_the_resync_row_of_a_document_merged_after_its_facts_were_read(db_pool):
    """Two documents of one order in two consumer processes: the deal recomputed from facts read before
    the invoice was merged must not settle the invoice's row (the invoice's event, should its process die
    before recomputing, comes back for it: that row is then all that says the order is behind)."""
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    await merge(db_pool, a.order())
    invoice = a.invoice()
    async with unit_of_work(db_pool, "test", SOURCE, f"customer_order/{a.order_id}") as uow:
        _, read = await OrderProjection(await uow.connection(), SOURCE).facts_and_resync(a.order_id)
        assert [r[:2] for r in read] == [("customer_order", a.order_id)]
        await merge(db_pool, invoice)  # by the other process, after this one read the facts
        uow.recomputed(a.order_id, read)
    assert await _resync_rows(db_pool, a.order_id) == {("invoice", invoice["entity_id"])}


async def test_a_waiting_resync_row_written_again_after_the_facts_were_read_stays(db_pool):
    """A payment's row for an order still waits (its recompute failed earlier); a deal recomputed from facts
    read with it must not settle the payment's newer version, merged meanwhile, which moved it to another
    order: should that event's own recompute fail, the row is all that says the first order is behind."""
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    b = Lifecycle(a.counterparty_id, a.product_id)
    payment = str(uuid.uuid4())
    await merge(db_pool, a.order())
    await merge(db_pool, a.payment(payment, version=1))  # its recompute never ran: (payment, a) waits
    async with unit_of_work(db_pool, "test", SOURCE, f"customer_order/{a.order_id}") as uow:
        _, read = await OrderProjection(await uow.connection(), SOURCE).facts_and_resync(a.order_id)
        assert {r[:2] for r in read} == {("customer_order", a.order_id), ("payment", payment)}
        await merge(db_pool, a.payment(payment, version=2, orders=[(b.order_id, "1200.00")]))  # the other process
        uow.recomputed(a.order_id, read)
    assert await _resync_rows(db_pool, a.order_id) == {("payment", payment)}
    assert await affected(db_pool, "payment", payment) == {a.order_id, b.order_id}


async def _racing_merges(pool, first: dict, second: dict):
    """``first`` merged and held uncommitted while ``second`` merges in another transaction (it waits for the
    first's row), then the first commits: what no lock of the caller's serialised (a release that holds a
    document differently, running beside this one)."""
    one, two = (parse_event(e) for e in (first, second))
    async with pool.acquire() as c1, pool.acquire() as c2:
        t1 = c1.transaction()
        await t1.start()
        await OrderProjection(c1, SOURCE).merge(one.entity, str(one.entity_id), one.version, one.payload)
        t2 = c2.transaction()
        await t2.start()
        racing = asyncio.create_task(
            OrderProjection(c2, SOURCE).merge(two.entity, str(two.entity_id), two.version, two.payload))
        await asyncio.sleep(0.3)
        assert not racing.done()  # it waits for the first merge's row
        await t1.commit()
        merged = await asyncio.wait_for(racing, 10)
        await t2.commit()
    return merged


async def _links_of(pool, doc_type: str, doc_id: str) -> set[str]:
    rows = await pool.fetch("SELECT order_id::text FROM order_document_links WHERE source = $1 AND doc_type = $2 "
                            "AND doc_id = $3::uuid", SOURCE, doc_type, doc_id)
    return {r["order_id"] for r in rows}


async def test_two_versions_of_a_document_merged_at_once_leave_only_the_newer_ones_orders(db_pool):
    """v2 moves a payment from order A to B and is still uncommitted when v3 moves it to C: v3's merge must
    see B's link (not only A's, as its snapshot did) — else B keeps a payment it no longer has."""
    a, b, c = (Lifecycle(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(3))
    payment = str(uuid.uuid4())

    def paying(lc, version):
        event = lc.payment(payment, version=version)
        event["payload"]["allocations"] = [{"order_id": lc.order_id, "amount": "100.00"}]
        return event

    await merge(db_pool, paying(a, 1))
    await recomputed(db_pool, a.order_id)
    merged = await _racing_merges(db_pool, paying(b, 2), paying(c, 3))
    assert merged.newer and {b.order_id, c.order_id} <= merged.affected
    assert await _links_of(db_pool, "payment", payment) == {c.order_id}
    assert await affected(db_pool, "payment", payment) >= {a.order_id, b.order_id, c.order_id}


async def test_the_first_two_versions_of_a_document_merged_at_once_keep_the_newer(db_pool):
    a, b = (Lifecycle(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(2))
    payment = str(uuid.uuid4())
    first, second = a.payment(payment, version=1), b.payment(payment, version=2)
    first["payload"]["allocations"] = [{"order_id": a.order_id, "amount": "100.00"}]
    second["payload"]["allocations"] = [{"order_id": b.order_id, "amount": "100.00"}]
    merged = await _racing_merges(db_pool, first, second)
    assert merged.newer and a.order_id in merged.affected
    assert await _links_of(db_pool, "payment", payment) == {b.order_id}
    older = await _racing_merges(db_pool, b.payment(payment, version=3), a.payment(payment, version=1))
    assert not older.newer  # an older version that waited changes nothing


async def test_the_merge_names_exactly_the_orders_whose_waiting_row_names_its_event(db_pool):
    """A document event hands over only the orders whose ``order_resync`` row names it (whoever settles such
    a row records the event) and records itself for the rest: the merge's ``named`` must be exactly those
    rows, through redeliveries, settled rows and rows left by an earlier version (it once said only
    "some row names it", and a retry that handed over an order it had settled was never recorded)."""
    a = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    b = Lifecycle(a.counterparty_id, a.product_id)
    payment = str(uuid.uuid4())

    async def merged(raw: dict):
        event = parse_event(raw)
        async with db_pool.acquire() as conn, conn.transaction():
            result = await OrderProjection(conn, SOURCE).merge(
                event.entity, str(event.entity_id), event.version, event.payload, event_id=event.event_id)
        naming = await db_pool.fetch("SELECT order_id::text FROM order_resync WHERE $1::uuid = ANY (event_ids)",
                                     event.event_id)
        assert result.named == {r["order_id"] for r in naming}
        return result

    v1 = a.payment(payment, version=1)
    assert (await merged(v1)).named == {a.order_id}  # the first merge
    assert (await merged(v1)).named == {a.order_id}  # its redelivery: the row still waits and names it
    await recomputed(db_pool, a.order_id)
    redelivered = await merged(v1)
    assert redelivered.named == frozenset() and redelivered.affected == {a.order_id}  # settled: its own to record
    v2 = a.payment(payment, version=2, orders=[(b.order_id, "1200.00")])
    assert (await merged(v2)).named == {a.order_id, b.order_id}  # the order it left and the one it pays now
    await recomputed(db_pool, b.order_id)
    v3 = a.payment(payment, version=3, orders=[(b.order_id, "1000.00")])
    newest = await merged(v3)
    assert newest.affected == {a.order_id, b.order_id}  # A still waits (for v2's row) ...
    assert newest.named == {b.order_id}  # ... but nothing there names v3
    assert (await merged(a.payment(payment, version=2))).named == frozenset()  # an older version names none
