"""The expected Bitrix24 state: the deal rules on small hand-written 1C histories, and its other sections."""

from __future__ import annotations

import copy
import json
import random
import uuid
from typing import Any

import pytest

from onec_outbox.contract import parse_event
from onec_outbox.simulator import ScenarioConfig, expected_state, generate

ORG = {"id": str(uuid.uuid4()), "name": 'ТД "Стройресурс" ООО', "inn": "7707083893"}
ORG2 = {"id": str(uuid.uuid4()), "name": "Стройресурс-Регион ООО", "inn": None}
BUYER = str(uuid.uuid4())
PRODUCT = str(uuid.uuid4())
MANAGER = {"id": str(uuid.uuid4()), "name": "Продажникова Ирина", "email": "irina.sales@sandbox.example"}


def _item(amount: str, quantity: str = "1.000") -> dict[str, Any]:
    return {"product_id": PRODUCT, "name": "Цемент М500", "quantity": quantity, "unit": {"code": "796", "name": "шт"},
            "price": amount, "discount_percent": "0.00", "vat_rate": "20", "vat_amount": "0.00", "amount": amount}


class Book:
    """Hand-written 1C history: every write is a contract-valid event with the next version."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.current: dict[str, tuple[str, dict[str, Any]]] = {}
        self.numbers = 0

    def write(self, entity_id: str, **changes: Any) -> str:
        entity, payload = self.current[entity_id]
        payload.update(changes)
        event = {"event_id": str(uuid.uuid4()), "event_type": f"{entity}.upserted", "source": "test",
                 "entity_id": entity_id, "version": len(self.events) + 1,
                 "occurred_at": "2026-03-02T10:00:00+03:00", "payload": copy.deepcopy(payload)}
        parse_event(event)
        self.events.append(event)
        return entity_id

    def _new(self, entity: str, payload: dict[str, Any], date: str) -> str:
        self.numbers += 1
        entity_id = str(uuid.uuid4())
        self.current[entity_id] = (entity, {"number": f"ТД{self.numbers:09d}", "date": date, "posted": True,
                                            "deleted": False, **payload})
        return self.write(entity_id)

    def order(self, amount: str = "1000.00", *, posted: bool = True, date: str = "2026-03-02") -> str:
        return self._new("customer_order", {
            "posted": posted, "organization": ORG, "counterparty_id": BUYER, "responsible": MANAGER,
            "currency": "RUB", "amount": amount, "items": [_item(amount)]}, date)

    def invoice(self, order: str, amount: str = "1000.00", *, date: str = "2026-03-02") -> str:
        return self._new("invoice", {"order_id": order, "currency": "RUB", "amount": amount,
                                     "items": [_item(amount, "2.000")]}, date)

    def payment(self, *allocations: tuple[str | None, str], date: str = "2026-03-03", kind: str = "bank") -> str:
        total = sum(float(a) for _, a in allocations)
        return self._new("payment", {"kind": kind, "counterparty_id": BUYER, "organization": ORG, "currency": "RUB",
                                     "amount": f"{total:.2f}",
                                     "allocations": [{"order_id": o, "amount": a} for o, a in allocations]}, date)

    def shipment(self, *orders: str, amount: str = "1000.00", date: str = "2026-03-04", org=ORG) -> str:
        return self._new("shipment", {"organization": org, "counterparty_id": BUYER, "currency": "RUB",
                                      "amount": amount, "order_ids": list(orders), "items": [_item(amount)]}, date)

    def deals(self, paid_rule: str = "full") -> dict[str, dict[str, Any]]:
        return expected_state(self.events, paid_rule=paid_rule)["deals"]

    def stage(self, order: str, paid_rule: str = "full") -> str:
        return self.deals(paid_rule)[order]["stage"]


@pytest.fixture
def book() -> Book:
    return Book()


def test_a_posted_order_alone_is_a_new_deal(book):
    order = book.order()
    deal = book.deals()[order]
    assert deal["stage"] == "new" and deal["amount"] == "1000.00" and deal["paid_amount"] == "0.00"
    assert deal["payment_date"] is None and deal["invoice_number"] is None and not deal["paid_notification"]
    assert deal["responsible_id"] == MANAGER["id"] and deal["counterparty_id"] == BUYER


def test_an_order_never_posted_has_no_deal(book):
    order = book.order(posted=False)
    book.write(order, comment="ещё думает")
    assert order not in book.deals()


def test_an_order_posted_once_keeps_its_deal_when_unposted(book):
    order = book.order()
    book.write(order, posted=False)
    assert book.stage(order) == "new"


def test_an_invoice_moves_the_deal_to_invoiced_and_sets_amount_and_rows(book):
    order = book.order("1000.00")
    invoice = book.invoice(order, "950.00")
    deal = book.deals()[order]
    assert deal["stage"] == "invoiced" and deal["amount"] == "950.00"
    assert deal["invoice_number"] == book.current[invoice][1]["number"]
    assert deal["product_rows"] == [{"product_id": PRODUCT, "quantity": "2.000", "price": "950.00",
                                     "discount_percent": "0.00"}]


def test_a_deleted_invoice_no_longer_counts(book):
    order = book.order("1000.00")
    invoice = book.invoice(order, "950.00")
    book.write(invoice, deleted=True)
    deal = book.deals()[order]
    assert deal["stage"] == "new" and deal["amount"] == "1000.00" and deal["invoice_number"] is None
    assert deal["product_rows"][0]["quantity"] == "1.000"


def test_two_valid_invoices_add_up_and_the_latest_is_shown(book):
    order = book.order("1000.00")
    book.invoice(order, "600.00", date="2026-03-03")
    later = book.invoice(order, "400.00", date="2026-03-05")
    book.invoice(order, "0.00", date="2026-03-04")
    deal = book.deals()[order]
    assert deal["amount"] == "1000.00" and len(deal["product_rows"]) == 3
    assert (deal["invoice_number"], deal["invoice_date"]) == (book.current[later][1]["number"], "2026-03-05")


def test_partial_payment_then_shipment_is_shipped_unpaid(book):
    order = book.order()
    book.invoice(order)
    book.payment((order, "400.00"), date="2026-03-03")
    shipment = book.shipment(order, date="2026-03-04")
    deal = book.deals()[order]
    assert deal["stage"] == "shipped_unpaid" and deal["paid_amount"] == "400.00"
    assert deal["payment_date"] == "2026-03-03"
    assert (deal["shipment_number"], deal["shipment_date"], deal["shipment_amount"]) == (
        book.current[shipment][1]["number"], "2026-03-04", "1000.00")
    assert deal["legal_entity"] == ORG["name"] and not deal["paid_notification"]


def test_the_final_payment_after_shipment_makes_the_deal_paid_and_notifies(book):
    order = book.order()
    book.invoice(order)
    book.payment((order, "400.00"), date="2026-03-03")
    book.shipment(order)
    book.payment((order, "600.00"), date="2026-03-06", kind="cash")
    deal = book.deals()[order]
    assert deal["stage"] == "paid" and deal["paid_amount"] == "1000.00"
    assert deal["payment_date"] == "2026-03-06" and deal["paid_notification"]


def test_the_any_rule_counts_a_partial_payment_as_paid(book):
    order = book.order()
    book.invoice(order)
    book.payment((order, "1.00"))
    assert book.stage(order, "full") == "invoiced"
    assert book.stage(order, "any") == "paid"


def test_unknown_paid_rule_is_refused():
    with pytest.raises(ValueError, match="paid_rule"):
        expected_state([], paid_rule="most")


def test_one_payment_covering_two_orders_pays_both_and_unposting_it_unpays_both(book):
    first, second = book.order("1000.00"), book.order("250.00")
    book.invoice(first, "1000.00")
    book.invoice(second, "250.00")
    payment = book.payment((first, "1000.00"), (second, "250.00"))
    book.shipment(first, second, amount="1250.00")
    deals = book.deals()
    assert deals[first]["stage"] == deals[second]["stage"] == "paid"
    assert (deals[first]["paid_amount"], deals[second]["paid_amount"]) == ("1000.00", "250.00")
    assert deals[first]["shipment_amount"] == deals[second]["shipment_amount"] == "1250.00"
    book.write(payment, posted=False)
    deals = book.deals()
    assert deals[first]["stage"] == deals[second]["stage"] == "shipped_unpaid"
    assert deals[first]["payment_date"] is None and not deals[second]["paid_notification"]


def test_a_deleted_payment_does_not_pay(book):
    order = book.order()
    payment = book.payment((order, "1000.00"))
    assert book.stage(order) == "paid"
    book.write(payment, posted=False, deleted=True)
    assert book.stage(order) == "new"


def test_an_allocation_without_an_order_pays_no_deal(book):
    order = book.order("1000.00")
    book.payment((order, "999.99"), (None, "5000.00"))
    deal = book.deals()[order]
    assert deal["stage"] == "new" and deal["paid_amount"] == "999.99"


def test_a_deleted_order_is_cancelled_even_when_paid(book):
    order = book.order()
    book.payment((order, "1000.00"))
    book.write(order, posted=False, deleted=True)
    deal = book.deals()[order]
    assert deal["stage"] == "cancelled" and not deal["paid_notification"]


def test_a_deleted_shipment_no_longer_counts(book):
    order = book.order()
    book.invoice(order)
    shipment = book.shipment(order)
    assert book.stage(order) == "shipped_unpaid"
    book.write(shipment, posted=False, deleted=True)
    deal = book.deals()[order]
    assert deal["stage"] == "invoiced" and deal["shipment_number"] is None and deal["shipment_amount"] == "0.00"


def test_the_latest_shipment_gives_number_date_and_legal_entity_and_sums_add_up(book):
    order = book.order()
    book.shipment(order, amount="300.00", date="2026-03-04")
    last = book.shipment(order, amount="700.00", date="2026-03-05", org=ORG2)
    deal = book.deals()[order]
    assert deal["shipment_number"] == book.current[last][1]["number"] and deal["shipment_date"] == "2026-03-05"
    assert deal["shipment_amount"] == "1000.00" and deal["legal_entity"] == ORG2["name"]


def test_ties_on_date_go_to_the_higher_number(book):
    order = book.order()
    book.invoice(order, "500.00", date="2026-03-03")
    second = book.invoice(order, "500.00", date="2026-03-03")
    assert book.deals()[order]["invoice_number"] == book.current[second][1]["number"]


def test_only_the_newest_version_counts_whatever_the_order_of_arrival(book):
    order = book.order()
    payment = book.payment((order, "1000.00"))
    book.write(payment, posted=False)
    events = list(reversed(book.events)) + book.events[:2]
    assert expected_state(events)["deals"][order]["stage"] == "new"


def test_a_generated_run_gives_the_same_state_in_any_order_and_with_repeats():
    events = list(generate(ScenarioConfig(seed=3)).events)
    expected = expected_state(events)
    shuffled = events + random.Random(0).sample(events, 50)
    random.Random(1).shuffle(shuffled)
    assert json.dumps(expected_state(shuffled)) == json.dumps(expected)


def test_a_default_run_expects_every_stage_and_paid_notifications():
    run = generate(ScenarioConfig())
    deals = expected_state(run.events)["deals"]
    assert {d["stage"] for d in deals.values()} == {"new", "invoiced", "shipped_unpaid", "paid", "cancelled"}
    assert all(d["paid_notification"] == (d["stage"] == "paid") for d in deals.values())
    drafts = [o for o, name in run.lifecycles.items() if name == "draft"]
    assert drafts and not set(drafts) & set(deals)


def test_counterparties_and_products_are_expected_in_their_final_state():
    run = generate(ScenarioConfig(seed=4))
    state = expected_state(run.events)
    assert set(state["counterparties"]) == {c.id for c in run.world.counterparties}
    assert set(state["products"]) == {p.id for p in run.world.products}
    latest = {}
    for event in run.events:
        latest[event["entity_id"]] = event["payload"]
    for cid, expected in state["counterparties"].items():
        payload = latest[cid]
        assert expected["kind"] == ("contact" if payload["legal_form"] == "person" else "company")
        assert expected["phones"] == sorted(payload["phones"])
        assert expected["bank_accounts"] == sorted(a["account"] for a in payload["bank_accounts"])
        assert expected["deleted"] == payload["deleted"]
    for pid, expected in state["products"].items():
        assert expected["sale_price"] == latest[pid]["sale_price"]["amount"]
    assert [c for c in state["counterparties"].values() if c["deleted"]]
    assert [c for c in state["counterparties"].values() if c["contact_persons"]]
