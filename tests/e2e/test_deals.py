"""Each row of the order lifecycle table, end to end: HTTP ingest → outbox → relay → RabbitMQ → consumers
→ the sandbox Bitrix24 prepared by `portal setup`."""

from __future__ import annotations

import copy
import uuid

import pytest

from bridge import mapping as mapping_mod
from bridge.domain.product import onec_id_of_key
from tests.contract.samples import PAYLOADS, event
from tests.e2e.test_counterparty import full_company
from tests.helpers import wait_for
from tests.support.orders import Lifecycle
from tests.support.portal import prepare_deals_async

MAPPING = mapping_mod.load(None)
UF = MAPPING.deals.user_fields


@pytest.fixture
async def crm(stack):
    await prepare_deals_async(stack.portal.webhook_url, MAPPING)
    return stack


def product_event(product_id: str, name: str = "Гвоздь строительный 100 мм") -> dict:
    p = copy.deepcopy(PAYLOADS["product"])
    p["name"] = name
    return event("product", event_id=str(uuid.uuid4()), entity_id=product_id, version=1, payload=p)


async def counterparty_and_product(stack) -> tuple[str, str]:
    company = full_company()
    company["entity_id"] = cp = str(uuid.uuid4())
    product = str(uuid.uuid4())
    await stack.post([company, product_event(product)])
    return cp, product


def deal(stack, order_id: str) -> dict | None:
    found = [d for d in stack.state()["deals"] if d["ORIGIN_ID"] == order_id]
    assert len(found) <= 1, found
    return found[0] if found else None


async def settled(stack, order_id: str, **fields) -> dict:
    """Wait until the deal shows these field values; returns it."""
    async def probe():
        d = deal(stack, order_id)
        return d if d is not None and all(d.get(k) == v for k, v in fields.items()) else None
    found = await wait_for(probe, timeout=60, interval=0.2)
    assert found is not None, (fields, deal(stack, order_id))
    return found


async def test_a_posted_order_becomes_a_deal_with_company_responsible_rows_and_amount(crm):
    cp, product = await counterparty_and_product(crm)
    lc = Lifecycle(cp, product)
    await crm.post(lc.order())
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_ORDER")
    state = crm.state()
    company = next(c for c in state["companies"] if c["ORIGIN_ID"] == cp)
    assert d["COMPANY_ID"] == company["ID"] and d["OPPORTUNITY"] == "1200.00" and d["IS_MANUAL_OPPORTUNITY"] == "Y"
    assert d["ASSIGNED_BY_ID"] == "1"  # petrov@td.example is no Bitrix24 user: the default responsible
    b24_product = next(p for p in state["products"] if onec_id_of_key(p["xmlId"]) == product)
    rows = await wait_for(lambda: _rows(crm, d["ID"]), timeout=30)
    assert [(int(r["PRODUCT_ID"]), float(r["QUANTITY"]), float(r["PRICE"])) for r in rows] == [
        (int(b24_product["id"]), 10.0, 120.0)]


async def _rows(stack, deal_id):
    return [r for r in stack.state()["product_rows"] if str(r["OWNER_ID"]) == deal_id]


async def test_an_invoice_moves_the_deal_and_puts_its_number_date_rows_and_amount_on_the_card(crm):
    cp, product = await counterparty_and_product(crm)
    lc = Lifecycle(cp, product)
    await crm.post([lc.order(), lc.invoice(number="СЧ-00042", amount="1250.00", date="2026-11-28")])
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_INVOICE")
    assert (d[UF.invoice_number], d[UF.invoice_date][:10], d["OPPORTUNITY"]) == ("СЧ-00042", "2026-11-28", "1250.00")


async def test_a_full_payment_sets_paid_amount_and_date_moves_to_paid_and_notifies_once(crm):
    cp, product = await counterparty_and_product(crm)
    lc = Lifecycle(cp, product)
    await crm.post([lc.order(), lc.invoice(), lc.payment(amount="700.00", kind="cash", date="2026-11-29")])
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_INVOICE")
    await settled(crm, lc.order_id, **{UF.paid_amount: "700.00|RUB"})
    payment = lc.payment(amount="500.00", kind="card", date="2026-11-30", number="ПКО-2")
    await crm.post(payment)
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_PAID")
    assert d[UF.paid_amount] == "1200.00|RUB" and d[UF.payment_date][:10] == "2026-11-30"
    await crm.post(dict(payment, event_id=str(uuid.uuid4())))  # the same payment sent again as a new event
    notes = await wait_for(lambda: _notes(crm, lc.order_id), timeout=30)
    assert len(notes) == 1 and "оплатил" in notes[0]["MESSAGE"]


