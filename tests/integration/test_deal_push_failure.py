"""A deal push that fails after Bitrix24 took the deal update must not leave the portal behind 1C.

Found by the chaos suite (an order whose first invoice was deleted and a second one written the same day
ended with the invoice number right and the invoice date empty).  ``sync_order`` makes its Bitrix24
calls inside the order's transaction and saves the pushed state at its end; when a later call of the same
push fails (or the consumer dies, or PostgreSQL restarts) the transaction rolls back, the pushed state
stays at the older push although Bitrix24 already has the newer fields, and the next push diffs against
that stale state: a field whose new value equals the stale one is never sent again.  Now a push marks
the link in doubt (committed on its own) before its first write, and a push from a link in doubt sends the
full fields and rows.
"""

from __future__ import annotations

import uuid

import pytest

from bridge.b24 import client_from_settings
from bridge.errors import B24NotFound
from bridge.settings import Settings
from bridge.sync.deal import DealHandler
from onec_outbox.contract import parse_event
from tests.integration.conftest import MAPPING
from tests.support.deals import deal_of, deal_of_id, seed_links
from tests.support.orders import Lifecycle


async def test_a_push_failing_after_the_deal_update_does_not_leave_a_field_behind(db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    first = str(uuid.uuid4())
    await deal_handler.handle(parse_event(lc.order(amount="1200.00")))
    await deal_handler.handle(parse_event(lc.invoice(first, number="СЧ-1", date="2026-11-28", amount="1100.00")))
    # the invoice is deleted: Bitrix24 takes the update that empties its number and date, then the row
    # replacement of the same push is refused, and the push fails
    portal.sandbox.faults.add_error("ACCESS_DENIED", method="crm.deal.productrows.set", count=1, nested=True)
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await deal_handler.handle(parse_event(lc.invoice(first, number="СЧ-1", date="2026-11-28",
                                                          amount="1100.00", deleted=True)))
    # a second invoice of the same day: its date equals the stale pushed one
    await deal_handler.handle(parse_event(lc.invoice(number="СЧ-2", date="2026-11-28", amount="1200.00")))
    deal = deal_of(portal.sandbox, lc.order_id)
    assert deal["UF_CRM_B24B_INVOICE_NO"] == "СЧ-2"
    assert deal["UF_CRM_B24B_INVOICE_DATE"] is not None, "1C has an invoice date; Bitrix24 lost it"


async def test_a_field_a_failed_push_set_is_cleared_when_1c_empties_it(db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    payment = str(uuid.uuid4())
    await deal_handler.handle(parse_event(lc.order(amount="1200.00")))
    await deal_handler.handle(parse_event(lc.invoice(amount="1200.00")))
    # the payment: Bitrix24 takes the paid sum and stage, then the paid notification is refused
    portal.sandbox.faults.add_error("ACCESS_DENIED", method="im.notify.system.add", count=1)
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await deal_handler.handle(parse_event(lc.payment(payment, amount="1200.00")))
    assert deal_of(portal.sandbox, lc.order_id)["UF_CRM_B24B_PAID_SUM"] is not None
    # the payment is deleted in 1C before it was ever pushed successfully: the paid sum must go
    await deal_handler.handle(parse_event(lc.payment(payment, amount="1200.00", deleted=True)))
    deal = deal_of(portal.sandbox, lc.order_id)
    assert deal["UF_CRM_B24B_PAID_SUM"] is None and deal["UF_CRM_B24B_PAYMENT_DATE"] is None
    assert deal["STAGE_ID"] == "B24B_INVOICE"


@pytest.fixture
async def batching_handler(db_pool, portal):
    """The deal handler with batching on, as in production: a batch does not stop at a refused command
    unless it holds a chain."""
    client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0.02))
    yield DealHandler(db_pool, client, MAPPING)
    await client.aclose()


def notes_of(sandbox, order_id: str) -> list[str]:
    deal_id = str(deal_of_id(sandbox, order_id))
    return [c["COMMENT"] for c in sandbox.state()["timeline_comments"] if str(c["ENTITY_ID"]) == deal_id]


async def test_a_note_is_posted_once_when_the_rows_of_its_push_were_refused(db_pool, portal, batching_handler):
    """Rows and notes of a deal that exists go rows first, in a request that halts at a refused step: a
    note that ran after refused rows would be on the timeline before the retry posts it again."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    await batching_handler.handle(parse_event(lc.order(amount="1200.00")))
    portal.sandbox.faults.add_error("ACCESS_DENIED", method="crm.deal.productrows.set", count=1, nested=True)
    changed = parse_event(lc.order(amount="1500.00"))  # new rows, and the order's note with the new sum
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await batching_handler.handle(changed)
    await batching_handler.handle(changed)  # the redelivery
    notes = notes_of(portal.sandbox, lc.order_id)
    assert sum("на сумму 1500.00" in n for n in notes) == 1, notes
    assert [r[1] for r in deal_of(portal.sandbox, lc.order_id)["rows"]] == [150.0]


async def test_a_new_deal_whose_rows_were_refused_gets_them_on_redelivery_and_each_note_once(
        db_pool, portal, batching_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    await batching_handler.handle(parse_event(lc.invoice(number="СЧ-9")))  # waits for its order
    portal.sandbox.faults.add_error("ACCESS_DENIED", method="crm.deal.productrows.set", count=1, nested=True)
    order = parse_event(lc.order(amount="1200.00"))
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await batching_handler.handle(order)  # the deal and its two notes made, the rows refused
    await batching_handler.handle(order)  # the redelivery finds the deal by its key
    assert [n.split(" №")[0] for n in notes_of(portal.sandbox, lc.order_id)] == [
        "1С: Заказ покупателя", "1С: Счёт на оплату"]
    assert [r[1:] for r in deal_of(portal.sandbox, lc.order_id)["rows"]] == [(120.0, 10.0)]


async def test_a_refused_new_deal_writes_nothing_else(db_pool, portal, batching_handler):
    """Its rows and notes refer to the deal's id: on the portal a reference to a failed command is the whole
    result bucket, which `intval` reads as 1 — they would land on deal 1.  They must not even be tried."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    tried: list[str] = []
    stop = portal.sandbox.on_call(lambda call: tried.append(call.method))
    portal.sandbox.faults.add_error("ACCESS_DENIED", method="crm.deal.add", count=1, nested=True)
    try:
        with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
            await batching_handler.handle(parse_event(lc.order(amount="1200.00")))
    finally:
        stop()
    assert "crm.deal.add" in tried
    assert not {"crm.deal.productrows.set", "crm.timeline.comment.add"} & set(tried), tried


