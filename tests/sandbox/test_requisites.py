"""Contacts ↔ companies, requisites, presets, bank details and addresses."""

from __future__ import annotations


def test_first_company_link_is_primary_and_a_second_add_is_false(portal):
    a, b = portal.company(TITLE="A"), portal.company(TITLE="B")
    contact_id = portal.contact()
    assert portal.result("crm.contact.company.add", id=contact_id, fields={"COMPANY_ID": a}) is True
    assert portal.result("crm.contact.company.add", id=contact_id, fields={"COMPANY_ID": b}) is True
    assert portal.result("crm.contact.company.add", id=contact_id, fields={"COMPANY_ID": a}) is False
    items = portal.result("crm.contact.company.items.get", id=contact_id)
    assert items == [{"COMPANY_ID": a, "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "Y"},
                     {"COMPANY_ID": b, "SORT": 20, "ROLE_ID": 0, "IS_PRIMARY": "N"}]
    assert portal.result("crm.contact.get", id=contact_id)["COMPANY_ID"] == str(a)


def test_is_primary_on_a_later_link_takes_primary_over(portal):
    a, b = portal.company(TITLE="A"), portal.company(TITLE="B")
    contact_id = portal.contact(COMPANY_ID=a)
    portal.result("crm.contact.company.add", id=contact_id, fields={"COMPANY_ID": b, "IS_PRIMARY": "Y"})
    assert portal.result("crm.contact.get", id=contact_id)["COMPANY_ID"] == str(b)


def test_company_ids_are_write_only_and_replace_the_links(portal):
    a, b, c = (portal.company(TITLE=t) for t in "ABC")
    contact_id = portal.contact(COMPANY_IDS=[a, b])
    contact = portal.result("crm.contact.get", id=contact_id)
    assert "COMPANY_IDS" not in contact and contact["COMPANY_ID"] == str(a)
    assert all("COMPANY_IDS" not in row for row in portal.result("crm.contact.list", select=["*", "COMPANY_IDS"]))
    portal.result("crm.contact.update", id=contact_id, fields={"COMPANY_IDS": [c]})
    assert [i["COMPANY_ID"] for i in portal.result("crm.contact.company.items.get", id=contact_id)] == [c]


def test_contact_list_filters_by_primary_company(portal):
    a = portal.company()
    portal.contact(COMPANY_ID=a)
    portal.contact(NAME="Без компании")
    assert [r["ID"] for r in portal.result("crm.contact.list", filter={"COMPANY_ID": a})] == ["1"]


def test_presets_are_the_ru_system_ones_with_their_xml_ids(portal):
    presets = portal.result("crm.requisite.preset.list", select=["ID", "NAME", "XML_ID", "COUNTRY_ID"])
    assert presets[:3] == [
        {"ID": "1", "NAME": "Организация", "XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#", "COUNTRY_ID": "1"},
        {"ID": "2", "NAME": "ИП", "XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#", "COUNTRY_ID": "1"},
        {"ID": "3", "NAME": "Физ. лицо", "XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_PERSON#", "COUNTRY_ID": "1"},
    ]
    found = portal.result("crm.requisite.preset.list", filter={"XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#"})
    assert [p["ID"] for p in found] == ["2"]


def test_requisite_round_trip_with_rq_fields_and_xml_id(portal):
    company_id = portal.company()
    requisite_id = portal.requisite(company_id, RQ_INN="7701234567", RQ_KPP="770101001", XML_ID="ut-guid-1",
                                    ORIGINATOR_ID="1C_UT", NO_SUCH="dropped")
    requisite = portal.result("crm.requisite.get", id=requisite_id)
    assert requisite["ENTITY_TYPE_ID"] == "4" and requisite["ENTITY_ID"] == str(company_id)
    assert requisite["PRESET_ID"] == "1" and requisite["RQ_INN"] == "7701234567"
    assert requisite["RQ_OGRN"] is None and requisite["DATE_MODIFY"] == "" and requisite["MODIFY_BY_ID"] is None
    assert "NO_SUCH" not in requisite
    assert portal.result("crm.requisite.update", id=requisite_id, fields={"RQ_KPP": "770102002"}) is True
    found = portal.result("crm.requisite.list", filter={"XML_ID": "ut-guid-1"}, select=["ID", "RQ_KPP"])
    assert found == [{"ID": str(requisite_id), "RQ_KPP": "770102002"}]


def test_requisite_and_bank_detail_lists_give_exactly_the_selected_fields_in_the_selected_order(portal):
    """The ORM lists answer ``select`` as written: EN crm-requisite-list.md example 1 selects
    ENTITY_TYPE_ID, ENTITY_ID, ID, NAME and gets them in that order, example 2 selects only a UF field and gets only
    it (no ID); crm-requisite-bank-detail-list.md selects ENTITY_ID, ID, NAME and gets them in that order."""
    company_id = portal.company()
    requisite_id = portal.requisite(company_id, RQ_INN="7701234567")
    portal.sandbox.store.insert("userfields", {"ENTITY_ID": "CRM_REQUISITE", "FIELD_NAME": "UF_CRM_1707997209",
                                               "USER_TYPE_ID": "string", "MULTIPLE": "N"})
    portal.result("crm.requisite.update", id=requisite_id, fields={"UF_CRM_1707997209": "45"})
    rows = portal.result("crm.requisite.list", filter={"PRESET_ID": "1"},
                         select=["ENTITY_TYPE_ID", "ENTITY_ID", "ID", "NAME"])
    assert [list(r.items()) for r in rows] == [[("ENTITY_TYPE_ID", "4"), ("ENTITY_ID", str(company_id)),
                                               ("ID", str(requisite_id)), ("NAME", "Организация")]]
    assert portal.result("crm.requisite.list", filter={"ID": requisite_id},
                         select=["UF_CRM_1707997209"]) == [{"UF_CRM_1707997209": "45"}]
    assert portal.result("crm.requisite.list", select=["NAME"]) == [{"NAME": "Организация"}]
    star = portal.result("crm.requisite.list", select=["RQ_INN", "*"])[0]
    assert list(star)[:3] == ["RQ_INN", "ID", "ENTITY_TYPE_ID"] and "UF_CRM_1707997209" not in star
    everything = portal.result("crm.requisite.list")[0]
    assert list(everything)[0] == "ID" and everything["UF_CRM_1707997209"] == "45"
    bank_id = portal.result("crm.requisite.bankdetail.add", fields={"ENTITY_ID": requisite_id, "NAME": "Счёт"})
    banks = portal.result("crm.requisite.bankdetail.list", select=["ENTITY_ID", "ID", "NAME"])
    assert [list(r.items()) for r in banks] == [[("ENTITY_ID", str(requisite_id)), ("ID", str(bank_id)),
                                                ("NAME", "Счёт")]]
    assert portal.result("crm.requisite.bankdetail.list", select=["NAME"]) == [{"NAME": "Счёт"}]
    assert portal.result("crm.requisite.preset.list", filter={"ID": 2}, select=["NAME", "ID"]) == [
        {"NAME": "ИП", "ID": "2"}]


def test_legacy_lists_still_send_id_first_whatever_the_select(portal):
    """docs/sandbox.md: the legacy crm.company/contact/deal lists keep ID and the entity's field order."""
    company_id = portal.company()
    assert portal.result("crm.company.list", select=["TITLE"]) == [{"ID": str(company_id), "TITLE": "ООО Ромашка"}]
    assert list(portal.result("crm.company.list", select=["TITLE", "ID"])[0]) == ["ID", "TITLE"]


def test_requisite_validation_errors(portal):
    company_id = portal.company()
    base = {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company_id, "PRESET_ID": 1, "NAME": "R"}
    cases = [
        ({**base, "ENTITY_TYPE_ID": 2}, "ENTITY_TYPE_ID is not defined or invalid."),
        ({**base, "ENTITY_ID": 0}, "ENTITY_ID is not defined or invalid."),
        ({**base, "ENTITY_ID": 999}, "Entity not found."),
        ({**base, "PRESET_ID": 99}, "PRESET_ID is not defined or invalid."),
    ]
    for fields, message in cases:
        status, body = portal.error("crm.requisite.add", fields=fields)
        assert (status, body) == (400, {"error": "", "error_description": message})
    status, body = portal.error("crm.requisite.add", fields={**base, "NAME": ""})
    assert status == 400 and body["error"] == ""


def test_missing_requisite_names_its_id(portal):
    status, body = portal.error("crm.requisite.get", id=27)
    assert status == 400 and body == {"error": "", "error_description": "The Requisite with ID '27' is not found"}


def test_requisite_on_a_contact(portal):
    contact_id = portal.contact()
    requisite_id = portal.result("crm.requisite.add", fields={"ENTITY_TYPE_ID": 3, "ENTITY_ID": contact_id,
                                                              "PRESET_ID": 3, "NAME": "Физ. лицо"})
    assert portal.result("crm.requisite.list", filter={"ENTITY_TYPE_ID": 3, "ENTITY_ID": contact_id},
                         select=["ID"]) == [{"ID": str(requisite_id)}]


def test_bank_detail_round_trip(portal):
    requisite_id = portal.requisite(portal.company())
    bank_id = portal.result("crm.requisite.bankdetail.add", fields={
        "ENTITY_ID": requisite_id, "NAME": "Основной счёт", "RQ_BIK": "044525225", "RQ_ACC_NUM": "40702810400000000001",
        "RQ_COR_ACC_NUM": "30101810400000000225", "RQ_BANK_NAME": "ПАО Сбербанк", "XML_ID": "acc-1"})
    bank = portal.result("crm.requisite.bankdetail.get", id=bank_id)
    assert bank["ENTITY_ID"] == str(requisite_id) and bank["ENTITY_TYPE_ID"] == "8"
    assert bank["RQ_BIK"] == "044525225" and bank["COUNTRY_ID"] == "1"
    portal.result("crm.requisite.bankdetail.update", id=bank_id, fields={"RQ_ACC_NUM": "40702810400000000002"})
    rows = portal.result("crm.requisite.bankdetail.list", filter={"ENTITY_ID": requisite_id},
                         select=["ID", "RQ_ACC_NUM"])
    assert rows == [{"ID": str(bank_id), "RQ_ACC_NUM": "40702810400000000002"}]


def test_bank_detail_needs_an_existing_requisite(portal):
    status, body = portal.error("crm.requisite.bankdetail.add", fields={"ENTITY_ID": 5, "NAME": "x"})
    assert status == 400 and body == {"error": "", "error_description": "ENTITY_ID is not defined or invalid."}


def test_address_is_keyed_by_type_and_requisite(portal):
    requisite_id = portal.requisite(portal.company())
    key = {"TYPE_ID": 6, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id}
    assert portal.result("crm.address.add", fields={**key, "ADDRESS_1": "ул. Ленина, 1", "CITY": "Москва",
                                                    "POSTAL_CODE": "101000"}) is True
    status, body = portal.error("crm.address.add", fields={**key, "CITY": "Тверь"})
    assert (status, body) == (400, {"error": "", "error_description": "TypeAddress exists"})
    assert portal.result("crm.address.add", fields={**key, "TYPE_ID": 1, "CITY": "Тверь"}) is True
    assert portal.result("crm.address.update", fields={**key, "ADDRESS_2": "оф. 5"}) is True
    rows = portal.result("crm.address.list", filter={"ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id},
                         order={"TYPE_ID": "DESC"})
    assert [(r["TYPE_ID"], r["CITY"], r["ADDRESS_2"]) for r in rows] == [("6", "Москва", "оф. 5"),
                                                                        ("1", "Тверь", None)]
    assert rows[0]["ANCHOR_TYPE_ID"] == "4" and "ID" not in rows[0]


def test_address_update_of_a_missing_type_fails(portal):
    requisite_id = portal.requisite(portal.company())
    status, body = portal.error("crm.address.update", fields={"TYPE_ID": 4, "ENTITY_TYPE_ID": 8,
                                                              "ENTITY_ID": requisite_id, "CITY": "x"})
    assert (status, body) == (400, {"error": "", "error_description": "TypeAddress not found"})


def test_address_delete_of_a_missing_type_words_it_as_the_docs_example(portal):
    """EN crm-address-delete.md: the error-reply example reads "TypeAddress not found." (with the full stop)."""
    requisite_id = portal.requisite(portal.company())
    key = {"TYPE_ID": 4, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id}
    status, body = portal.error("crm.address.delete", fields=key)
    assert (status, body) == (400, {"error": "", "error_description": "TypeAddress not found."})
    assert portal.result("crm.address.add", fields={**key, "CITY": "Тверь"}) is True
    assert portal.result("crm.address.delete", fields=key) is True
    assert portal.error("crm.address.delete", fields=key)[1]["error_description"] == "TypeAddress not found."


def test_address_needs_a_known_type_and_a_requisite_owner(portal):
    requisite_id = portal.requisite(portal.company())
    status, body = portal.error("crm.address.add", fields={"TYPE_ID": 99, "ENTITY_TYPE_ID": 8,
                                                           "ENTITY_ID": requisite_id})
    assert status == 400 and body["error_description"] == "TYPE_ID is not defined or invalid."
    status, body = portal.error("crm.address.add", fields={"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": 77})
    assert status == 400 and body["error_description"] == "ENTITY_ID is not defined or invalid."


def test_requisites_are_listed_by_inn_and_kpp(portal):
    head = portal.company(TITLE="ООО Альфа")
    branch = portal.company(TITLE="ООО Альфа (филиал)")
    sole = portal.company(TITLE="ИП Иванов")
    portal.requisite(head, RQ_INN="7701234567", RQ_KPP="770101001")
    portal.requisite(branch, RQ_INN="7701234567", RQ_KPP="780201001")
    portal.requisite(sole, PRESET_ID=2, RQ_INN="770123456789")

    def owners(**filter_):
        return [r["ENTITY_ID"] for r in portal.result("crm.requisite.list", filter=filter_,
                                                      select=["ENTITY_ID", "RQ_INN", "RQ_KPP"])]

    assert owners(RQ_INN="7701234567") == [str(head), str(branch)]
    assert owners(RQ_INN="7701234567", RQ_KPP="780201001") == [str(branch)]
    assert owners(RQ_INN="770123456789") == [str(sole)]  # the 12-digit INN of an ИП is its own key
    assert owners(**{"@RQ_INN": ["770123456789", "0000000000"]}) == [str(sole)]
    assert owners(RQ_INN="770123456") == []  # exact, not a prefix


def test_enum_address_types_are_the_ones_crm_address_accepts(portal):
    """RU crm-enum-address-type.md: int ids, Russian names, null symbol codes; each id is a usable TYPE_ID."""
    types = portal.result("crm.enum.addresstype")
    assert [(t["ID"], t["NAME"]) for t in types] == [
        (11, "Адрес доставки"), (1, "Фактический адрес"), (6, "Юридический адрес"), (4, "Адрес регистрации"),
        (8, "Адрес для корреспонденции"), (9, "Адрес бенефициара")]
    assert all(t["SYMBOL_CODE"] is None and t["SYMBOL_CODE_SHORT"] is None for t in types)
    requisite_id = portal.requisite(portal.company())
    for t in types:
        assert portal.result("crm.address.add", fields={"TYPE_ID": t["ID"], "ENTITY_TYPE_ID": 8,
                                                        "ENTITY_ID": requisite_id, "CITY": "Москва"}) is True


def test_enum_owner_types_name_the_entity_type_ids(portal):
    """RU crm-enum-owner-type.md: ``{ID (int), NAME, SYMBOL_CODE, SYMBOL_CODE_SHORT}``."""
    types = {t["SYMBOL_CODE"]: t for t in portal.result("crm.enum.ownertype")}
    assert types["DEAL"] == {"ID": 2, "NAME": "Сделка", "SYMBOL_CODE": "DEAL", "SYMBOL_CODE_SHORT": "D"}
    assert {code: t["ID"] for code, t in types.items() if code in ("LEAD", "CONTACT", "COMPANY", "REQUISITE",
                                                                    "QUOTE", "SMART_INVOICE")} == {
        "LEAD": 1, "CONTACT": 3, "COMPANY": 4, "REQUISITE": 8, "QUOTE": 7, "SMART_INVOICE": 31}


def _bank_detail(portal, requisite_id):
    return portal.result("crm.requisite.bankdetail.add", fields={"ENTITY_ID": requisite_id, "NAME": "Счёт"})


def test_requisite_link_register_names_the_deals_requisites(portal):
    """EN crm-requisite-link-register.md: ``true``; the client's requisite and bank detail, the seller's ones
    (a company with IS_MY_COMPANY Y); ``0`` means none; registering again replaces the link."""
    fields, _ = _linked_deal(portal)
    deal = fields["ENTITY_ID"]
    assert portal.result("crm.requisite.link.register", fields={**fields, "BANK_DETAIL_ID": 0,
                                                                "MC_BANK_DETAIL_ID": 0}) is True
    links = portal.http.get(portal.url("/_sandbox/state")).json()["requisite_links"]
    assert links == [{**fields, "BANK_DETAIL_ID": 0, "MC_BANK_DETAIL_ID": 0}]
    portal.result("crm.deal.delete", id=deal)
    assert portal.http.get(portal.url("/_sandbox/state")).json()["requisite_links"] == []


def test_requisite_link_register_checks_every_id_as_the_docs_list(portal):
    client, other = portal.company(), portal.company(TITLE="ООО Чужая")
    requisite, foreign = portal.requisite(client), portal.requisite(other)
    foreign_detail = _bank_detail(portal, foreign)
    deal = portal.result("crm.deal.add", fields={"COMPANY_ID": client})
    base = {"ENTITY_TYPE_ID": 2, "ENTITY_ID": deal, "REQUISITE_ID": 0, "BANK_DETAIL_ID": 0, "MC_REQUISITE_ID": 0,
            "MC_BANK_DETAIL_ID": 0}

    def error(**changes):
        status, body = portal.error("crm.requisite.link.register", fields={**base, **changes})
        assert status == 400 and body["error"] == ""
        return body["error_description"]

    assert error(ENTITY_TYPE_ID=0) == "ENTITY_TYPE_ID is not defined or invalid."
    assert error(MC_BANK_DETAIL_ID=-1) == "MC_BANK_DETAIL_ID is not defined or invalid."
    assert error(ENTITY_ID=999) == "Entity is not found"
    assert error(ENTITY_TYPE_ID=7) == "Entity is not found"
    assert error(REQUISITE_ID=999) == "The Requisite with ID '999' is not found"
    assert error(REQUISITE_ID=foreign) == f"The Requisite with ID '{foreign}' is not assigned to Company with ID '{client}'"
    assert error(REQUISITE_ID=requisite, BANK_DETAIL_ID=999) == "The BankDetail with ID '999' is not found"
    assert error(REQUISITE_ID=requisite, BANK_DETAIL_ID=foreign_detail) == (
        f"The BankDetail with ID '{foreign_detail}' is not assigned to Requisite with ID '{requisite}'")
    assert error(MC_REQUISITE_ID=999) == "The Requisite of your company with ID '999' is not found"
    assert error(MC_REQUISITE_ID=requisite) == f"The Requisite with ID '{requisite}' is not assigned to your company with ID '0'"
    assert portal.result("crm.requisite.link.register", fields=base) is True


def _linked_deal(portal):
    """A deal of a client company whose requisite and bank detail are linked, with the seller's ones too."""
    client = portal.company()
    seller = portal.company(TITLE="ООО Мы", IS_MY_COMPANY="Y")
    requisite, mine = portal.requisite(client), portal.requisite(seller)
    detail, my_detail = _bank_detail(portal, requisite), _bank_detail(portal, mine)
    deal = portal.result("crm.deal.add", fields={"COMPANY_ID": client})
    fields = {"ENTITY_TYPE_ID": 2, "ENTITY_ID": deal, "REQUISITE_ID": requisite, "BANK_DETAIL_ID": detail,
              "MC_REQUISITE_ID": mine, "MC_BANK_DETAIL_ID": my_detail}
    assert portal.result("crm.requisite.link.register", fields=fields) is True
    return fields, client


def test_requisite_link_get_list_and_unregister_answer_as_the_docs_show(portal):
    """EN crm-requisite-link-get.md: the object's ids as integers, the requisite ids as strings, no link →
    "Not found"; -list.md: every value a string, ``total``; -unregister.md: ``true``."""
    fields, _ = _linked_deal(portal)
    deal = fields["ENTITY_ID"]
    assert portal.result("crm.requisite.link.get", entityTypeId=2, entityId=deal) == {
        "ENTITY_TYPE_ID": 2, "ENTITY_ID": deal, **{k: str(v) for k, v in fields.items() if k.endswith("_ID")
                                                   and not k.startswith("ENTITY")}}
    body = portal.call("crm.requisite.link.list", filter={"@ENTITY_TYPE_ID": [2, 7, 31]}).json()
    assert body["result"] == [{k: str(v) for k, v in fields.items()}] and body["total"] == 1
    assert portal.result("crm.requisite.link.list", select=["ENTITY_ID", "REQUISITE_ID"],
                         filter={"ENTITY_ID": deal}) == [{"ENTITY_ID": str(deal),
                                                          "REQUISITE_ID": str(fields["REQUISITE_ID"])}]
    assert portal.result("crm.requisite.link.unregister", entityTypeId=2, entityId=deal) is True
    assert portal.error("crm.requisite.link.get", entityTypeId=2, entityId=deal) == (
        400, {"error": "", "error_description": "Not found"})
    assert portal.result("crm.requisite.link.list") == []
    assert portal.result("crm.requisite.link.unregister", entityTypeId=2, entityId=deal) is True
    assert portal.error("crm.requisite.link.get", entityTypeId=2) == (
        400, {"error": "", "error_description": "entityId is not defined or invalid."})
    assert portal.error("crm.requisite.link.unregister", entityId=deal) == (
        400, {"error": "", "error_description": "entityTypeId is not defined or invalid."})


def _link(portal, deal):
    status_body = portal.call("crm.requisite.link.get", entityTypeId=2, entityId=deal)
    return status_body.json().get("result")


def test_deleting_the_client_requisite_clears_its_side_of_the_link(portal):
    """EN crm-requisite-delete.md: a requisite goes with "all associated objects (links to other entities, …)";
    a link that also names the seller's requisite keeps that side (the portal's unregisterByRequisite)."""
    fields, _ = _linked_deal(portal)
    assert portal.result("crm.requisite.delete", id=fields["REQUISITE_ID"]) is True
    assert _link(portal, fields["ENTITY_ID"]) == {
        "ENTITY_TYPE_ID": 2, "ENTITY_ID": fields["ENTITY_ID"], "REQUISITE_ID": "0", "BANK_DETAIL_ID": "0",
        "MC_REQUISITE_ID": str(fields["MC_REQUISITE_ID"]), "MC_BANK_DETAIL_ID": str(fields["MC_BANK_DETAIL_ID"])}
    assert portal.result("crm.requisite.delete", id=fields["MC_REQUISITE_ID"]) is True
    assert _link(portal, fields["ENTITY_ID"]) is None  # no requisite left on either side: the link is gone


def test_deleting_the_only_linked_requisite_or_its_company_drops_the_link(portal):
    fields, client = _linked_deal(portal)
    portal.result("crm.requisite.link.register", fields={**fields, "MC_REQUISITE_ID": 0, "MC_BANK_DETAIL_ID": 0})
    assert portal.result("crm.company.delete", id=client) is True  # takes its requisites, and so their links
    assert _link(portal, fields["ENTITY_ID"]) is None
    assert portal.http.get(portal.url("/_sandbox/state")).json()["requisite_links"] == []