async def _notes(stack, order_id):
    return [n for n in stack.state()["notifications"] if n["TAG"] and order_id in n["TAG"]]


async def test_a_shipment_of_an_unpaid_order_shows_its_fields_and_leaves_payment_fields_empty(crm):
    cp, product = await counterparty_and_product(crm)
    lc = Lifecycle(cp, product)
    await crm.post([lc.order(), lc.invoice(), lc.shipment(number="РТ-77", date="2026-11-30")])
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_SHIPPED")
    assert (d[UF.shipment_number], d[UF.shipment_date][:10], d[UF.shipment_amount]) == ("РТ-77", "2026-11-30", "1200.00|RUB")
    assert d[UF.legal_entity] == PAYLOADS["shipment"]["organization"]["name"]
    assert d[UF.paid_amount] is None and d[UF.payment_date] is None


async def test_an_unposted_payment_and_a_deleted_shipment_are_withdrawn_and_the_stage_recomputed(crm):
    cp, product = await counterparty_and_product(crm)
    lc = Lifecycle(cp, product)
    payment_id, shipment_id = str(uuid.uuid4()), str(uuid.uuid4())
    await crm.post([lc.order(), lc.invoice(), lc.shipment(shipment_id), lc.payment(payment_id)])
    await settled(crm, lc.order_id, STAGE_ID="B24B_PAID")
    await crm.post(lc.payment(payment_id, posted=False))
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_SHIPPED")
    assert d[UF.paid_amount] is None
    await crm.post(lc.shipment(shipment_id, deleted=True))
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_INVOICE")
    assert d[UF.shipment_number] is None
    await crm.post(lc.order(deleted=True))
    await settled(crm, lc.order_id, STAGE_ID="LOSE")


async def test_an_order_arriving_before_its_counterparty_and_products_appears_once_they_arrive(crm):
    cp, product = str(uuid.uuid4()), str(uuid.uuid4())
    lc = Lifecycle(cp, product)
    await crm.post([lc.order(), lc.invoice()])
    await wait_for(lambda: _waited(crm), timeout=30)
    assert deal(crm, lc.order_id) is None
    company = full_company()
    company["entity_id"] = cp
    await crm.post([company, product_event(product)])
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_INVOICE")
    assert d["COMPANY_ID"] == next(c["ID"] for c in crm.state()["companies"] if c["ORIGIN_ID"] == cp)


async def _waited(stack):
    from bridge import metrics

    return metrics.DEPENDENCY_WAITS.labels("deal")._value.get() > 0


async def test_each_1c_document_leaves_a_comment_on_the_deal_timeline(crm):
    cp, product = await counterparty_and_product(crm)
    lc = Lifecycle(cp, product)
    await crm.post([lc.order(), lc.invoice(number="СЧ-5")])
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_INVOICE")
    comments = await wait_for(lambda: _comments(crm, d["ID"], 2), timeout=30)
    assert any("Заказ покупателя" in c for c in comments) and any("Счёт на оплату № СЧ-5" in c for c in comments)


async def _comments(stack, deal_id, at_least):
    found = [c["COMMENT"] for c in stack.state()["timeline_comments"]
             if str(c["ENTITY_ID"]) == deal_id and c["ENTITY_TYPE"].lower() == "deal"]
    return found if len(found) >= at_least else None


async def test_an_allocation_in_the_order_currency_pays_a_foreign_currency_order(crm):
    """у.е. contract: the order is in USD, the payment in RUB; 1C sends the allocation in the order's currency
    (allocation ``currency``, optional in contract v1), and only that amount counts toward the order."""
    cp, product = await counterparty_and_product(crm)
    lc = Lifecycle(cp, product)
    await crm.post(lc.order(amount="100.00", currency="USD"))
    await settled(crm, lc.order_id, STAGE_ID="B24B_ORDER", CURRENCY_ID="USD")
    payment_id = str(uuid.uuid4())
    rub = lc.payment(payment_id, amount="9150.00")
    rub["payload"]["allocations"] = [{"order_id": lc.order_id, "amount": "9150.00"}]  # RUB: not comparable
    await crm.post(rub)
    d = deal(crm, lc.order_id)
    comments = await wait_for(lambda: _comments(crm, d["ID"], 2), timeout=30)
    assert any("9150.00 RUB (в другой валюте, не учтено)" in c for c in comments), comments
    assert deal(crm, lc.order_id)["STAGE_ID"] == "B24B_ORDER"
    usd = lc.payment(payment_id, amount="9150.00")
    usd["payload"]["allocations"] = [{"order_id": lc.order_id, "amount": "100.00", "currency": "USD"}]
    await crm.post(usd)
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_PAID")
    assert d[UF.paid_amount] == "100.00|USD"

