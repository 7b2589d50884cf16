"""Deals, funnels, stages and deal user fields."""

from __future__ import annotations

from .conftest import real_reply

DEFAULT_STAGES = ["NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE", "APOLOGY"]


def test_deal_defaults(portal):
    deal_id = portal.result("crm.deal.add", fields={})
    deal = portal.result("crm.deal.get", id=deal_id)
    assert deal["TITLE"] == f"Сделка #{deal_id}" and deal["STAGE_ID"] == "NEW" and deal["CATEGORY_ID"] == "0"
    assert deal["OPPORTUNITY"] == "0.00" and deal["CURRENCY_ID"] == "RUB" and deal["STAGE_SEMANTIC_ID"] == "P"
    assert deal["CLOSED"] == "N" and deal["ASSIGNED_BY_ID"] == "1" and deal["BEGINDATE"].endswith("T00:00:00+03:00")


def test_deal_fields_round_trip_as_strings(portal):
    company_id = portal.company()
    deal_id = portal.result("crm.deal.add", fields={"TITLE": "Заказ №15", "COMPANY_ID": company_id,
                                                    "OPPORTUNITY": 100, "ORIGINATOR_ID": "1C_UT", "ORIGIN_ID": "o-15",
                                                    "ASSIGNED_BY_ID": 2, "CONTACT_IDS": [7, 8]})
    deal = portal.result("crm.deal.get", id=deal_id)
    assert (deal["TITLE"], deal["COMPANY_ID"], deal["OPPORTUNITY"], deal["ASSIGNED_BY_ID"]) == (
        "Заказ №15", str(company_id), "100.00", "2")
    assert deal["CONTACT_ID"] == "7" and "CONTACT_IDS" not in deal
    assert [d["ID"] for d in portal.result("crm.deal.list", filter={"ORIGINATOR_ID": "1C_UT", "ORIGIN_ID": "o-15"})] \
        == [str(deal_id)]


def test_stage_must_belong_to_the_deals_funnel(portal):
    status, body = portal.error("crm.deal.add", fields={"STAGE_ID": "C1:NEW"})
    assert status == 400 and body["error"] == ""
    deal_id = portal.result("crm.deal.add", fields={"STAGE_ID": "EXECUTING"})
    status, _ = portal.error("crm.deal.update", id=deal_id, fields={"STAGE_ID": "NO_SUCH"})
    assert status == 400
    assert portal.result("crm.deal.update", id=deal_id, fields={"STAGE_ID": "WON"}) is True
    deal = portal.result("crm.deal.get", id=deal_id)
    assert deal["STAGE_SEMANTIC_ID"] == "S" and deal["CLOSED"] == "Y"


def test_category_is_fixed_on_update(portal):
    category = portal.result("crm.category.add", entityTypeId=2, fields={"name": "Опт"})["category"]
    deal_id = portal.result("crm.deal.add", fields={"CATEGORY_ID": category["id"]})
    assert portal.result("crm.deal.get", id=deal_id)["STAGE_ID"] == f"C{category['id']}:NEW"
    assert portal.result("crm.deal.update", id=deal_id, fields={"CATEGORY_ID": 0, "COMMENTS": "x"}) is True
    deal = portal.result("crm.deal.get", id=deal_id)
    assert deal["CATEGORY_ID"] == str(category["id"]) and deal["COMMENTS"] == "x"


def test_missing_deal_answers_400_not_found(portal):
    assert portal.error("crm.deal.update", id=77, fields={"TITLE": "x"}) == (
        400, {"error": "", "error_description": "Not found"})


def test_invalid_currency_is_refused(portal):
    status, body = portal.error("crm.deal.add", fields={"CURRENCY_ID": "XXX"})
    assert status == 400 and body["error_description"] == "Invalid value for the 'Currency' field"


def test_category_list_is_wrapped_like_the_real_reply(portal):
    real = real_reply("crm_category_list")["response"]
    portal.result("crm.category.add", entityTypeId=2, fields={"name": "Опт", "sort": 200})
    body = portal.call("crm.category.list", entityTypeId=2).json()
    assert list(body["result"]) == ["categories"] and body["total"] == 2
    default, added = body["result"]["categories"]
    assert list(default) == list(real["result"]["categories"][0])
    assert list(added) == list(real["result"]["categories"][1])
    assert default["id"] == 0 and default["isDefault"] == "Y" and added["originId"] == ""


