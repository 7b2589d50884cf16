"""Legacy crm.* add/update/get semantics: ints in, strings out, tolerant params, 400 "" errors."""

from __future__ import annotations

import pytest

from .conftest import real_reply


def test_add_returns_an_int_id_and_get_returns_strings(portal):
    company_id = portal.company(REVENUE=1500, ASSIGNED_BY_ID=2)
    assert company_id == 1 and isinstance(company_id, int)
    company = portal.result("crm.company.get", id=company_id)
    assert company["ID"] == "1"
    assert company["ASSIGNED_BY_ID"] == "2"
    assert company["REVENUE"] == "1500"
    assert company["OPENED"] == "Y" and company["COMPANY_TYPE"] == "CUSTOMER"
    assert company["COMMENTS"] is None and company["ORIGIN_ID"] is None


def test_update_returns_true_and_changes_only_given_fields(portal):
    company_id = portal.company(COMMENTS="first")
    assert portal.result("crm.company.update", id=company_id, fields={"TITLE": "Новое имя"}) is True
    company = portal.result("crm.company.get", id=company_id)
    assert company["TITLE"] == "Новое имя" and company["COMMENTS"] == "first"


def test_top_level_param_names_are_case_tolerant(portal):
    company_id = portal.result("crm.company.add", FIELDS={"TITLE": "Upper"})
    assert portal.result("crm.company.update", ID=company_id, arFields={"COMMENTS": "ar"}) is True
    assert portal.result("crm.company.get", ID=company_id)["COMMENTS"] == "ar"
    assert portal.result("crm.company.update", id=company_id, Fields={"COMMENTS": "cap"}) is True


def test_unknown_and_read_only_fields_are_dropped_silently(portal):
    company_id = portal.company(NO_SUCH_FIELD="x", ID=999, DATE_CREATE="2001-01-01T00:00:00+03:00", HAS_PHONE="Y")
    company = portal.result("crm.company.get", id=company_id)
    assert company["ID"] == str(company_id) and "NO_SUCH_FIELD" not in company
    assert not company["DATE_CREATE"].startswith("2001") and company["HAS_PHONE"] == "N"


def test_fields_that_are_not_an_object_answer_400_with_empty_error(portal):
    status, body = portal.error("crm.company.add", fields="TITLE=x")
    assert status == 400 and body == {"error": "", "error_description": "Parameter 'fields' must be array."}


def test_missing_fields_answer_400(portal):
    status, body = portal.error("crm.company.add")
    assert status == 400 and body["error_description"] == "Parameter 'fields' must be array."


def test_missing_id_answers_400_with_empty_error(portal):
    status, body = portal.error("crm.company.get")
    assert status == 400 and body == {"error": "", "error_description": "ID is not defined or invalid."}
    status, body = portal.error("crm.company.update", id=0, fields={"TITLE": "x"})
    assert status == 400 and body["error_description"] == "ID is not defined or invalid."


def test_missing_record_answers_400_not_404(portal):
    status, body = portal.error("crm.company.get", id=4242)
    assert status == 400 and body == {"error": "", "error_description": "Not found"}
    status, body = portal.error("crm.deal.update", id=4242, fields={"TITLE": "x"})
    assert status == 400 and body == {"error": "", "error_description": "Not found"}


@pytest.mark.parametrize("method, text", [("crm.company.update", "Company is not found"),
                                          ("crm.contact.update", "Contact is not found")])
def test_update_of_a_missing_company_or_contact_words_it_as_its_proxy_does(portal, method, text):
    """``CCrmCompanyRestProxy``/``CCrmContactRestProxy::innerUpdate`` check ``Exists`` with their own words
    (EN crm-company-update.md); ``get`` keeps the base "Not found"."""
    assert portal.error(method, id=4242, fields={"COMMENTS": "x"}) == (
        400, {"error": "", "error_description": text})
    assert portal.error(method.replace("update", "get"), id=4242)[1]["error_description"] == "Not found"


