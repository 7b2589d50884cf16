"""The rules that say whether a record a manager typed into Bitrix24 is a 1C object: adopt, park or create."""

from __future__ import annotations

import pytest

from bridge import disposition, mapping
from bridge.domain import matching as rules
from bridge.errors import ConfigError, NeedsReview


def req(rid, company, inn, kpp=None, **extra):
    return {"ID": str(rid), "ENTITY_TYPE_ID": "4", "ENTITY_ID": str(company), "RQ_INN": inn, "RQ_KPP": kpp, **extra}


def test_the_same_inn_and_kpp_is_the_company_and_a_branch_with_another_kpp_is_not():
    rows = [req(1, 10, "7707083893", "773601001"), req(2, 20, "7707083893", "773650001")]
    found = rules.requisite_candidates(rows, inn="7707083893", kpp="773601001")
    match = rules.decide([found])
    assert match.verdict is rules.Verdict.ADOPT
    assert (match.target.id, match.target.requisite_id) == (10, 1)


def test_two_companies_with_the_same_inn_and_kpp_are_parked():
    rows = [req(1, 10, "7707083893", "773601001"), req(2, 20, "7707083893", "773601001")]
    match = rules.decide([rules.requisite_candidates(rows, inn="7707083893", kpp="773601001")])
    assert match.verdict is rules.Verdict.PARK and match.reason == rules.SEVERAL
    assert [c.id for c in match.candidates] == [10, 20]


def test_a_requisite_without_kpp_is_only_a_weak_hint_for_a_company_with_one():
    match = rules.decide([rules.requisite_candidates([req(1, 10, "7707083893")], inn="7707083893",
                                                     kpp="773601001")])
    assert match.verdict is rules.Verdict.PARK and match.reason == rules.WEAK


def test_an_entrepreneur_is_found_by_the_12_digit_inn_alone():
    match = rules.decide([rules.requisite_candidates([req(1, 10, "500100732259")], inn="500100732259", kpp=None)])
    assert match.verdict is rules.Verdict.ADOPT and match.target.id == 10


def test_only_branches_with_other_kpps_mean_create():
    rows = [req(1, 10, "7707083893", "773650001")]
    assert rules.decide([rules.requisite_candidates(rows, inn="7707083893", kpp="773601001")]).verdict \
        is rules.Verdict.CREATE


def test_an_inn_in_the_title_is_weak_and_must_stand_alone():
    rows = [{"ID": "5", "TITLE": "Ромашка (ИНН 7707083893)"}, {"ID": "6", "TITLE": "Рога 77070838931"}]
    found = rules.title_candidates(rows, inn="7707083893")
    assert [c.id for c in found] == [5]
    assert rules.decide([found]).verdict is rules.Verdict.PARK


def test_the_first_step_with_candidates_decides():
    strong = [rules.Candidate(1, "requisite")]
    weak = [rules.Candidate(2, "title", False)]
    assert rules.decide([[], strong, weak]).target.id == 1
    assert rules.decide([[], []]).verdict is rules.Verdict.CREATE


def test_a_single_name_match_is_parked_unless_the_mapping_trusts_names():
    found = rules.product_candidates([{"id": 7, "name": "Болт  М8 "}], step="name", field_name="name",
                                     value="болт м8", id_field="id")
    assert rules.decide([found]).verdict is rules.Verdict.PARK
    assert rules.decide([found], park_single=["title"]).verdict is rules.Verdict.ADOPT
    near = rules.product_candidates([{"id": 8, "name": "Болт М8 оцинк."}], step="name", field_name="name",
                                    value="Болт М8", id_field="id")
    assert near == []


def test_a_shared_phone_under_another_name_is_another_person():
    wanted = {"LAST_NAME": "Иванов", "NAME": "Пётр", "SECOND_NAME": "Сергеевич"}
    rows = [{"ID": "1", "LAST_NAME": "Иванов", "NAME": "Петр"}, {"ID": "2", "LAST_NAME": "Сидорова", "NAME": "Анна"},
            {"ID": "3", "NAME": "Иванов Пётр Сергеевич"}]
    assert [c.id for c in rules.contact_candidates(rows, wanted=wanted)] == [1, 3]
    assert rules.contact_candidates([{"ID": "4", "LAST_NAME": "Иванов", "NAME": "Пётр", "SECOND_NAME": "Ильич"}],
                                    wanted=wanted) == []


def test_adopting_writes_our_key_and_fills_only_empty_fields():
    desired = {"TITLE": "Ромашка ООО", "ORIGINATOR_ID": "ut", "ORIGIN_ID": "cp-1", "COMMENTS": "из 1С"}
    plan = rules.adoption(desired, {"TITLE": "Ромашка", "COMMENTS": ""}, key_fields=("ORIGINATOR_ID", "ORIGIN_ID"),
                          onec_wins=False)
    assert plan.fields == {"ORIGINATOR_ID": "ut", "ORIGIN_ID": "cp-1", "COMMENTS": "из 1С"} and plan.keyed
    wins = rules.adoption(desired, {"TITLE": "Ромашка"}, key_fields=("ORIGINATOR_ID", "ORIGIN_ID"), onec_wins=True)
    assert wins.fields["TITLE"] == "Ромашка ООО"


def test_another_bases_key_stays_on_an_adopted_record():
    plan = rules.adoption({"ORIGINATOR_ID": "base-b", "ORIGIN_ID": "x"}, {"ORIGINATOR_ID": "base-a", "ORIGIN_ID": "y"},
                          key_fields=("ORIGINATOR_ID", "ORIGIN_ID"), onec_wins=True)
    assert plan.fields == {} and not plan.keyed
    # a portal fills a product's XML_ID with its id: that is not a key
    product = rules.adoption({"xmlId": "1c-b-1"}, {"xmlId": "345"}, key_fields=("xmlId",), onec_wins=False,
                             key_prefix="1c-")
    assert product.fields == {"xmlId": "1c-b-1"}


def test_needs_review_is_parked_not_dead_lettered():
    exc = NeedsReview("x", onec_type="counterparty", onec_id="1", reason=rules.SEVERAL, candidates=[{"id": 1}])
    decision = disposition.decide(exc, now=0)
    assert isinstance(decision, disposition.ParkForReview)
    assert (decision.onec_type, decision.reason) == ("counterparty", rules.SEVERAL)


def test_the_mapping_checks_the_matching_steps():
    text = mapping.default_text()
    assert mapping.parse(text).matching.steps("company") == ["requisite", "title"]
    with pytest.raises(ConfigError, match="matching.product: .*must start with key"):
        mapping.parse(text.replace("product: [key, article, name]", "product: [name, key]"))
    with pytest.raises(ConfigError, match="unknown step 'inn'"):
        mapping.parse(text.replace("company: [key, requisite, user_field, title]", "company: [key, inn]"))
    named = mapping.parse(text.replace("company_inn_field: null", "company_inn_field: UF_CRM_INN"))
    assert named.matching.steps("company") == ["requisite", "user_field", "title"]
