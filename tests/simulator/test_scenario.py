"""The generated timeline: valid contract v1, deterministic, in time order, and full of real lifecycles."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

import pytest

from onec_outbox.contract import parse_event
from onec_outbox.simulator import LIFECYCLES, ScenarioConfig, Sizes, generate
from tests.simulator.history import History

SEEDS = (1, 2, 3, 17, 2026)


@pytest.fixture(scope="module")
def default_run():
    return generate(ScenarioConfig())


@pytest.fixture(scope="module")
def history(default_run) -> History:
    return History(default_run.events)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_generated_event_passes_the_contract(seed):
    run = generate(ScenarioConfig(seed=seed))
    assert len(run.events) > 200
    for event in run.events:
        parse_event(event)  # raises ContractViolation with the field errors


@pytest.mark.parametrize("sizes", [Sizes(1, 1, 0), Sizes(1, 1, 5), Sizes(3, 2, 16), Sizes(200, 150, 400)])
def test_tiny_and_large_worlds_pass_the_contract_too(sizes):
    run = generate(ScenarioConfig(seed=9, sizes=sizes, days=1))
    for event in run.events:
        parse_event(event)
    assert len(run.lifecycles) == sizes.orders


def test_the_same_seed_gives_a_byte_identical_timeline():
    config = ScenarioConfig(seed=5, sizes=Sizes(20, 25, 30))
    first = json.dumps(generate(config).events, ensure_ascii=False)
    assert first == json.dumps(generate(config).events, ensure_ascii=False)


def test_different_seeds_give_different_worlds_and_days():
    one, two = generate(ScenarioConfig(seed=1)), generate(ScenarioConfig(seed=2))
    assert {e["entity_id"] for e in one.events}.isdisjoint({e["entity_id"] for e in two.events})
    assert [c.payload["name"] for c in one.world.counterparties] != [c.payload["name"] for c in two.world.counterparties]


def test_our_organizations_and_managers_are_the_same_in_every_world():
    one, two = generate(ScenarioConfig(seed=1)), generate(ScenarioConfig(seed=2))
    assert one.world.organizations == two.world.organizations
    assert one.world.managers == two.world.managers


def test_sizes_are_what_was_asked_for():
    run = generate(ScenarioConfig(sizes=Sizes(12, 15, 20)))
    history = History(run.events)
    assert len(history.ids("counterparty")) == 12
    assert len(history.ids("product")) == 15
    assert len(history.ids("customer_order")) == 20


def test_events_are_in_time_order_and_every_version_is_newer_than_the_last(default_run):
    versions = [e["version"] for e in default_run.events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    times = [datetime.fromisoformat(e["occurred_at"]) for e in default_run.events]
    assert times == sorted(times)


def test_versions_only_grow_per_entity_and_match_occurred_at(history):
    for entity_id, events in history.of.items():
        versions = [e["version"] for e in events]
        assert versions == sorted(set(versions)), entity_id
        for event in events:
            moment = datetime.fromisoformat(event["occurred_at"])
            assert event["occurred_at"].endswith("+03:00")
            assert int(moment.timestamp()) == event["version"] // 1000


def test_the_day_starts_with_an_export_of_every_counterparty_and_product(default_run, history):
    cards = len(default_run.world.counterparties) + len(default_run.world.products)
    head = default_run.events[:cards]
    assert {e["event_type"] for e in head} == {"counterparty.upserted", "product.upserted"}
    assert len({e["entity_id"] for e in head}) == cards


def test_document_numbers_and_dates_stay_as_first_written(history):
    for entity in ("customer_order", "invoice", "payment", "shipment"):
        for doc_id in history.ids(entity):
            first = history.of[doc_id][0]
            assert first["payload"]["date"] == first["occurred_at"][:10]
            assert {(p["number"], p["date"]) for p in history.payloads(doc_id)} == {
                (first["payload"]["number"], first["payload"]["date"])}


def test_documents_refer_only_to_what_was_exported_before(history):
    seen: set[str] = set()
    for event in history.events:
        p = event["payload"]
        refs = [p.get("counterparty_id"), p.get("order_id"), *p.get("order_ids", []),
                *(a["order_id"] for a in p.get("allocations", [])), *(i["product_id"] for i in p.get("items", []))]
        assert {r for r in refs if r} <= seen, event["event_type"]
        seen.add(event["entity_id"])


def test_every_lifecycle_occurs_in_a_default_run(default_run):
    assert set(default_run.lifecycles.values()) == set(LIFECYCLES)


# --- the lifecycles, recognised from the timeline alone ------------------------------------------------


def _orders_with(history: History, predicate) -> list[str]:
    return [o for o in history.ids("customer_order") if predicate(o)]


def test_some_orders_stay_without_documents(history):
    alone = _orders_with(history, lambda o: history.final(o)["posted"] and not any(
        history.documents_of(o, e) for e in ("invoice", "payment", "shipment")))
    assert alone


def test_some_orders_are_saved_but_never_posted(history):
    assert _orders_with(history, lambda o: not any(p["posted"] for p in history.payloads(o)))


def test_some_orders_are_only_invoiced(history):
    assert _orders_with(history, lambda o: history.documents_of(o, "invoice") and not history.documents_of(
        o, "payment") and not history.documents_of(o, "shipment") and not history.final(o)["deleted"])


def test_full_payment_comes_before_shipment_for_some_orders(history):
    def paid_then_shipped(order_id):
        payments, shipments = history.documents_of(order_id, "payment"), history.documents_of(order_id, "shipment")
        if len(payments) != 1 or not shipments:
            return False
        payment = history.final(payments[0])
        return (history.allocated(payment, order_id) == Decimal(history.final(order_id)["amount"])
                and history.first_posted_at(payments[0]) < history.first_posted_at(shipments[0]))

    assert _orders_with(history, paid_then_shipped)


def test_shipment_between_a_partial_and_the_final_payment_for_some_orders(history):
    def partial_shipped_paid(order_id):
        payments = sorted(history.documents_of(order_id, "payment"), key=history.first_posted_at)
        shipments = history.documents_of(order_id, "shipment")
        if len(payments) != 2 or len(shipments) != 1:
            return False
        first, last = (history.first_posted_at(p) for p in payments)
        total = sum(history.allocated(history.final(p), order_id) for p in payments)
        return first < history.first_posted_at(shipments[0]) < last and total == Decimal(
            history.final(order_id)["amount"])

    assert _orders_with(history, partial_shipped_paid)


def test_some_orders_are_shipped_without_payment_or_invoice(history):
    assert _orders_with(history, lambda o: history.documents_of(o, "shipment") and not history.documents_of(
        o, "payment") and not history.documents_of(o, "invoice"))


def test_payments_come_by_bank_cash_and_card(history):
    kinds = {history.final(p)["kind"] for p in history.ids("payment")}
    assert kinds == {"bank", "cash", "card"}


def test_some_bank_payments_are_posted_only_once_marked_paid(history):
    assert [p for p in history.ids("payment")
            if [x["posted"] for x in history.payloads(p)][:2] == [False, True] and history.final(p)["kind"] == "bank"]


def test_payments_get_unposted_reposted_and_marked_for_deletion(history):
    flags = {p: [(x["posted"], x["deleted"]) for x in history.payloads(p)] for p in history.ids("payment")}
    unposted = [f for f in flags.values() if (True, False) in f and f[f.index((True, False)) + 1:][:1] == [
        (False, False)]]
    assert unposted
    assert [f for f in unposted if f[-1] == (True, False)]  # posted again
    assert [f for f in unposted if f[-1] == (False, True)]  # marked for deletion


def test_invoices_and_shipments_get_marked_for_deletion(history):
    assert [i for i in history.ids("invoice") if history.final(i)["deleted"]]
    deleted = [s for s in history.ids("shipment") if history.final(s)["deleted"]]
    assert deleted and all(not history.final(s)["posted"] for s in deleted)


def test_some_orders_are_reposted_with_changed_rows(history):
    def changed(order_id):
        posted = [p for p in history.payloads(order_id) if p["posted"]]
        return len(posted) >= 2 and posted[0]["items"] != posted[-1]["items"] and (
            posted[0]["amount"] != posted[-1]["amount"])

    assert _orders_with(history, changed)


def test_some_orders_are_marked_for_deletion_after_posting(history):
    assert _orders_with(history, lambda o: history.final(o)["deleted"] and any(
        p["posted"] for p in history.payloads(o)))


def test_one_payment_pays_two_orders(history):
    two = [p for p in history.ids("payment")
           if len({a["order_id"] for a in history.final(p)["allocations"] if a["order_id"]}) == 2]
    assert two
    assert [s for s in history.ids("shipment") if len(history.final(s)["order_ids"]) == 2]


def test_some_allocation_has_no_order(history):
    assert [p for p in history.ids("payment")
            if any(a["order_id"] is None for a in history.final(p)["allocations"])]


def test_payment_amount_is_the_sum_of_its_allocations(history):
    for payment in history.ids("payment"):
        p = history.final(payment)
        assert Decimal(p["amount"]) == sum(Decimal(a["amount"]) for a in p["allocations"])


@pytest.mark.parametrize("seed", range(1, 21))
def test_no_company_or_entrepreneur_pays_over_100000_roubles_in_cash(seed):
    """Cash between an organisation and a company or ИП is capped at 100,000 ₽ per contract (Указание Банка
    России 5348-У, п. 6): a larger payment from such a buyer comes by bank.  Persons may pay any sum."""
    history = History(generate(ScenarioConfig(seed=seed)).events)
    forms = {c: history.final(c)["legal_form"] for c in history.ids("counterparty")}
    for payment in history.ids("payment"):
        for p in history.payloads(payment):
            if p["kind"] == "cash" and forms[p["counterparty_id"]] != "person":
                assert Decimal(p["amount"]) <= 100_000, (seed, payment, p["amount"])


@pytest.mark.parametrize("seed", range(1, 21))
def test_a_reissued_invoice_is_never_dearer_than_its_order(seed):
    """The invoice issued again with a discount takes it off on top of the rows' own (a row at 7 % stays
    cheaper, not dearer, than in the order)."""
    history = History(generate(ScenarioConfig(seed=seed)).events)
    for invoice in history.ids("invoice"):
        p = history.final(invoice)
        order = history.final(p["order_id"])
        rows = {i["product_id"]: i for i in order["items"]}
        for row in p["items"]:
            assert Decimal(row["discount_percent"]) >= Decimal(rows[row["product_id"]]["discount_percent"]), row
        assert Decimal(p["amount"]) <= Decimal(order["amount"]), (seed, invoice)


def test_row_amounts_and_vat_round_halves_up_as_1c_does():
    """1C's Окр rounds a half kopeck up (2288.265 → 2288.27), not to even as Decimal.quantize does by default."""
    from onec_outbox.simulator.office import reprice

    row = reprice({"product_id": "p", "quantity": "5.000", "price": "492.10", "vat_rate": "20"}, Decimal(7))
    assert row["amount"] == "2288.27"  # 2460.50 × 0.93 = 2288.265
    row = reprice({"product_id": "p", "quantity": "1.000", "price": "6295.95", "vat_rate": "20"}, Decimal(0))
    assert row["vat_amount"] == "1049.33"  # 6295.95 × 20/120 = 1049.325