@pytest.mark.parametrize("prefix", ["crm.company", "crm.contact"])
def test_import_lets_add_set_the_system_fields(portal, prefix):
    """``params[IMPORT]``: DATE_CREATE, DATE_MODIFY, CREATED_BY_ID and MODIFY_BY_ID are taken as given (§4.1)."""
    stamps = {"DATE_CREATE": "2019-05-06T10:11:12+03:00", "DATE_MODIFY": "2020-01-02T03:04:05+03:00",
              "CREATED_BY_ID": 3, "MODIFY_BY_ID": 4}
    record_id = portal.result(f"{prefix}.add", fields={"TITLE": "Из 1С", "NAME": "Из 1С", **stamps},
                              params={"IMPORT": "Y"})
    record = portal.result(f"{prefix}.get", id=record_id)
    assert {k: record[k] for k in stamps} == {**stamps, "CREATED_BY_ID": "3", "MODIFY_BY_ID": "4"}


def test_without_import_the_system_fields_stay_the_portals(portal):
    for params in ({}, {"IMPORT": "0"}, {"REGISTER_SONET_EVENT": "Y"}):
        company_id = portal.result("crm.company.add", fields={"TITLE": "x", "DATE_CREATE": "2019-05-06T10:11:12+03:00",
                                                              "CREATED_BY_ID": 3}, params=params)
        company = portal.result("crm.company.get", id=company_id)
        assert not company["DATE_CREATE"].startswith("2019") and company["CREATED_BY_ID"] == "1"


def test_company_without_title_is_refused(portal):
    status, body = portal.error("crm.company.add", fields={"COMMENTS": "no title"})
    assert status == 400 and body["error"] == "" and "Company name" in body["error_description"]


def test_contact_fields_and_defaults(portal):
    contact_id = portal.contact(BIRTHDATE="1980-05-17", ORIGINATOR_ID="1C_UT", ORIGIN_ID="guid-1")
    contact = portal.result("crm.contact.get", id=contact_id)
    assert contact["NAME"] == "Иван" and contact["LAST_NAME"] == "Петров"
    assert contact["BIRTHDATE"] == "1980-05-17T00:00:00+03:00"
    assert contact["ORIGINATOR_ID"] == "1C_UT" and contact["ORIGIN_ID"] == "guid-1"
    assert contact["COMPANY_ID"] is None and "COMPANY_IDS" not in contact


def test_fields_method_describes_the_entity(portal):
    fields = portal.result("crm.company.fields")
    assert fields["TITLE"]["type"] == "string" and fields["ID"]["isReadOnly"] is True
    assert fields["PHONE"]["type"] == "crm_multifield" and fields["PHONE"]["isMultiple"] is True


ADDRESS = ["ADDRESS" + part for part in ("", "_2", "_CITY", "_POSTAL_CODE", "_REGION", "_PROVINCE",
                                          "_COUNTRY", "_COUNTRY_CODE", "_LOC_ADDR_ID")]
UTM = "UTM_SOURCE UTM_MEDIUM UTM_CAMPAIGN UTM_CONTENT UTM_TERM".split()
# the keys of the get examples in EN crm-company-get.md, crm-contact-get.md and crm-deal-get.md (the
# portal-specific PARENT_ID_*, the UF_CRM_* and the multifields left out): each comes back, null when unset
GET_EXAMPLE_KEYS = {
    "crm.company": [
        *"""ID COMPANY_TYPE TITLE LOGO LEAD_ID HAS_PHONE HAS_EMAIL HAS_IMOL ASSIGNED_BY_ID CREATED_BY_ID
        MODIFY_BY_ID BANKING_DETAILS INDUSTRY REVENUE CURRENCY_ID EMPLOYEES COMMENTS DATE_CREATE DATE_MODIFY
        OPENED IS_MY_COMPANY ORIGINATOR_ID ORIGIN_ID ORIGIN_VERSION""".split(),
        *ADDRESS, "ADDRESS_LEGAL", *("REG_" + a for a in ADDRESS), *UTM,
        "LAST_ACTIVITY_BY", "LAST_ACTIVITY_TIME", "LAST_COMMUNICATION_TIME"],
    "crm.contact": [
        *"""ID POST COMMENTS HONORIFIC NAME SECOND_NAME LAST_NAME PHOTO LEAD_ID TYPE_ID SOURCE_ID
        SOURCE_DESCRIPTION COMPANY_ID BIRTHDATE EXPORT HAS_PHONE HAS_EMAIL HAS_IMOL DATE_CREATE DATE_MODIFY
        ASSIGNED_BY_ID CREATED_BY_ID MODIFY_BY_ID OPENED ORIGINATOR_ID ORIGIN_ID ORIGIN_VERSION FACE_ID
        LAST_ACTIVITY_TIME""".split(),
        *(a for a in ADDRESS if a != "ADDRESS_COUNTRY_CODE"), *UTM, "LAST_ACTIVITY_BY"],
    "crm.deal": [
        *"""ID TITLE TYPE_ID STAGE_ID PROBABILITY CURRENCY_ID OPPORTUNITY IS_MANUAL_OPPORTUNITY TAX_VALUE
        LEAD_ID COMPANY_ID CONTACT_ID QUOTE_ID BEGINDATE CLOSEDATE ASSIGNED_BY_ID CREATED_BY_ID MODIFY_BY_ID
        DATE_CREATE DATE_MODIFY OPENED CLOSED COMMENTS ADDITIONAL_INFO LOCATION_ID CATEGORY_ID
        STAGE_SEMANTIC_ID IS_NEW IS_RECURRING IS_RETURN_CUSTOMER IS_REPEATED_APPROACH SOURCE_ID
        SOURCE_DESCRIPTION ORIGINATOR_ID ORIGIN_ID MOVED_BY_ID MOVED_TIME LAST_ACTIVITY_TIME""".split(),
        *UTM, "LAST_ACTIVITY_BY"],
}