def test_category_list_returns_every_funnel_in_one_reply_like_the_real_52(portal):
    """The recorded portal sent all 52 funnels at once, with ``total`` and no ``next``: it does not page."""
    real = real_reply("crm_category_list")["response"]
    assert len(real["result"]["categories"]) == real["total"] == 52 and "next" not in real
    for i in range(51):
        portal.sandbox.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": f"F{i}"}})
    body = portal.call("crm.category.list", entityTypeId=2).json()
    assert len(body["result"]["categories"]) == body["total"] == 52 and "next" not in body
    assert list(body) == list(real)


def test_default_funnel_stages_pre_exist(portal):
    rows = portal.result("crm.status.list", filter={"ENTITY_ID": "DEAL_STAGE"}, order={"SORT": "ASC"})
    assert [r["STATUS_ID"] for r in rows] == DEFAULT_STAGES
    semantics = {r["STATUS_ID"]: r["SEMANTICS"] for r in rows}
    assert semantics["NEW"] is None and semantics["WON"] == "S" and semantics["LOSE"] == "F"
    assert rows[0]["SORT"] == "10" and rows[0]["EXTRA"] == {"SEMANTICS": "process", "COLOR": rows[0]["COLOR"]}


def test_status_add_prefixes_stage_ids_of_other_funnels(portal):
    category_id = portal.result("crm.category.add", entityTypeId=2, fields={"name": "Опт"})["category"]["id"]
    entity = f"DEAL_STAGE_{category_id}"
    status_id = portal.result("crm.status.add", fields={"ENTITY_ID": entity, "STATUS_ID": "PAID", "NAME": "Оплачен",
                                                        "SORT": 55})
    assert isinstance(status_id, int)
    again = portal.result("crm.status.add", fields={"ENTITY_ID": entity, "STATUS_ID": f"C{category_id}:SHIPPED",
                                                    "NAME": "Отгружен", "SORT": 56})
    rows = portal.result("crm.status.list", filter={"ENTITY_ID": entity})
    by_id = {r["ID"]: r["STATUS_ID"] for r in rows}
    assert by_id[str(status_id)] == f"C{category_id}:PAID" and by_id[str(again)] == f"C{category_id}:SHIPPED"
    stage_list = real_reply("crm_dealcategory_stage_list")["response"]["result"]["result"]["2"]
    mine = portal.result("crm.dealcategory.stage.list", id=category_id)
    assert list(mine[0]) == list(stage_list[0]) and mine[0]["STATUS_ID"] == f"C{category_id}:NEW"


def test_status_add_errors(portal):
    fields = {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEW", "NAME": "Дубль"}
    assert portal.error("crm.status.add", fields=fields) == (
        400, {"error": "ERROR_CORE", "error_description": "The specified status ID already exists."})
    status, body = portal.error("crm.status.add", fields={**fields, "STATUS_ID": "A" * 23})
    assert status == 400 and body["error"] == "ERROR_CORE"
    status, body = portal.error("crm.status.add", fields={**fields, "STATUS_ID": "BAD ID"})
    assert status == 400 and body["error"] == "ERROR_CORE"
    status, body = portal.error("crm.status.add", fields={**fields, "ENTITY_ID": "DEAL_STAGE_99"})
    assert status == 400 and body["error_description"] == "Specified entity type is not supported."


def test_userfield_names_are_normalised(portal):
    for raw, expected in (("invoice_no", "UF_CRM_INVOICE_NO"), ("UF_PAID", "UF_CRM_PAID"),
                          ("UF_CRM_SHIPPED", "UF_CRM_SHIPPED")):
        portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": raw, "USER_TYPE_ID": "string", "LABEL": raw})
        found = portal.result("crm.deal.userfield.list", filter={"FIELD_NAME": expected})
        assert [f["FIELD_NAME"] for f in found] == [expected]
        assert found[0]["ENTITY_ID"] == "CRM_DEAL"


def test_userfield_name_errors(portal):
    def add(**fields):
        return portal.error("crm.deal.userfield.add", fields=fields)

    assert add(FIELD_NAME="x" * 44, USER_TYPE_ID="string")[1]["error"] == "ERROR_CORE"
    assert portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": "x" * 43, "USER_TYPE_ID": "string"})
    assert add(FIELD_NAME="сумма", USER_TYPE_ID="string")[1]["error"] == "ERROR_CORE"
    assert add(FIELD_NAME="A-B", USER_TYPE_ID="string")[1]["error"] == "ERROR_CORE"
    assert add(FIELD_NAME="OK", USER_TYPE_ID="hologram") == (
        400, {"error": "ERROR_CORE", "error_description": "Incorrect custom type specified."})
    assert add(USER_TYPE_ID="string") == (400, {"error": "", "error_description": "The 'FIELD_NAME' field is not found."})


def test_labels_come_with_lang_filter_only(portal):
    portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": "INVOICE", "USER_TYPE_ID": "string",
                                                    "LABEL": "Номер счёта"})
    plain = portal.result("crm.deal.userfield.list")[0]
    assert "EDIT_FORM_LABEL" not in plain
    labelled = portal.result("crm.deal.userfield.list", filter={"LANG": "ru"})[0]
    assert labelled["EDIT_FORM_LABEL"] == labelled["LIST_COLUMN_LABEL"] == "Номер счёта"


