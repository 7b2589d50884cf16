"""Field ownership: create-only fields are the managers' after create; 1C's own fields are put back to 1C's
value on the next 1C change, and an overwritten manual edit is recognised (docs/ownership.md)."""

import pytest

from bridge import mapping
from bridge.domain.diff import comparable, overwritten, owned_changes, same_value
from bridge.errors import ConfigError

DEAL_CREATE_ONLY = frozenset({"TITLE", "ASSIGNED_BY_ID", "COMMENTS"})
PRESETS = "requisite_presets: {company: 1, individual_entrepreneur: 2, person: 3}\n"


def test_a_create_only_field_is_never_sent_to_an_existing_record():
    pushed = {"TITLE": "Заказ 1", "ASSIGNED_BY_ID": "7", "OPPORTUNITY": "100.00"}
    desired = {"TITLE": "Заказ 1 (изм.)", "ASSIGNED_BY_ID": "9", "OPPORTUNITY": "150.00"}
    assert owned_changes(desired, pushed, DEAL_CREATE_ONLY) == {"OPPORTUNITY": "150.00"}


def test_a_record_1c_did_not_change_is_not_touched_and_a_create_only_change_sends_only_owned_fields():
    pushed = {"TITLE": "Заказ 1", "OPPORTUNITY": "100.00", "COMMENTS": "x"}
    assert owned_changes(dict(pushed), pushed, DEAL_CREATE_ONLY) == {}
    assert owned_changes({"TITLE": "Заказ 1 (изм.)", "OPPORTUNITY": "100.00"}, pushed, DEAL_CREATE_ONLY) == {
        "OPPORTUNITY": "100.00"}  # the manager's title stays, and 1C's emptied comment is not cleared either


def test_on_a_1c_change_every_owned_field_is_sent_so_a_managers_edit_of_one_is_reverted():
    pushed = {"STAGE_ID": "B24B_ORDER", "OPPORTUNITY": "100.00", "UF_CRM_B24B_INVOICE_NO": "5"}
    desired = {"STAGE_ID": "B24B_INVOICE", "OPPORTUNITY": "100.00", "UF_CRM_B24B_INVOICE_NO": "5"}
    assert owned_changes(desired, pushed) == desired


def test_an_owned_field_1c_emptied_or_never_had_is_cleared_and_three_way_fields_only_when_changed():
    pushed = {"STAGE_ID": "A", "UF_X": "1", "CONTACT_IDS": ["1"]}
    desired = {"STAGE_ID": "B", "CONTACT_IDS": ["1"]}
    assert owned_changes(desired, pushed, three_way=frozenset({"CONTACT_IDS"}), clear=["UF_X", "UF_Y"]) == {
        "STAGE_ID": "B", "UF_X": "", "UF_Y": ""}
    desired = {"STAGE_ID": "A", "CONTACT_IDS": ["1", "2"]}
    assert owned_changes(desired, pushed, three_way=frozenset({"CONTACT_IDS"})) == {
        "STAGE_ID": "A", "CONTACT_IDS": ["1", "2"], "UF_X": ""}


def test_values_compare_the_way_bitrix24_shows_them():
    assert same_value("1500.00", "1500") and same_value(1500, "1500.00")
    assert same_value("2024-05-01T00:00:00+03:00", "2024-05-01")
    assert same_value("300|RUB", "300.00|RUB") and not same_value("300|RUB", "300|USD")
    assert same_value(None, "") and same_value([], None)
    assert same_value("0", "", "COMPANY_ID") and not same_value("0", "", "OPPORTUNITY")
    assert comparable(["2", "1"]) == comparable(["1", "2"])
    assert not same_value("Ромашка", "Ромашка ООО")


def test_an_overwritten_manual_edit_is_what_bitrix24_held_that_neither_1c_nor_the_last_push_had():
    pushed = {"OPPORTUNITY": "100.00", "STAGE_ID": "B24B_ORDER", "UF_CRM_B24B_INVOICE_NO": "5"}
    current = {"OPPORTUNITY": "999.00", "STAGE_ID": "B24B_ORDER", "UF_CRM_B24B_INVOICE_NO": "5"}
    sent = {"OPPORTUNITY": "100.00", "STAGE_ID": "B24B_INVOICE", "UF_CRM_B24B_INVOICE_NO": "5"}
    # the stage is 1C's own change (Bitrix24 held what was pushed); the amount was a manager's edit
    assert overwritten(current, pushed, sent) == {"OPPORTUNITY": ("999.00", "100.00")}