@pytest.mark.parametrize("prefix", list(GET_EXAMPLE_KEYS))
def test_get_sends_every_key_of_the_docs_example_with_null_for_what_is_unset(portal, prefix):
    record_id = portal.result(f"{prefix}.add", fields={"TITLE": "T", "NAME": "N"})
    record = portal.result(f"{prefix}.get", id=record_id)
    assert [k for k in GET_EXAMPLE_KEYS[prefix] if k not in record] == []
    unset = [k for k in GET_EXAMPLE_KEYS[prefix] if k.startswith(("ADDRESS", "REG_ADDRESS", "LOGO", "PHOTO"))]
    assert {k: record[k] for k in unset} == dict.fromkeys(unset)


@pytest.mark.parametrize("prefix", list(GET_EXAMPLE_KEYS))
def test_last_activity_is_the_creation_and_an_update_does_not_move_it(make_portal, clock, prefix):
    """EN crm-company-get.md, crm-contact-get.md, crm-deal-get.md: LAST_ACTIVITY_TIME and LAST_ACTIVITY_BY equal
    DATE_CREATE and CREATED_BY_ID (the company's DATE_MODIFY is later: an update leaves them)."""
    portal = make_portal()
    record_id = portal.result(f"{prefix}.add", fields={"TITLE": "T", "NAME": "N"})
    clock.advance(3600)
    portal.result(f"{prefix}.update", id=record_id, fields={"COMMENTS": "позже"})
    record = portal.result(f"{prefix}.get", id=record_id)
    assert record["DATE_MODIFY"] != record["DATE_CREATE"]
    assert (record["LAST_ACTIVITY_TIME"], record["LAST_ACTIVITY_BY"]) == (record["DATE_CREATE"], record["CREATED_BY_ID"])
    assert record["LAST_ACTIVITY_TIME"] and record["LAST_ACTIVITY_BY"] == "1"


def test_a_company_address_is_kept_and_select_star_includes_it(portal):
    """The address fields are plain fields: written, read back, and part of ``*`` (neither UF nor multi)."""
    company_id = portal.company(ADDRESS_CITY="Москва", REG_ADDRESS="ул. Ленина, 1", ADDRESS_LOC_ADDR_ID=7)
    company = portal.result("crm.company.get", id=company_id)
    assert (company["ADDRESS_CITY"], company["REG_ADDRESS"], company["ADDRESS_LOC_ADDR_ID"]) == (
        "Москва", "ул. Ленина, 1", "7")
    star = portal.result("crm.company.list", select=["*"])[0]
    assert star["ADDRESS_CITY"] == "Москва" and star["REG_ADDRESS_CITY"] is None and "PHONE" not in star
    named = portal.result("crm.company.list", select=["ID", "TITLE"])[0]
    assert named == {"ID": str(company_id), "TITLE": "ООО Ромашка"}