async def test_notes_after_a_refused_one_wait_for_the_retry_and_each_is_posted_once(db_pool, portal, batching_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    await batching_handler.handle(parse_event(lc.order(amount="1200.00")))
    portal.sandbox.faults.add_error("ACCESS_DENIED", method="crm.deal.update", count=1, nested=True)
    with pytest.raises(Exception):  # noqa: B017 - the invoice's push fails before its note
        await batching_handler.handle(parse_event(lc.invoice(number="СЧ-5")))
    before = notes_of(portal.sandbox, lc.order_id)
    # the payment's push posts two notes (the invoice's and its own) in one request; the first is refused
    portal.sandbox.faults.add_error("ACCESS_DENIED", method="crm.timeline.comment.add", count=1, nested=True)
    payment = parse_event(lc.payment(number="ПП-5"))
    with pytest.raises(Exception):  # noqa: B017 - any failure of the push will do
        await batching_handler.handle(payment)
    assert notes_of(portal.sandbox, lc.order_id) == before  # nothing after the refused note
    await batching_handler.handle(payment)  # the redelivery
    notes = notes_of(portal.sandbox, lc.order_id)
    assert len(notes) == len(set(notes)) == len(before) + 2, notes


async def test_a_linked_deal_gets_its_fields_rows_and_note_in_one_request(db_pool, portal, batching_handler):
    """An order changed in 1C (new amount, so new fields, new rows and a note with the new sum) is one
    request to the portal: the read of the owned fields, the update, the rows and the note, in that order
    and halting at a refused step — not three requests one after another."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    await batching_handler.handle(parse_event(lc.order(amount="1200.00")))
    tried: list[str] = []
    stop = portal.sandbox.on_call(lambda call: tried.append(call.method))
    before = portal.sandbox.stats()["http_requests"]
    try:
        await batching_handler.handle(parse_event(lc.order(amount="1500.00")))
    finally:
        stop()
    assert portal.sandbox.stats()["http_requests"] - before == 1, tried
    assert [m for m in tried if m != "batch"] == [
        "crm.deal.list", "crm.deal.update", "crm.deal.productrows.set", "crm.timeline.comment.add"], tried
    assert [r[1] for r in deal_of(portal.sandbox, lc.order_id)["rows"]] == [150.0]
    assert sum("на сумму 1500.00" in n for n in notes_of(portal.sandbox, lc.order_id)) == 1


async def test_the_paid_notification_reads_the_responsible_with_the_update_not_after_it(
        db_pool, portal, batching_handler):
    """Who a "client paid" notification goes to (a manager may have reassigned the deal) is read in the
    update's own request, with the owned fields: the payment is two requests (the update with its rows and
    notes, then the notification), not a crm.deal.get between them."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    await batching_handler.handle(parse_event(lc.order()))
    deal_id = deal_of_id(portal.sandbox, lc.order_id)
    portal.sandbox.call("crm.deal.update", {"id": deal_id, "fields": {"ASSIGNED_BY_ID": 3}})  # reassigned
    tried: list[str] = []
    stop = portal.sandbox.on_call(lambda call: tried.append(call.method))
    before = portal.sandbox.stats()["http_requests"]
    try:
        await batching_handler.handle(parse_event(lc.payment()))
    finally:
        stop()
    assert portal.sandbox.stats()["http_requests"] - before == 2 and "crm.deal.get" not in tried, tried
    notes = [n for n in portal.sandbox.state()["notifications"] if n["TAG"] and lc.order_id in n["TAG"]]
    assert [int(n["USER_ID"]) for n in notes] == [3]


async def test_a_note_refused_as_not_found_after_the_update_is_no_deal_gone_and_is_posted_on_the_retry(
        db_pool, portal, batching_handler):
    """The rows and notes ride in the update's request: a "not found" from one of them (the update went
    through, so the deal is there) must not be read as the linked deal deleted by hand — a relink would find
    the same deal and take every note as posted, and this one would never be."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    await batching_handler.handle(parse_event(lc.order(amount="1200.00")))
    portal.sandbox.faults.add_error("NOT_FOUND", method="crm.timeline.comment.add", count=1, nested=True, status=400,
                                    description="Not found")
    changed = parse_event(lc.order(amount="1500.00"))
    with pytest.raises(B24NotFound):  # the push fails; it does not take the deal for gone
        await batching_handler.handle(changed)
    await batching_handler.handle(changed)  # the redelivery
    assert sum("на сумму 1500.00" in n for n in notes_of(portal.sandbox, lc.order_id)) == 1
    assert len([d for d in portal.sandbox.state()["deals"] if d["ORIGIN_ID"] == lc.order_id]) == 1