def test_userfield_get_sends_labels_per_language_and_the_types_settings(portal):
    """EN crm-deal-userfield-get.md: every label is a ``{lang: text}`` object; an object fills the languages
    it names and LABEL the rest; SETTINGS holds the type's defaults, ``[]`` (PHP's empty array) when none."""
    field_id = portal.result("crm.deal.userfield.add", fields={
        "FIELD_NAME": "INVOICE", "USER_TYPE_ID": "string", "LABEL": "Счёт",
        "EDIT_FORM_LABEL": {"ru": "Номер счёта", "en": "Invoice no."}})
    got = portal.result("crm.deal.userfield.get", id=field_id)
    assert got["ID"] == str(field_id) and got["ENTITY_ID"] == "CRM_DEAL" and got["SORT"] == "100"
    assert got["EDIT_FORM_LABEL"]["ru"] == "Номер счёта" and got["EDIT_FORM_LABEL"]["en"] == "Invoice no."
    assert got["EDIT_FORM_LABEL"]["de"] == "Счёт" and set(got["LIST_COLUMN_LABEL"].values()) == {"Счёт"}
    assert {"ru", "en", "de", "ua", "kz"} <= set(got["HELP_MESSAGE"])
    assert got["SETTINGS"] == {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0,
                               "DEFAULT_VALUE": None}
    # crm.deal.fields describes it with the same settings, as the recorded crm.lead.fields does a string UF
    assert portal.result("crm.deal.fields")["UF_CRM_INVOICE"]["settings"] == got["SETTINGS"]
    money = portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": "PAID", "USER_TYPE_ID": "money"})
    got = portal.call("crm.deal.userfield.get", id=money).json()["result"]
    assert got["SETTINGS"] == [] and got["LIST_FILTER_LABEL"]["ru"] == "UF_CRM_PAID"
    flag = portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": "VIP", "USER_TYPE_ID": "boolean"})
    assert portal.result("crm.deal.userfield.get", id=flag)["SETTINGS"] == {"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX"}


def test_userfield_get_update_delete_of_a_missing_or_foreign_field(portal):
    """UserFieldProxy: no field → ERROR_NOT_FOUND "The entity with ID 'N' is not found."; a field of
    another entity → "Access denied."; a bad id → "ID is not defined or invalid."."""
    company_field = portal.result("crm.company.userfield.add", fields={"FIELD_NAME": "X", "USER_TYPE_ID": "string"})
    for method, extra in (("crm.deal.userfield.get", {}), ("crm.deal.userfield.update", {"fields": {"SORT": 5}}),
                          ("crm.deal.userfield.delete", {})):
        assert portal.error(method, id=999, **extra) == (
            400, {"error": "ERROR_NOT_FOUND", "error_description": "The entity with ID '999' is not found."})
        assert portal.error(method, id=company_field, **extra) == (
            400, {"error": "", "error_description": "Access denied."})
        assert portal.error(method, id=0, **extra) == (
            400, {"error": "", "error_description": "ID is not defined or invalid."})


def test_userfield_update_changes_what_is_given_and_delete_undefines_the_field(portal):
    field_id = portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": "INVOICE", "USER_TYPE_ID": "string",
                                                               "LABEL": "Счёт"})
    deal_id = portal.result("crm.deal.add", fields={"UF_CRM_INVOICE": "СЧ-1"})
    assert portal.result("crm.deal.userfield.update", id=field_id, fields={
        "SORT": 2000, "MANDATORY": "Y", "SETTINGS": {"ROWS": 10, "DEFAULT_VALUE": "—"},
        "LIST_COLUMN_LABEL": {"en": "Invoice"}, "EDIT_FORM_LABEL": "Номер счёта", "USER_TYPE_ID": "integer"}) is True
    got = portal.result("crm.deal.userfield.get", id=field_id)
    assert (got["SORT"], got["MANDATORY"], got["USER_TYPE_ID"]) == ("2000", "Y", "string")
    assert got["SETTINGS"]["ROWS"] == 10 and got["SETTINGS"]["DEFAULT_VALUE"] == "—" and got["SETTINGS"]["SIZE"] == 20
    assert got["LIST_COLUMN_LABEL"]["en"] == "Invoice" and got["LIST_COLUMN_LABEL"]["ru"] == ""
    assert set(got["EDIT_FORM_LABEL"].values()) == {"Номер счёта"} and got["LIST_FILTER_LABEL"]["ru"] == "Счёт"
    assert portal.result("crm.deal.userfield.list", filter={"LANG": "ru"})[0]["EDIT_FORM_LABEL"] == "Номер счёта"
    assert portal.result("crm.deal.userfield.delete", id=field_id) is True
    assert portal.result("crm.deal.userfield.list") == []
    assert "UF_CRM_INVOICE" not in portal.result("crm.deal.get", id=deal_id)


