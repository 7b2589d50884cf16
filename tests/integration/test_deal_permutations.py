"""The key property of the deal consumer: any order, duplication or interleaving of the same 1C events
ends in the same deal (real PostgreSQL projection, real Bitrix24 sandbox over HTTP; the broker is covered
by the consumer tests, so events are handed to the handler directly)."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import db
from bridge.b24 import client_from_settings
from bridge.settings import Settings
from bridge.sync.deal import DealHandler
from onec_outbox.contract import parse_event
from tests.integration.conftest import MAPPING
from tests.support.deals import deal_of, deal_of_id, seed_links
from tests.support.orders import Lifecycle



def full_lifecycle(lc: Lifecycle) -> list[dict]:
    """Order, invoice, partial payment, shipment, final payment — and an order edit (version 2)."""
    return [lc.order(version=1), lc.invoice(number="СЧ-77"), lc.payment(amount="500.00", number="ПП-1"),
            lc.shipment(number="РТ-5"), lc.payment(amount="700.00", number="ПП-2", date="2026-12-01"),
            lc.order(version=2, comment="Доставка до склада, вторая версия")]


EXPECTED = {
    "STAGE_ID": "B24B_PAID", "OPPORTUNITY": "1200.00", "CURRENCY_ID": "RUB", "IS_MANUAL_OPPORTUNITY": "Y",
    "UF_CRM_B24B_INVOICE_NO": "СЧ-77", "UF_CRM_B24B_INVOICE_DATE": "2026-11-28",
    "UF_CRM_B24B_PAID_SUM": "1200.00|RUB", "UF_CRM_B24B_PAYMENT_DATE": "2026-12-01",
    "UF_CRM_B24B_SHIPMENT_NO": "РТ-5", "UF_CRM_B24B_SHIPMENT_DATE": "2026-11-30",
    "UF_CRM_B24B_SHIPMENT_SUM": "1200.00|RUB", "paid_notifications": 1,
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_every_permutation_with_duplicates_ends_in_one_identical_deal(db_url, portal, data):
    async def run() -> None:
        pool = await db.create_pool(db_url, max_size=4)
        client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0))
        try:
            cp, product, company = await seed_links(pool, portal.sandbox)
            handler = DealHandler(pool, client, MAPPING)
            lc = Lifecycle(cp, product)
            events = full_lifecycle(lc)
            order = data.draw(st.permutations(events), label="order")
            repeats = data.draw(st.lists(st.sampled_from(events), max_size=4), label="repeats")
            positions = [data.draw(st.integers(0, len(order)), label="at") for _ in repeats]
            sequence = list(order)
            for position, repeated in zip(positions, repeats):
                sequence.insert(position, repeated)
            for e in sequence:
                await handler.handle(parse_event(e))
            deal = deal_of(portal.sandbox, lc.order_id)
            assert {k: deal[k] for k in EXPECTED} == EXPECTED
            assert deal["COMPANY_ID"] == str(company)
            assert deal["rows"][0][2] == 10
        finally:
            await client.aclose()
            await pool.close()

    asyncio.run(run())


async def test_a_payment_for_two_orders_moves_both_deals_and_unposting_it_moves_both_back(
        db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    first, second = Lifecycle(cp, product), Lifecycle(cp, product)
    for e in (first.order(), first.invoice(), second.order(), second.invoice()):
        await deal_handler.handle(parse_event(e))
    payment_id = str(uuid.uuid4())
    both = [(first.order_id, "1200.00"), (second.order_id, "1200.00")]
    await deal_handler.handle(parse_event(first.payment(payment_id, orders=both, version=1)))
    assert deal_of(portal.sandbox, first.order_id)["STAGE_ID"] == "B24B_PAID"
    assert deal_of(portal.sandbox, second.order_id)["STAGE_ID"] == "B24B_PAID"
    await deal_handler.handle(parse_event(first.payment(payment_id, orders=both, posted=False, version=2)))
    for lc in (first, second):
        deal = deal_of(portal.sandbox, lc.order_id)
        assert deal["STAGE_ID"] == "B24B_INVOICE"
        assert deal["UF_CRM_B24B_PAID_SUM"] is None and deal["UF_CRM_B24B_PAYMENT_DATE"] is None


async def test_the_paid_notification_goes_once_to_whoever_is_responsible_now(
        db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(cp, product)
    await deal_handler.handle(parse_event(lc.order()))
    deal_id = deal_of_id(portal.sandbox, lc.order_id)
    portal.sandbox.call("crm.deal.update", {"id": deal_id, "fields": {"ASSIGNED_BY_ID": 3}})  # reassigned
    payment = lc.payment()
    await deal_handler.handle(parse_event(payment))
    await deal_handler.handle(parse_event(payment))  # redelivered
    replay = dict(payment, event_id=str(uuid.uuid4()))  # replayed with a new event id
    await deal_handler.handle(parse_event(replay))
    notes = [n for n in portal.sandbox.state()["notifications"] if n["TAG"] and lc.order_id in n["TAG"]]
    assert len(notes) == 1 and int(notes[0]["USER_ID"]) == 3
    assert "оплатил" in notes[0]["MESSAGE"] and "ООО Ромашка" in notes[0]["MESSAGE"]
