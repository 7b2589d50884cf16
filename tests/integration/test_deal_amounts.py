"""Whatever 1C's order lines are — fractional quantities, discounts in percent or in money, VAT 20/10/0 or
none, included in the price or not, a 100 % discount, large amounts — the deal in Bitrix24 shows 1C's amount
and its product rows add up to it to the kopeck, and `reconcile` agrees (real PostgreSQL projection, the
sandbox portal over HTTP, which prices and sums rows as CCrmProductRow/CCrmSaleHelper do)."""

from __future__ import annotations

import asyncio
import copy
import uuid
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import db
from bridge.b24 import client_from_settings
from bridge.reconcile import Reconciler
from bridge.settings import Settings
from bridge.sync.deal import DealHandler
from onec_outbox.contract import parse_event
from tests.contract.samples import PAYLOADS, event
from tests.integration.conftest import MAPPING
from tests.support.deals import seed_links

CENT = Decimal("0.01")
RATES = ("20", "10", "0", "none")


def kopecks(value: Decimal) -> Decimal:
    return abs(value.quantize(CENT, ROUND_HALF_UP)) if not value else value.quantize(CENT, ROUND_HALF_UP)


@st.composite
def line(draw) -> dict:
    """One 1C row, its amounts worked out as 1C does: amount = price × quantity less the discount, rounded
    to kopecks; VAT on top of it or inside it."""
    quantity = Decimal(draw(st.integers(1, 5_000_000))) / 1000  # 0.001 … 5000.000
    price = Decimal(draw(st.integers(0, 10_000_000_000))) / 10_000  # 0.0000 … 1 000 000.0000
    gross = price * quantity
    discount = draw(st.sampled_from(("none", "percent", "money", "full")))
    percent = None
    if discount == "percent":
        percent = Decimal(draw(st.integers(1, 9999))) / 100
        amount = kopecks(gross * (100 - percent) / 100)
    elif discount == "full":
        percent, amount = Decimal(100), Decimal(0)
    elif discount == "money":
        amount = kopecks(gross - kopecks(gross) * Decimal(draw(st.integers(0, 100))) / 100)
        amount = max(amount, Decimal("0.00")) if amount else Decimal("0.00")
    else:
        amount = kopecks(gross)
    rate = draw(st.sampled_from(RATES))
    return {"quantity": quantity, "price": price, "percent": percent, "amount": amount, "rate": rate}


def order_event(order_id: str, counterparty: str, product: str, lines: list[dict], include_vat: bool) -> tuple[dict, Decimal]:
    items, total = [], Decimal(0)
    for n, ln in enumerate(lines):
        r = Decimal(0) if ln["rate"] == "none" else Decimal(ln["rate"])
        vat = kopecks(ln["amount"] * r / (100 + r)) if include_vat else kopecks(ln["amount"] * r / 100)
        total += ln["amount"] if include_vat else ln["amount"] + vat
        items.append({"product_id": product, "name": f"Товар {n + 1}", "quantity": f"{ln['quantity']:.3f}",
                      "unit": {"code": "166", "name": "кг"}, "price": f"{ln['price']:.4f}",
                      "discount_percent": f"{ln['percent']:.2f}" if ln["percent"] is not None else None,
                      "vat_rate": ln["rate"], "vat_amount": f"{vat:.2f}", "amount": f"{ln['amount']:.2f}"})
    p = copy.deepcopy(PAYLOADS["customer_order"])
    p.update(number="ТД-" + order_id[:6], posted=True, deleted=False, amount=f"{total:.2f}", items=items,
             counterparty_id=counterparty, contact_person_id=None, amounts_include_vat=include_vat)
    return event("customer_order", event_id=str(uuid.uuid4()), entity_id=order_id, version=1, payload=p), total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(lines=st.lists(line(), min_size=1, max_size=6), include_vat=st.booleans())
def test_the_deal_and_its_rows_are_1c_amount_to_the_kopeck_and_reconcile_agrees(db_url, portal, lines, include_vat):
    async def run() -> None:
        pool = await db.create_pool(db_url, max_size=4)
        client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0))
        try:
            cp, product, _ = await seed_links(pool, portal.sandbox)
            order_id = str(uuid.uuid4())
            e, total = order_event(order_id, cp, product, lines, include_vat)
            await DealHandler(pool, client, MAPPING).handle(parse_event(e))
            deal = next(d for d in portal.sandbox.state()["deals"] if d["ORIGIN_ID"] == order_id)
            rows = portal.sandbox.call("crm.deal.productrows.get", {"id": deal["ID"]}).result.value
            assert Decimal(deal["OPPORTUNITY"]) == total
            row_sum = kopecks(sum((Decimal(str(r["PRICE"])) * Decimal(str(r["QUANTITY"])) for r in rows), Decimal(0)))
            assert row_sum == total, rows
            report = await Reconciler(pool, client, MAPPING).run(["deal"])
            mine = [f for f in report.findings if f.b24_id == int(deal["ID"])]
            assert mine == []
        finally:
            await client.aclose()
            await pool.close()

    asyncio.run(run())