def test_user_field_values_are_stored_and_returned(portal):
    for name, kind in (("INVOICE", "string"), ("PAID_SUM", "money"), ("PAID_AT", "date")):
        portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": name, "USER_TYPE_ID": kind})
    deal_id = portal.result("crm.deal.add", fields={"UF_CRM_INVOICE": "СЧ-00015", "UF_CRM_PAID_SUM": "300|RUB",
                                                    "UF_CRM_UNDEFINED": "dropped"})
    deal = portal.result("crm.deal.get", id=deal_id)
    assert deal["UF_CRM_INVOICE"] == "СЧ-00015" and deal["UF_CRM_PAID_SUM"] == "300|RUB"
    assert deal["UF_CRM_PAID_AT"] is None and "UF_CRM_UNDEFINED" not in deal
    portal.result("crm.deal.update", id=deal_id, fields={"UF_CRM_PAID_AT": "2024-05-01"})
    rows = portal.result("crm.deal.list", filter={"UF_CRM_INVOICE": "СЧ-00015"}, select=["ID", "UF_*"])
    assert rows == [{"ID": str(deal_id), "UF_CRM_INVOICE": "СЧ-00015", "UF_CRM_PAID_SUM": "300|RUB",
                     "UF_CRM_PAID_AT": "2024-05-01"}]
    assert "UF_CRM_INVOICE" not in portal.result("crm.deal.list", select=["*"])[0]


def test_legacy_deal_categories_list_add_get_update_and_their_stages(portal):
    category_id = portal.result("crm.dealcategory.add", fields={"NAME": "Опт", "SORT": 200})
    assert isinstance(category_id, int)
    rows = portal.result("crm.dealcategory.list", order={"SORT": "ASC"})
    assert [(r["ID"], r["NAME"], r["SORT"], r["IS_LOCKED"]) for r in rows] == [(str(category_id), "Опт", "200", "N")]
    assert portal.result("crm.dealcategory.update", id=category_id, fields={"NAME": "Оптовые продажи"}) is True
    assert portal.result("crm.dealcategory.get", id=category_id)["NAME"] == "Оптовые продажи"
    stages = portal.result("crm.dealcategory.stage.list", id=category_id)
    assert [s["STATUS_ID"] for s in stages] == [f"C{category_id}:{s}" for s in DEFAULT_STAGES]
    assert [s["STATUS_ID"] for s in portal.result("crm.status.list",
                                                 filter={"ENTITY_ID": f"DEAL_STAGE_{category_id}"})] == \
        [s["STATUS_ID"] for s in stages]
    new = portal.result("crm.category.list", entityTypeId=2)["categories"]
    assert [(c["id"], c["name"]) for c in new] == [(0, "Общая"), (category_id, "Оптовые продажи")]
    assert portal.error("crm.dealcategory.get", id=999) == (400, {"error": "", "error_description": "Not found"})


def test_legacy_deal_category_delete_takes_its_stages_and_refuses_a_funnel_with_deals(portal):
    """EN crm-deal-category-delete.md → ``true``; a funnel holding deals stays (the refusal's text as EN
    crm-category-delete.md gives it for deals); a missing funnel → "Not found", funnel 0 is no row."""
    empty = portal.result("crm.dealcategory.add", fields={"NAME": "Пустая"})
    busy = portal.result("crm.dealcategory.add", fields={"NAME": "Опт"})
    portal.result("crm.deal.add", fields={"CATEGORY_ID": busy})
    assert portal.result("crm.dealcategory.delete", id=empty) is True
    assert portal.result("crm.status.list", filter={"ENTITY_ID": f"DEAL_STAGE_{empty}"}) == []
    assert [c["id"] for c in portal.result("crm.category.list", entityTypeId=2)["categories"]] == [0, busy]
    assert portal.error("crm.dealcategory.delete", id=busy) == (
        400, {"error": "", "error_description": "Deals related to the funnel Опт found"})
    assert portal.error("crm.dealcategory.delete", id=empty) == (400, {"error": "", "error_description": "Not found"})
    assert portal.error("crm.dealcategory.delete", id=0) == (
        400, {"error": "", "error_description": "ID is not defined or invalid."})