@pytest.mark.parametrize("prefix", ["crm.company", "crm.contact", "crm.deal"])
def test_field_descriptors_have_the_shape_of_the_recorded_lead_fields(portal, prefix):
    """Each field the recorded crm.lead.fields also has comes with the same type, statusType and keys in
    the same order (``isDeprecated`` and ``settings`` aside: which link fields carry them differs by entity
    in the docs); ``settings`` always comes last, as recorded."""
    lead = real_reply("crm_lead_fields_success")["response"]["result"]
    mine = portal.result(f"{prefix}.fields")
    shared = [name for name in mine if name in lead and not name.startswith("UF_")]
    assert len(shared) > 20

    def shape(descriptor):
        return descriptor["type"], [k for k in descriptor if k not in ("isDeprecated", "settings")]

    assert {n: shape(mine[n]) for n in shared} == {n: shape(lead[n]) for n in shared}
    assert all(list(d)[-1] == "settings" for d in [*mine.values(), *lead.values()] if "settings" in d)


def test_field_titles_are_the_portals_words_not_the_codes(portal):
    """RU crm-company-fields.md, crm-contact-fields.md, crm-deal-fields.md (reply examples): ``title`` is the
    field's name in the portal's language; a contact's fields that a lead has too carry the very titles of the
    recorded ``crm.lead.fields`` reply.  A field the portal has no words for keeps its code."""
    lead = real_reply("crm_lead_fields_success")["response"]["result"]
    company, contact, deal = (portal.result(f"crm.{e}.fields") for e in ("company", "contact", "deal"))
    shared = [n for n in contact if n in lead and not n.startswith("UF_")]
    assert len(shared) > 30
    assert {n: contact[n]["title"] for n in shared} == {n: lead[n]["title"] for n in shared}
    assert (company["TITLE"]["title"], company["PHONE"]["title"], company["REG_ADDRESS"]["title"]) == (
        "Название компании", "Телефон", "Юридический адрес")
    assert (deal["TITLE"]["title"], deal["STAGE_ID"]["title"], deal["CATEGORY_ID"]["title"]) == (
        "Название", "Стадия сделки", "Воронка")
    assert deal["MOVED_BY_ID"]["title"] == "MOVED_BY_ID" and contact["COMPANY_IDS"]["title"] == "COMPANY_IDS"


def test_field_descriptors_name_status_lists_currencies_users_and_links(portal):
    """EN crm-company-fields.md, crm-contact-fields.md, crm-deal-fields.md."""
    company, contact, deal = (portal.result(f"crm.{e}.fields") for e in ("company", "contact", "deal"))
    assert company["TITLE"]["isRequired"] is True
    entities = {"company": company, "contact": contact, "deal": deal}
    statuses = {(e, n): d[n].get("statusType") for e, d in entities.items() for n in d
                if d[n]["type"] == "crm_status"}
    assert statuses == {("company", "COMPANY_TYPE"): "COMPANY_TYPE", ("company", "INDUSTRY"): "INDUSTRY",
                        ("company", "EMPLOYEES"): "EMPLOYEES", ("contact", "HONORIFIC"): "HONORIFIC",
                        ("contact", "TYPE_ID"): "CONTACT_TYPE", ("contact", "SOURCE_ID"): "SOURCE",
                        ("deal", "TYPE_ID"): "DEAL_TYPE", ("deal", "STAGE_ID"): "DEAL_STAGE",
                        ("deal", "SOURCE_ID"): "SOURCE"}
    assert company["CURRENCY_ID"]["type"] == deal["CURRENCY_ID"]["type"] == "crm_currency"
    users = ("ASSIGNED_BY_ID", "CREATED_BY_ID", "MODIFY_BY_ID", "MOVED_BY_ID")
    assert {n: deal[n]["type"] for n in users} == dict.fromkeys(users, "user")
    assert deal["COMPANY_ID"]["type"] == contact["COMPANY_ID"]["type"] == "crm_company"
    assert deal["COMPANY_ID"]["settings"] == {"parentEntityTypeId": 4}
    assert deal["CONTACT_ID"]["type"] == "crm_contact" and deal["CONTACT_ID"]["isDeprecated"] is True
    assert deal["CONTACT_IDS"] == {"type": "crm_contact", "isRequired": False, "isReadOnly": False,
                                   "isImmutable": False, "isMultiple": True, "isDynamic": False,
                                   "title": "Контакты"}
    assert contact["COMPANY_IDS"]["type"] == "crm_company" and contact["COMPANY_IDS"]["isMultiple"] is True
    assert deal["CATEGORY_ID"]["type"] == "crm_category" and deal["CATEGORY_ID"]["isImmutable"] is True
    assert (deal["LEAD_ID"]["type"], deal["LEAD_ID"]["isReadOnly"]) == ("crm_lead", True)


