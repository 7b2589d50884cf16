"""What `b24bridge reconcile` calls drift, a duplicate, a twin, a wrong amount or stage (pure, no I/O)."""

from decimal import Decimal

from prometheus_client import generate_latest

from bridge import mapping as mapping_mod
from bridge import metrics
from bridge.domain.reconcile import (
    DealExpectation,
    LinkView,
    Report,
    comparable,
    deal_findings,
    drift,
    duplicates,
    field_drift,
    missing,
    rows_sum,
    twins,
)
from bridge.reconcile import export

MAPPING = mapping_mod.load(None)


def view(b24_id: int, fields=None, onec_id="cp-1") -> LinkView:
    return LinkView("ut", "counterparty", onec_id, b24_id, fields)


def test_a_value_bitrix24_reads_back_in_its_own_form_is_not_drift():
    assert comparable("1200.00") == comparable(1200) == comparable("1200")
    assert comparable("2026-11-28") == comparable("2026-11-28T00:00:00+03:00")
    assert comparable("500.5|RUB") == comparable("500.50|RUB")
    assert comparable(None) == comparable("") == comparable(False)
    assert comparable("ТД-1") != comparable("ТД-2")


def test_a_catalog_price_the_portal_keeps_in_kopecks_is_compared_in_kopecks():
    """b_catalog_price.PRICE is DECIMAL(18,2): 1C's four places read back rounded, and that is no edit (the
    purchase price keeps six places: compared as it is)."""
    pushed = {"basePrice": "121.5050", "purchasingPrice": "121.5050", "NAME": "0.0725"}
    assert field_drift(pushed, {"basePrice": 121.51, "purchasingPrice": "121.505000", "NAME": "0.0725"}) == {}
    assert field_drift(pushed, {"basePrice": 121.5, "purchasingPrice": "121.51", "NAME": "0.07"}) == {
        "basePrice": ("121.5050", 121.5), "purchasingPrice": ("121.5050", "121.51"), "NAME": ("0.0725", "0.07")}
    assert field_drift({"basePrice": "180"}, {"basePrice": None}) == {"basePrice": ("180", None)}  # deleted
    assert field_drift({"PRICE": "0.0725"}, {"PRICE": "0.07"}) == {}  # the legacy API: the same column


def test_owned_fields_drift_create_only_keys_and_unselected_fields_do_not():
    want = {"TITLE": "ООО Ромашка", "ORIGIN_ID": "x", "COMMENTS": "1C", "UF_CRM_NO": "СЧ-1", "UF_GONE": "y"}
    have = {"TITLE": "Ромашка (клиент)", "ORIGIN_ID": "x", "COMMENTS": "менеджер", "UF_CRM_NO": "СЧ-руками"}
    assert field_drift(want, have, create_only=MAPPING.create_only("company")) == {
        "UF_CRM_NO": ("СЧ-1", "СЧ-руками")}


def test_the_mapping_names_the_create_only_fields_per_entity():
    assert MAPPING.create_only("company") == {"TITLE", "ASSIGNED_BY_ID", "COMMENTS"}
    assert MAPPING.create_only("product") == frozenset()
    custom = mapping_mod.parse(mapping_mod.default_text() + "\n", "m")
    assert custom.create_only("deal") == {"TITLE", "ASSIGNED_BY_ID", "COMMENTS"}


def test_a_linked_record_bitrix24_no_longer_has_is_missing():
    found = missing("company", [view(1), view(2, onec_id="cp-2")], present=[1])
    assert [(f.kind, f.b24_id, f.onec_id, f.repairable) for f in found] == [("missing", 2, "cp-2", True)]


def test_drift_is_reported_per_record_with_both_values_and_not_for_a_link_in_doubt():
    links = [view(1, {"NAME": "Гвоздь"}), view(2, None)]
    found = drift("product", links, {1: {"NAME": "Шуруп"}, 2: {"NAME": "что угодно"}})
    assert [(f.b24_id, f.fields) for f in found] == [(1, {"NAME": ("Гвоздь", "Шуруп")})]


def test_two_records_with_one_key_are_a_duplicate_the_linked_one_is_the_original_and_none_is_repairable():
    records = [{"ID": "5", "K": "a"}, {"ID": "9", "K": "a"}, {"ID": "7", "K": "b"}, {"ID": "8", "K": None}]
    found = duplicates("deal", records, lambda r: r["K"], {9: view(9)}, "ORIGIN_ID")
    assert [(f.b24_id, f.others, f.repairable) for f in found] == [(5, (9,), False)]


def test_an_unlinked_record_with_a_linked_ones_inn_and_kpp_is_an_adoptable_twin():
    found = twins("company", {1: ("7701", "7736")}, {3: ("7701", "7736"), 4: ("7701", "0000")}, {1: view(1)},
                  "INN/KPP")
    assert [(f.kind, f.b24_id, f.others, f.repairable) for f in found] == [("twin", 3, (1,), False)]


def want(**kw) -> DealExpectation:
    base = dict(source="ut", order_id="o-1", b24_id=10, stage_id="B24B_INVOICE", amount=Decimal("1200.00"),
                rows_total=Decimal("1200.00"), currency="RUB", fields={"UF_CRM_NO": "СЧ-1"})
    return DealExpectation(**{**base, **kw})


def test_a_deal_in_a_stage_its_facts_do_not_call_for_and_an_amount_off_by_a_kopeck_are_findings():
    deal = {"ID": "10", "STAGE_ID": "B24B_PAID", "OPPORTUNITY": "1199.99", "UF_CRM_NO": "СЧ-1"}
    rows = [{"PRICE": 33.33, "QUANTITY": 36}]  # 1199.88
    found = {f.kind: f for f in deal_findings(want(), deal, rows)}
    assert set(found) == {"stage", "amount"}
    assert found["stage"].fields == {"STAGE_ID": ("B24B_INVOICE", "B24B_PAID")}
    assert found["amount"].fields == {"OPPORTUNITY": (Decimal("1200.00"), Decimal("1199.99")),
                                      "product rows": (Decimal("1200.00"), Decimal("1199.88"))}


def test_a_deal_as_1c_calls_for_it_has_no_findings_whatever_the_create_only_fields_say():
    deal = {"ID": "10", "STAGE_ID": "B24B_INVOICE", "OPPORTUNITY": 1200, "UF_CRM_NO": "СЧ-1", "TITLE": "мой"}
    rows = [{"PRICE": "33.33", "QUANTITY": "2"}, {"PRICE": "1133.34", "QUANTITY": "1"}]
    assert rows_sum(rows) == Decimal("1200.00")
    assert deal_findings(want(fields={"UF_CRM_NO": "СЧ-1", "TITLE": "Заказ"}), deal, rows,
                         MAPPING.create_only("deal")) == []


def test_the_report_counts_every_entity_and_kind_zeros_included():
    report = Report(findings=missing("company", [view(2)], present=[]))
    counts = report.counts()
    assert counts[("company", "missing")] == 1 and counts[("deal", "stage")] == 0
    assert len(counts) == 5 * 6
    assert report.as_dict()["counts"]["company"]["missing"] == 1 and not report.clean


def test_a_run_sets_the_drift_gauge_of_every_entity_and_kind_that_the_reconcile_process_exports():
    export(Report(findings=missing("company", [view(2)], present=[])))
    text = generate_latest(metrics.registry("reconcile")).decode()
    assert 'bridge_reconcile_drift{entity="company",kind="missing"} 1.0' in text
    assert 'bridge_reconcile_drift{entity="deal",kind="stage"} 0.0' in text
    assert "bridge_reconcile_last_run_timestamp_seconds" in text
