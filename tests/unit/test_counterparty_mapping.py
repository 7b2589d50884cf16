"""A 1C counterparty maps to the Bitrix24 objects a sales manager expects (pure, no I/O)."""

from types import SimpleNamespace

from bridge.domain.counterparty import ADDRESS_ACTUAL, ADDRESS_LEGAL, desired_state

PRESETS = SimpleNamespace(company=1, individual_entrepreneur=2, person=3)
CP_ID = "9d3b7c1e-2f4a-11ef-8b1a-00155d012a07"


def company(**overrides):
    payload = {
        "name": "Ромашка ООО", "full_name": 'ООО "Ромашка"', "legal_form": "company",
        "inn": "7707083893", "kpp": "773601001", "ogrn": "1027700132195",
        "phones": ["+7 (495) 123-45-67"], "emails": ["info@romashka.example"], "city": "Москва",
        "legal_address": {"presentation": "115054, Москва г, Валовая ул, дом № 26", "postal_code": "115054",
                          "city": "Москва", "street": "Валовая ул", "house": "26"},
        "actual_address": None,
        "bank_accounts": [{"account": "40702810938000012345", "bank_name": "ПАО СБЕРБАНК", "bik": "044525225",
                           "corr_account": "30101810400000000225", "currency": "RUB", "is_main": True}],
        "contact_persons": [{"id": "0b6f3a52-2f4b-11ef-8b1a-00155d012a07", "last_name": "Иванова",
                             "first_name": "Анна", "middle_name": "Сергеевна", "position": "Главный бухгалтер",
                             "phones": ["+7 (916) 000-00-01"], "emails": ["anna@romashka.example"],
                             "city": "Москва"}],
        "deleted": False,
    }
    payload.update(overrides)
    return payload


def state(payload):
    return desired_state(payload, entity_id=CP_ID, originator="ut103-main", presets=PRESETS)


def test_a_legal_entity_becomes_a_company_found_by_originator_and_origin_id():
    s = state(company())
    assert s.kind == "company"
    assert s.main.fields == {"TITLE": "Ромашка ООО", "ORIGINATOR_ID": "ut103-main", "ORIGIN_ID": CP_ID}
    assert s.main.phones == ("+7 (495) 123-45-67",)


def test_the_requisite_uses_the_company_preset_and_carries_inn_kpp_names_ogrn():
    r = state(company()).requisite
    assert r["PRESET_ID"] == "1" and r["XML_ID"] == CP_ID
    assert (r["RQ_INN"], r["RQ_KPP"], r["RQ_OGRN"]) == ("7707083893", "773601001", "1027700132195")
    assert r["RQ_COMPANY_NAME"] == "Ромашка ООО" and r["RQ_COMPANY_FULL_NAME"] == 'ООО "Ромашка"'


def test_an_individual_entrepreneur_is_a_company_with_the_ip_preset_ogrnip_and_no_kpp():
    r = state(company(legal_form="individual_entrepreneur", inn="500100732259", kpp=None,
                      ogrn="304500116000157")).requisite
    assert r["PRESET_ID"] == "2" and r["RQ_OGRNIP"] == "304500116000157"
    assert "RQ_KPP" not in r and "RQ_OGRN" not in r


def test_a_person_becomes_a_contact_with_the_person_preset():
    s = state(company(legal_form="person", name="Петров Пётр", last_name="Петров", first_name="Пётр",
                      middle_name=None, inn=None, kpp=None, contact_persons=[]))
    assert s.kind == "contact"
    assert s.main.fields["LAST_NAME"] == "Петров" and s.main.fields["NAME"] == "Пётр"
    assert "SECOND_NAME" not in s.main.fields
    assert s.requisite["PRESET_ID"] == "3"


def test_the_legal_address_goes_to_type_6_with_city_on_the_address():
    s = state(company())
    assert s.addresses[ADDRESS_LEGAL] == {"ADDRESS_1": "Валовая ул, д. 26", "CITY": "Москва", "POSTAL_CODE": "115054"}
    assert ADDRESS_ACTUAL not in s.addresses


def test_an_address_without_parts_keeps_its_presentation():
    s = state(company(legal_address={"presentation": "Казахстан, Алматы, пр. Абая 1"}))
    assert s.addresses[ADDRESS_LEGAL] == {"ADDRESS_1": "Казахстан, Алматы, пр. Абая 1"}


def test_a_city_without_any_address_still_reaches_bitrix24_as_an_actual_address():
    s = state(company(legal_address=None))
    assert s.addresses == {ADDRESS_ACTUAL: {"CITY": "Москва"}}


def test_each_bank_account_is_a_bank_detail_keyed_by_counterparty_and_account():
    d = state(company()).bank_details["40702810938000012345"]
    assert d["XML_ID"] == f"{CP_ID}/40702810938000012345"
    assert (d["RQ_BIK"], d["RQ_COR_ACC_NUM"], d["RQ_ACC_CURRENCY"]) == ("044525225", "30101810400000000225", "RUB")


def test_contact_persons_become_contacts_with_their_city():
    c = state(company()).contacts["0b6f3a52-2f4b-11ef-8b1a-00155d012a07"]
    assert c.fields["LAST_NAME"] == "Иванова" and c.fields["POST"] == "Главный бухгалтер"
    assert c.city == "Москва" and c.fields["ORIGIN_ID"] == "0b6f3a52-2f4b-11ef-8b1a-00155d012a07"
    assert c.emails == ("anna@romashka.example",)


def test_fields_1c_leaves_empty_are_not_sent():
    s = state(company(ogrn=None, full_name="", phones=[], emails=[" "]))
    assert "RQ_OGRN" not in s.requisite and "RQ_COMPANY_FULL_NAME" not in s.requisite
    assert s.main.phones == () and s.main.emails == ()
