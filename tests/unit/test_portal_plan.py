"""The portal planner: what is wrong between the mapping and the portal, and what setup does about it (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.mapping import Mapping
from bridge.portal.plan import CreateStage, CreateUserField, apply_changes, simulate
from bridge.portal.planner import place_stages, plan
from bridge.portal.state import (
    Catalog,
    CompanyType,
    Funnel,
    PortalState,
    Preset,
    PriceType,
    StageRow,
    User,
    UserField,
)

STOCK = (("NEW", "Новая", 10, "P"), ("PREPARATION", "Подготовка документов", 20, "P"),
         ("PREPAYMENT_INVOICE", "Счёт на предоплату", 30, "P"), ("EXECUTING", "В работе", 40, "P"),
         ("FINAL_INVOICE", "Финальный счёт", 50, "P"), ("WON", "Сделка успешна", 60, "S"),
         ("LOSE", "Сделка провалена", 70, "F"), ("APOLOGY", "Анализ причины провала", 80, "F"))
PRESETS = (Preset(1, "Организация", "#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#"),
           Preset(2, "ИП", "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#"),
           Preset(3, "Физ. лицо", "#CRM_REQUISITE_PRESET_DEF_RU_PERSON#"),
           Preset(4, "Организация (доп.)"))
ONEC_USER = "5d1e9a70-2f4b-11ef-8b1a-00155d012a07"


def stock_stages(funnel: int = 0) -> tuple[StageRow, ...]:
    prefix = f"C{funnel}:" if funnel else ""
    return tuple(StageRow(prefix + sid, name, sort, sem) for sid, name, sort, sem in STOCK)


def portal(funnel: int = 0, **overrides) -> PortalState:
    """A fresh Russian portal: funnel 0 (and ``funnel`` if not 0) with the stock stages, no user fields."""
    funnels = (Funnel(0, "Общая"),) + ((Funnel(funnel, "Опт"),) if funnel else ())
    base = PortalState(
        funnels=funnels, stages_funnel=funnel, stages=stock_stages(funnel), user_fields=(), presets=PRESETS,
        company_types=(CompanyType("CUSTOMER", "Клиент"), CompanyType("PARTNER", "Партнер")),
        catalogs=(Catalog(25, "Товарный каталог CRM"), Catalog(27, "Товарный каталог CRM (предложения)", 25)),
        price_types=(PriceType(1, "BASE", "BASE", True), PriceType(2, "Опт", "WHOLESALE")),
        users={1: User(1, "Анна Администраторова"), 2: User(2, "Ирина Продажникова"),
               4: User(4, "Мария Бухгалтерова", active=False)},
    )
    return replace(base, **overrides)


def mapping(**data) -> Mapping:
    base = {"requisite_presets": {"company": 1, "individual_entrepreneur": 2, "person": 3}}
    for key, value in data.items():
        node = base
        *parents, last = key.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return Mapping.model_validate(base)


def ready(m: Mapping, state: PortalState) -> tuple[Mapping, PortalState]:
    """The mapping and portal after a setup run."""
    p = plan(m, state)
    return apply_changes(m, p.changes), simulate(state, p.actions)


def keys(p) -> list[str]:
    return [problem.key for problem in p.problems]


def only(p, key: str):
    found = [problem for problem in p.problems if problem.key == key]
    assert len(found) == 1, p.problems
    return found[0]


# ------------------------------------------------------------------------------------------ stages

def test_a_fresh_portal_needs_four_stages_and_eight_fields_and_nothing_from_a_human():
    p = plan(mapping(), portal())
    stages = [a for a in p.actions if isinstance(a, CreateStage)]
    fields = [a for a in p.actions if isinstance(a, CreateUserField)]
    assert [a.status_id for a in stages] == ["B24B_ORDER", "B24B_INVOICE", "B24B_SHIPPED", "B24B_PAID"]
    assert len(fields) == 8
    assert not p.for_human and not p.ok
    assert {problem.by for problem in p.problems} == {"setup"}


def test_new_stages_go_in_lifecycle_order_after_the_last_in_progress_stage_and_before_the_final_ones():
    p = plan(mapping(), portal())
    sorts = [a.sort for a in p.actions if isinstance(a, CreateStage)]
    assert sorts == [52, 54, 56, 58]
    assert all(50 < s < 60 for s in sorts)


def test_stages_of_a_non_default_funnel_carry_its_prefix_and_go_into_its_stage_list():
    p = plan(mapping(deals__category_id=2), portal(funnel=2))
    stage = next(a for a in p.actions if isinstance(a, CreateStage) and a.key == "deals.stages.paid")
    assert stage.status_id == "C2:B24B_PAID"
    assert stage.params()["fields"]["ENTITY_ID"] == "DEAL_STAGE_2"
    assert str(only(p, "deals.stages.paid")) == (
        'deals.stages.paid: stage C2:B24B_PAID "Счет оплачен / Оплата получена" is missing in funnel 2 "Опт"; '
        "run b24bridge portal setup")


def test_a_stage_id_already_carrying_the_funnels_prefix_is_not_prefixed_twice():
    m = mapping(deals__category_id=2, deals__stages__new={"id": "C2:B24B_ORDER", "name": "Заявка"})
    stage = next(a for a in plan(m, portal(funnel=2)).actions if isinstance(a, CreateStage))
    assert stage.status_id == "C2:B24B_ORDER"


def test_a_stage_id_with_another_funnels_prefix_is_refused():
    m = mapping(deals__category_id=2, deals__stages__new={"id": "C3:B24B_ORDER", "name": "Заявка"})
    p = plan(m, portal(funnel=2))
    problem = only(p, "deals.stages.new")
    assert problem.by == "human" and "prefix of funnel 3" in problem.message and "B24B_ORDER" in problem.fix
    assert not any(a.key == "deals.stages.new" for a in p.actions)


def test_a_missing_stage_goes_between_the_bridge_stages_around_it():
    stages = stock_stages() + (StageRow("B24B_ORDER", "Заявка", 52), StageRow("B24B_PAID", "Оплачено", 58))
    p = plan(mapping(), portal(stages=tuple(sorted(stages, key=lambda s: s.sort))))
    placed = {a.status_id: a.sort for a in p.actions if isinstance(a, CreateStage)}
    assert set(placed) == {"B24B_INVOICE", "B24B_SHIPPED"}
    assert 52 < placed["B24B_INVOICE"] < placed["B24B_SHIPPED"] < 58


def test_a_funnel_without_final_stages_gets_the_stages_after_its_last_one():
    stages = (StageRow("NEW", "Новая", 10), StageRow("WORK", "В работе", 20))
    assert place_stages(stages, {}, ["new", "invoiced"]) == {"new": 30, "invoiced": 40}


def test_a_new_stage_never_goes_after_a_final_stage_even_when_the_next_bridge_stage_does():
    stages = stock_stages() + (StageRow("B24B_PAID", "Оплачено", 100),)
    sorts = place_stages(stages, {"paid": 100}, ["new", "invoiced", "shipped_unpaid"])
    assert sorted(sorts.values()) == list(sorts.values())
    assert all(50 < s < 60 for s in sorts.values())


def test_no_free_sort_value_where_a_stage_belongs_needs_a_human():
    stages = (StageRow("NEW", "Новая", 10), StageRow("WON", "Успех", 12, "S"), StageRow("LOSE", "Провал", 13, "F"))
    p = plan(mapping(), portal(stages=stages))
    assert not any(isinstance(a, CreateStage) for a in p.actions)
    problem = only(p, "deals.stages.new")
    assert problem.by == "human" and "no free SORT" in problem.message


def test_bridge_stages_out_of_lifecycle_order_are_a_warning_and_new_ones_go_after_the_process_part():
    stages = stock_stages() + (StageRow("B24B_PAID", "Счет оплачен / Оплата получена", 15),
                               StageRow("B24B_ORDER", "Заявка получена, подготовка счета", 45))
    p = plan(mapping(), portal(stages=tuple(sorted(stages, key=lambda s: s.sort))))
    warning = only(p, "deals.stages")
    assert warning.severity == "warning" and "out of lifecycle order" in warning.message
    placed = [a.sort for a in p.actions if isinstance(a, CreateStage)]
    assert len(placed) == 2 and all(50 < s < 60 for s in placed) and placed == sorted(placed)


def test_a_bridge_stage_that_is_a_final_stage_needs_a_human():
    m = mapping(deals__stages__paid={"id": "WON", "name": "Сделка успешна"})
    problem = only(plan(m, portal()), "deals.stages.paid")
    assert problem.by == "human"
    assert 'stage WON "Сделка успешна" in funnel 0 "Общая" is a success stage' in problem.message


def test_cancelled_must_exist_and_be_a_failure_stage_and_setup_never_creates_it():
    missing = plan(mapping(deals__category_id=2, deals__stages__cancelled={"id": "GONE", "name": "x"}),
                   portal(funnel=2))
    problem = only(missing, "deals.stages.cancelled")
    assert problem.by == "human"
    assert problem.message == ('stage C2:GONE is missing in funnel 2 "Опт"; its failure stages: '
                               'C2:LOSE "Сделка провалена", C2:APOLOGY "Анализ причины провала"')
    assert not any(a.key == "deals.stages.cancelled" for a in missing.actions)

    in_progress = plan(mapping(deals__stages__cancelled={"id": "NEW", "name": "Новая"}), portal())
    problem = only(in_progress, "deals.stages.cancelled")
    assert "expected a failure stage (SEMANTICS F)" in problem.message and "LOSE" in problem.fix


def test_a_renamed_stage_is_a_warning_and_setup_writes_the_portals_name_into_the_mapping():
    stages = stock_stages() + (StageRow("B24B_PAID", "Оплачено", 58),)
    m = mapping()
    p = plan(m, portal(stages=tuple(sorted(stages, key=lambda s: s.sort))))
    warning = only(p, "deals.stages.paid")
    assert warning.severity == "warning" and '"Оплачено"' in warning.message
    result = apply_changes(m, p.changes)
    assert result.deals.stages.paid.name == "Оплачено"


def test_two_bridge_stages_with_one_id_are_refused():
    m = mapping(deals__stages__invoiced={"id": "B24B_ORDER", "name": "Счёт"})
    problem = only(plan(m, portal()), "deals.stages.invoiced")
    assert problem.by == "human" and "also deals.stages.new" in problem.message


# ----------------------------------------------------------------------------------------- funnel

def test_a_missing_funnel_lists_the_funnels_and_leaves_the_stages_alone():
    p = plan(mapping(deals__category_id=5), portal())
    assert str(only(p, "deals.category_id")).startswith(
        "deals.category_id: funnel 5 does not exist; funnels: 0 Общая; set deals.category_id to one of them")
    assert not any(k.startswith("deals.stages") for k in keys(p))
    assert not any(isinstance(a, CreateStage) for a in p.actions)


# ------------------------------------------------------------------------------------ user fields

def test_user_fields_are_created_with_their_types_russian_labels_and_the_bridges_xml_id():
    fields = {a.key: a for a in plan(mapping(), portal()).actions if isinstance(a, CreateUserField)}
    types = {k.rsplit(".", 1)[1]: a.user_type for k, a in fields.items()}
    assert types == {"invoice_number": "string", "invoice_date": "date", "paid_amount": "money",
                     "payment_date": "date", "shipment_number": "string", "shipment_date": "date",
                     "shipment_amount": "money", "legal_entity": "string"}
    params = fields["deals.user_fields.invoice_number"].params()["fields"]
    assert params["FIELD_NAME"] == "UF_CRM_B24B_INVOICE_NO" and params["XML_ID"] == "b24bridge:invoice_number"
    assert params["LABEL"] == "Счёт 1С: номер"
    for label in ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL"):
        assert params[label]["ru"] == "Счёт 1С: номер"
    assert params["MULTIPLE"] == "N"


def test_a_user_field_of_the_wrong_type_needs_a_human():
    p = plan(mapping(), portal(user_fields=(UserField("UF_CRM_B24B_PAID_SUM", "string"),)))
    problem = only(p, "deals.user_fields.paid_amount")
    assert str(problem).startswith(
        "deals.user_fields.paid_amount: UF_CRM_B24B_PAID_SUM exists but is of type string, expected money; ")
    assert problem.by == "human"
    assert not any(a.key == "deals.user_fields.paid_amount" for a in p.actions)


def test_a_multiple_user_field_needs_a_human():
    p = plan(mapping(), portal(user_fields=(UserField("UF_CRM_B24B_INVOICE_NO", "string", multiple=True),)))
    problem = only(p, "deals.user_fields.invoice_number")
    assert problem.by == "human" and "multiple" in problem.message


def test_the_bridges_own_field_under_another_name_is_adopted_by_its_xml_id_instead_of_created_again():
    own = UserField("UF_CRM_1700000000", "money", "b24bridge:paid_amount")
    m = mapping()
    p = plan(m, portal(user_fields=(own,)))
    assert not any(a.key == "deals.user_fields.paid_amount" for a in p.actions)
    problem = only(p, "deals.user_fields.paid_amount")
    assert problem.by == "setup" and "UF_CRM_1700000000" in problem.message
    assert apply_changes(m, p.changes).deals.user_fields.paid_amount == "UF_CRM_1700000000"


def test_a_field_with_the_bridges_xml_id_but_the_wrong_type_is_not_adopted():
    p = plan(mapping(), portal(user_fields=(UserField("UF_CRM_OLD", "string", "b24bridge:paid_amount"),)))
    assert any(a.key == "deals.user_fields.paid_amount" for a in p.actions)
    assert not p.changes or all(c.key != "deals.user_fields.paid_amount" for c in p.changes)


def test_two_keys_naming_the_same_field_are_refused():
    m = mapping(deals__user_fields__shipment_date="UF_CRM_B24B_INVOICE_DATE")
    problem = only(plan(m, portal()), "deals.user_fields.shipment_date")
    assert problem.by == "human" and "also deals.user_fields.invoice_date" in problem.message


# -------------------------------------------------------------------------------- presets, users

def test_a_missing_preset_lists_the_presets_and_suggests_the_system_one_by_xml_id():
    problem = only(plan(mapping(requisite_presets={"company": 7, "individual_entrepreneur": 2, "person": 3}),
                        portal()), "requisite_presets.company")
    assert str(problem) == (
        "requisite_presets.company: preset 7 does not exist; presets on this portal: "
        "1 Организация (#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#), 2 ИП (#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#), "
        "3 Физ. лицо (#CRM_REQUISITE_PRESET_DEF_RU_PERSON#), 4 Организация (доп.); "
        "set requisite_presets.company: 1 (the system preset for companies, #CRM_REQUISITE_PRESET_DEF_RU_COMPANY#)")
    assert problem.by == "human"


def test_a_preset_meant_for_another_legal_form_is_refused_and_a_custom_one_is_accepted():
    p = plan(mapping(requisite_presets={"company": 4, "individual_entrepreneur": 3, "person": 3}), portal())
    assert keys(p).count("requisite_presets.company") == 0  # 4 is a custom preset: the operator's choice
    problem = only(p, "requisite_presets.individual_entrepreneur")
    assert "system preset for persons" in problem.message
    assert problem.fix.startswith("set requisite_presets.individual_entrepreneur: 2")


def test_an_inactive_preset_is_refused():
    presets = PRESETS[:2] + (replace(PRESETS[2], active=False),) + PRESETS[3:]
    problem = only(plan(mapping(), portal(presets=presets)), "requisite_presets.person")
    assert "inactive" in problem.message


def test_unknown_or_inactive_users_are_named_by_their_mapping_key():
    m = mapping(default_responsible_id=99, users__by_onec_id={ONEC_USER: 4, "c0ffee00-0000-0000-0000-000000000000": 2})
    p = plan(m, portal())
    assert str(only(p, "default_responsible_id")).startswith("default_responsible_id: user 99 not found or inactive;")
    problem = only(p, f"users.by_onec_id[{ONEC_USER}]")
    assert problem.message == "user 4 (Мария Бухгалтерова) is inactive"
    assert "users.by_onec_id[c0ffee00-0000-0000-0000-000000000000]" not in keys(p)


def test_an_unknown_company_type_lists_the_types():
    problem = only(plan(mapping(company_type="VIP"), portal()), "company_type")
    assert problem.message == "company type VIP does not exist; types: CUSTOMER Клиент, PARTNER Партнер"


# --------------------------------------------------------------------------------------- products

def test_a_null_catalog_is_not_a_problem_and_setup_fills_in_the_product_catalog():
    p = plan(mapping(), portal())
    assert "products.iblock_id" not in keys(p)
    assert [(c.key, c.old, c.new) for c in p.changes] == [("products.iblock_id", None, 25)]


def test_an_offers_catalog_is_refused_with_its_product_catalog_suggested():
    problem = only(plan(mapping(products__iblock_id=27), portal()), "products.iblock_id")
    assert problem.message == "catalog 27 is the offers (SKU) catalog of 25"
    assert problem.fix == "set products.iblock_id: 25"


def test_an_unknown_catalog_lists_the_catalogs():
    problem = only(plan(mapping(products__iblock_id=31), portal()), "products.iblock_id")
    assert problem.message == ("catalog 31 does not exist; catalogs: 25 Товарный каталог CRM, "
                               "27 Товарный каталог CRM (предложения) (offers of 25)")


def test_a_portal_without_a_product_catalog_needs_a_human():
    problem = only(plan(mapping(), portal(catalogs=())), "products.iblock_id")
    assert problem.by == "human" and "no product catalog" in problem.message


def test_an_unknown_price_type_suggests_the_base_one():
    problem = only(plan(mapping(products__base_price_type_id=9), portal()), "products.base_price_type_id")
    assert str(problem) == ("products.base_price_type_id: price type 9 does not exist; price types: 1 BASE (base), "
                            "2 Опт; set products.base_price_type_id: 1 (the base price type BASE)")


def test_the_legacy_products_api_needs_no_catalog():
    p = plan(mapping(products__api="legacy", products__iblock_id=31),
             portal(catalogs=None, price_types=None, unreadable={"catalogs": "insufficient_scope"}))
    assert not any(k.startswith("products.") for k in keys(p))


# ------------------------------------------------------------------------------ reading, idempotence

def test_a_section_the_webhook_cannot_read_is_reported_with_the_scope_it_needs():
    state = portal(users=None, unreadable={"users": "insufficient_scope: The request requires higher privileges"})
    problem = only(plan(mapping(), state), "default_responsible_id")
    assert "cannot read users (user.get): insufficient_scope" in problem.message
    assert "user scope" in problem.fix


@pytest.mark.parametrize("funnel", [0, 2])
def test_after_setup_the_plan_is_empty(funnel):
    stages = stock_stages(funnel) + (StageRow((f"C{funnel}:" if funnel else "") + "B24B_SHIPPED", "Отгружено", 55),)
    state = portal(funnel=funnel, stages=tuple(sorted(stages, key=lambda s: s.sort)),
                   user_fields=(UserField("UF_CRM_9", "money", "b24bridge:paid_amount"),))
    m = mapping(deals__category_id=funnel)
    assert not plan(m, state).empty
    m2, state2 = ready(m, state)
    again = plan(m2, state2)
    assert again.empty, again
    assert again.ok


def test_after_setup_only_what_needs_a_human_is_left():
    m, state = ready(mapping(default_responsible_id=99), portal())
    again = plan(m, state)
    assert keys(again) == ["default_responsible_id"] and not again.actions and not again.changes


# ------------------------------------------------------------------------- a funnel per organisation

def two_funnels(**data) -> Mapping:
    return mapping(deals__funnels=[{"organization": "ООО Ромашка", "category_id": 3},
                                   {"organization": "ООО Лютик", "category_id": 5,
                                    "stages": {"paid": {"id": "DONE", "name": "Оплачен"}}},
                                   {"organization": "ИП Лютиков", "category_id": 5,
                                    "stages": {"paid": {"id": "DONE", "name": "Оплачен"}}}], **data)


def organisations_portal(**overrides) -> PortalState:
    base = {"funnels": (Funnel(0, "Общая"), Funnel(3, "Ромашка"), Funnel(5, "Лютик")),
            "funnel_stages": {3: stock_stages(3), 5: stock_stages(5)}}
    return portal(**{**base, **overrides})


def test_setup_creates_the_stages_in_every_mapped_funnel_with_its_prefix_and_its_own_stage_ids():
    p = plan(two_funnels(), organisations_portal())
    created = [(a.funnel_id, a.status_id, a.key) for a in p.actions if isinstance(a, CreateStage)]
    assert [c[1] for c in created if c[0] == 0] == ["B24B_ORDER", "B24B_INVOICE", "B24B_SHIPPED", "B24B_PAID"]
    assert [c[1] for c in created if c[0] == 3] == ["C3:B24B_ORDER", "C3:B24B_INVOICE", "C3:B24B_SHIPPED",
                                                   "C3:B24B_PAID"]
    assert [c[1] for c in created if c[0] == 5] == ["C5:B24B_ORDER", "C5:B24B_INVOICE", "C5:B24B_SHIPPED", "C5:DONE"]
    assert ("deals.funnels.1.stages.paid") in [c[2] for c in created]  # the shared funnel: once
    stage = next(a for a in p.actions if isinstance(a, CreateStage) and a.status_id == "C5:DONE")
    assert stage.params()["fields"]["ENTITY_ID"] == "DEAL_STAGE_5"
    m, after = ready(two_funnels(), organisations_portal())
    assert plan(m, after).ok and not plan(m, after).actions


def test_check_reports_a_mapped_funnel_that_does_not_exist_and_a_wrong_stage_in_one():
    state = organisations_portal(funnels=(Funnel(0, "Общая"), Funnel(3, "Ромашка")),
                                 funnel_stages={3: stock_stages(3)[:6]})  # funnel 3 without LOSE
    p = plan(two_funnels(), state)
    missing = only(p, "deals.funnels.1.category_id")
    assert missing.by == "human" and "funnel 5 does not exist" in missing.message
    lose = only(p, "deals.funnels.0.stages.cancelled")
    assert "C3:LOSE is missing" in lose.message and lose.by == "human"
    assert not p.ok


def test_a_stage_named_otherwise_in_an_organisations_funnel_is_a_warning_setup_leaves_to_a_human():
    stages = stock_stages(3) + tuple(StageRow(f"C3:{sid}", "Иначе", sort) for sid, sort in
                                     (("B24B_ORDER", 52), ("B24B_INVOICE", 54), ("B24B_SHIPPED", 56), ("B24B_PAID", 58)))
    state = organisations_portal(funnel_stages={3: tuple(sorted(stages, key=lambda s: s.sort)), 5: stock_stages(5)})
    p = plan(two_funnels(), state)
    warning = only(p, "deals.funnels.0.stages.new")
    assert warning.severity == "warning" and warning.by == "human"
    assert not [c for c in p.changes if "funnels" in c.key]