def test_the_status_lists_a_company_field_names_exist_and_a_new_company_gets_their_first_item(portal):
    """crm.company.fields names INDUSTRY and EMPLOYEES as statusType lists; the crm installer fills them
    (IT … OTHER at SORT 10 … 110, EMPLOYEES_1 … _4 at 10 … 40) and RU crm-company-add.md defaults both fields to
    the first item, as the EN get example shows ("INDUSTRY": "IT", "EMPLOYEES": "EMPLOYEES_1")."""
    fields = portal.result("crm.company.fields")
    for name in ("COMPANY_TYPE", "INDUSTRY", "EMPLOYEES"):
        assert portal.result("crm.status.list", filter={"ENTITY_ID": fields[name]["statusType"]}) != []
    industry = portal.result("crm.status.list", filter={"ENTITY_ID": "INDUSTRY"})
    assert [(r["STATUS_ID"], r["SORT"]) for r in industry] == [
        (code, str(sort)) for code, sort in zip(
            "IT TELECOM MANUFACTURING BANKING CONSULTING FINANCE GOVERNMENT DELIVERY ENTERTAINMENT NOTPROFIT OTHER".split(),
            range(10, 120, 10))]
    assert industry[0]["NAME"] == "Информационные технологии"  # RU crm-item-add.md
    employees = portal.result("crm.status.list", filter={"ENTITY_ID": "EMPLOYEES"})
    assert [r["STATUS_ID"] for r in employees] == ["EMPLOYEES_1", "EMPLOYEES_2", "EMPLOYEES_3", "EMPLOYEES_4"]
    assert employees[0]["NAME"] == "менее 50"  # RU crm-item-add.md
    company = portal.result("crm.company.get", id=portal.company())
    assert (company["COMPANY_TYPE"], company["INDUSTRY"], company["EMPLOYEES"]) == ("CUSTOMER", "IT", "EMPLOYEES_1")
    given = portal.result("crm.company.get", id=portal.company(INDUSTRY="BANKING", EMPLOYEES="EMPLOYEES_3"))
    assert (given["INDUSTRY"], given["EMPLOYEES"]) == ("BANKING", "EMPLOYEES_3")


def test_source_is_the_installers_list_and_a_contact_or_deal_without_one_gets_its_first_item(portal):
    """CCrmStatus::GetDefaultSources, the list RU crm-lead-add.md prints (CALL … OTHER, RC_GENERATOR included);
    RU crm-contact-add.md and crm-deal-add.md: SOURCE_ID "by default — the first available source type".  A
    default that is no item of the list (the sandbox's old "SELF") or none at all (deals) is what no portal sends."""
    sources = portal.result("crm.status.list", filter={"ENTITY_ID": "SOURCE"})
    assert [(r["STATUS_ID"], r["SORT"]) for r in sources] == [
        ("CALL", "10"), ("EMAIL", "20"), ("WEB", "30"), ("ADVERTISING", "40"), ("PARTNER", "50"),
        ("RECOMMENDATION", "60"), ("TRADE_SHOW", "70"), ("WEBFORM", "75"), ("CALLBACK", "77"),
        ("RC_GENERATOR", "78"), ("STORE", "79"), ("OTHER", "80")]
    contact = portal.result("crm.contact.get", id=portal.contact())
    deal = portal.result("crm.deal.get", id=portal.result("crm.deal.add", fields={"TITLE": "x"}))
    assert contact["SOURCE_ID"] == deal["SOURCE_ID"] == "CALL"
    assert {r["STATUS_ID"] for r in sources} >= {contact["SOURCE_ID"], deal["SOURCE_ID"]}
    web = portal.result("crm.deal.get", id=portal.result("crm.deal.add", fields={"TITLE": "y", "SOURCE_ID": "WEB"}))
    assert web["SOURCE_ID"] == "WEB"