def test_a_field_the_bridge_left_empty_and_a_manager_filled_counts_but_unknown_pushes_do_not():
    sent = {"UF_CRM_B24B_PAID_SUM": ""}
    assert overwritten({"UF_CRM_B24B_PAID_SUM": "50|RUB"}, {}, sent) == {"UF_CRM_B24B_PAID_SUM": ("50|RUB", "")}
    assert overwritten({"OPPORTUNITY": "999"}, None, {"OPPORTUNITY": "1"}) == {}  # never pushed (found)
    assert overwritten({"OPPORTUNITY": "999"}, {"OPPORTUNITY": None}, {"OPPORTUNITY": "1"}) == {}  # in doubt
    assert overwritten({}, {"OPPORTUNITY": "1"}, {"OPPORTUNITY": "2"}) == {}  # not read: not known


def test_default_ownership_leaves_managers_the_responsible_title_and_comments():
    m = mapping.load(None)
    assert m.create_only("deal") == {"TITLE", "ASSIGNED_BY_ID", "COMMENTS"}
    assert m.create_only("company") == {"TITLE", "ASSIGNED_BY_ID", "COMMENTS"}
    assert m.create_only("contact") == {"ASSIGNED_BY_ID", "COMMENTS"}
    assert m.create_only("product") == frozenset()
    with pytest.raises(ValueError):
        m.create_only("lead")


@pytest.mark.parametrize(("text", "message"), [
    ("ownership:\n  deal: {create_only: [ORIGIN_ID]}\n",
     "ownership.deal.create_only.0: ORIGIN_ID is the key the bridge finds the deal by"),
    ("ownership:\n  product: {create_only: [xmlId]}\n", "ownership.product.create_only.0: xmlId is the key"),
    ("ownership:\n  company: {create_only: [\"bad name\"]}\n",
     "ownership.company.create_only.0: 'bad name' is not a Bitrix24 field name"),
    ("ownership:\n  deal: {create_only: [CATEGORY_ID]}\n", "ownership.deal.create_only.0: CATEGORY_ID"),
    ("ownership:\n  lead: {create_only: []}\n", "ownership.lead: is not a known key"),
    ("ownership:\n  deal: {create_olny: []}\n", "ownership.deal.create_olny: is not a known key"),
])
def test_a_wrong_ownership_stops_the_bridge_at_start_naming_the_field(text, message):
    with pytest.raises(ConfigError, match="^mapping.yaml: ") as err:
        mapping.parse(PRESETS + text, "mapping.yaml")
    assert message in str(err.value)


def test_funnels_map_organisations_by_uuid_or_name_and_others_go_to_the_default_funnel():
    m = mapping.parse(PRESETS + "deals:\n  category_id: 1\n  funnels:\n"
                      "    - {organization: ООО Ромашка, category_id: 3}\n"
                      "    - {organization: 7d3b5f1e-0c4a-11ee-be56-0242ac120002, category_id: 5,\n"
                      "       stages: {paid: {id: DONE, name: Оплачен}}}\n")
    deals = m.deals
    assert deals.category_for(None, "ооо ромашка") == 3
    assert deals.category_for("7d3b5f1e-0c4a-11ee-be56-0242ac120002", "ИП Иванов") == 5
    assert deals.category_for("other", "ИП Иванов") == 1 and deals.category_for(None, None) == 1
    assert deals.category_ids() == [1, 3, 5]
    assert deals.stage_id("new", 3) == "C3:B24B_ORDER" and deals.stage_id("paid", 5) == "C5:DONE"
    assert deals.stage_id("new") == "C1:B24B_ORDER"
    assert deals.stage_id("new", 9) == "C9:B24B_ORDER"  # a funnel the mapping no longer names keeps the stages
    assert deals.stage_id("cancelled", 0) == "LOSE"


@pytest.mark.parametrize(("funnels", "message"), [
    ("    - {organization: A, category_id: 3}\n    - {organization: ' a ', category_id: 4}\n",
     "deals.funnels.1.organization: ' a ' is also funnels.0"),
    ("    - {organization: A, category_id: 3, stages: {new: {id: 'C4:X', name: x}}}\n",
     "deals.funnels.0.stages.new.id: C4:X carries the prefix of funnel 4, not 3"),
    ("    - {organization: A, category_id: 3}\n"
     "    - {organization: B, category_id: 3, stages: {new: {id: X, name: x}}}\n",
     "deals.funnels.1.stages: funnel 3 has other stages in funnels.0.stages"),
    ("    - {organization: A, category_id: -1}\n", "deals.funnels.0.category_id"),
    ("    - {category_id: 2}\n", "deals.funnels.0.organization: is required"),
])
def test_a_wrong_funnel_mapping_stops_the_bridge_at_start_naming_the_key(funnels, message):
    with pytest.raises(ConfigError) as err:
        mapping.parse(PRESETS + "deals:\n  funnels:\n" + funnels, "mapping.yaml")
    assert message in str(err.value)