def test_legacy_default_category_get_and_set_name_funnel_zero(portal):
    """EN crm-deal-category-default-get.md: ``{ID: 0, NAME}``; ``default.set {name}`` renames funnel 0, an
    empty name gives the portal's own name back."""
    assert portal.result("crm.dealcategory.default.get") == {"ID": 0, "NAME": "Общая"}
    assert portal.result("crm.dealcategory.default.set", name="Розница") is True
    assert portal.result("crm.dealcategory.default.get") == {"ID": 0, "NAME": "Розница"}
    assert portal.result("crm.category.get", entityTypeId=2, id=0)["category"]["name"] == "Розница"
    portal.result("crm.dealcategory.default.set", name="")
    assert portal.result("crm.dealcategory.default.get")["NAME"] == "Общая"


def test_category_update_renames_a_funnel(portal):
    category = portal.result("crm.category.add", entityTypeId=2, fields={"name": "Опт"})["category"]
    updated = portal.result("crm.category.update", entityTypeId=2, id=category["id"],
                            fields={"name": "Розница", "sort": 300, "isDefault": "Y"})["category"]
    assert (updated["name"], updated["sort"], updated["isDefault"]) == ("Розница", 300, "N")
    status, body = portal.error("crm.category.update", entityTypeId=2, id=99, fields={"name": "x"})
    assert status == 400 and body["error"] == "NOT_FOUND"


def test_userfield_show_filter_is_stored_alike_by_add_and_update(portal):
    """N, I, E and S as given, Y as E, by add and by update alike (a value get returned can be sent back)."""
    field_id = portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": "REGION", "USER_TYPE_ID": "string",
                                                               "SHOW_FILTER": "I"})
    assert portal.result("crm.deal.userfield.get", id=field_id)["SHOW_FILTER"] == "I"
    for sent, stored in (("S", "S"), ("Y", "E"), ("E", "E"), ("N", "N")):
        portal.result("crm.deal.userfield.update", id=field_id, fields={"SHOW_FILTER": sent})
        assert portal.result("crm.deal.userfield.get", id=field_id)["SHOW_FILTER"] == stored


def test_status_get_fields_and_entity_items_answer_as_the_docs_show(portal):
    """EN crm-status-get.md (a row as list gives it; "Status is not found."), RU crm-status-fields.md (the
    descriptors and their titles), EN crm-status-entity-items.md (items by SORT; no entityId → 400)."""
    row = portal.result("crm.status.list", filter={"ENTITY_ID": "INDUSTRY"})[0]
    assert portal.result("crm.status.get", id=row["ID"]) == row
    assert portal.error("crm.status.get", id=99999) == (400, {"error": "", "error_description": "Status is not found."})
    assert portal.error("crm.status.get")[1]["error_description"] == "ID is not defined or invalid."
    fields = portal.result("crm.status.fields")
    assert list(fields) == ["ID", "ENTITY_ID", "STATUS_ID", "SORT", "NAME", "NAME_INIT", "SYSTEM", "CATEGORY_ID",
                            "COLOR", "SEMANTICS", "EXTRA"]
    assert fields["ENTITY_ID"] == {"type": "string", "isRequired": True, "isReadOnly": False, "isImmutable": True,
                                   "isMultiple": False, "isDynamic": False, "title": "ID элемента сущности"}
    assert fields["EXTRA"]["type"] == "crm_status_extra" and fields["NAME_INIT"]["isReadOnly"] is True
    assert portal.result("crm.status.entity.items", entityId="EMPLOYEES") == [
        {"NAME": "менее 50", "SORT": 10, "STATUS_ID": "EMPLOYEES_1"}, {"NAME": "50-250", "SORT": 20, "STATUS_ID": "EMPLOYEES_2"},
        {"NAME": "250-500", "SORT": 30, "STATUS_ID": "EMPLOYEES_3"}, {"NAME": "более 500", "SORT": 40, "STATUS_ID": "EMPLOYEES_4"}]
    assert portal.result("crm.status.entity.items", entityId="NO_SUCH_LIST") == []
    assert portal.error("crm.status.entity.items") == (
        400, {"error": "", "error_description": "The parameter entityId is not defined or invalid."})