def test_order_amount_is_the_sum_of_its_rows(history):
    for order in history.ids("customer_order"):
        for p in history.payloads(order):
            assert Decimal(p["amount"]) == sum(Decimal(i["amount"]) for i in p["items"])


# --- catalog edits -------------------------------------------------------------------------------------


def _changes(history: History, entity: str):
    for entity_id in history.ids(entity):
        payloads = history.payloads(entity_id)
        yield from pairwise(payloads)


def test_counterparties_gain_and_lose_phones_and_gain_bank_accounts(history):
    pairs = list(_changes(history, "counterparty"))
    assert [1 for a, b in pairs if set(b["phones"]) - set(a["phones"])]
    assert [1 for a, b in pairs if set(a["phones"]) - set(b["phones"])]
    assert [1 for a, b in pairs if len(b["bank_accounts"]) > len(a["bank_accounts"])]
    assert [1 for a, b in pairs if len(b["contact_persons"]) > len(a["contact_persons"])]


def test_a_counterparty_and_a_product_are_marked_for_deletion(history):
    assert [c for c in history.ids("counterparty") if history.final(c)["deleted"]]
    assert [p for p in history.ids("product") if history.final(p)["deleted"]]


def test_product_prices_change_and_orders_use_the_price_of_their_moment(history):
    changed = [(a, b) for a, b in _changes(history, "product") if a["sale_price"] != b["sale_price"]]
    assert changed
    current: dict[str, str] = {}
    for event in history.events:
        if event["event_type"] == "product.upserted":
            current[event["entity_id"]] = event["payload"]["sale_price"]["amount"]
        elif event["event_type"] == "customer_order.upserted" and history.of[event["entity_id"]][0] is event:
            for item in event["payload"]["items"]:
                assert item["price"] == current[item["product_id"]]
