"""A 1C counterparty becomes a Bitrix24 company (or contact) with requisites, addresses, bank details
and contact persons — exactly once, whatever is repeated, restarted or redelivered on the way."""

from __future__ import annotations

import asyncio
import copy
import uuid

from tests.contract.samples import CONTRACT_EXAMPLE
from tests.helpers import wait_for

CP_ID = CONTRACT_EXAMPLE["entity_id"]
PERSON_2 = "1c7f4b63-2f4b-11ef-8b1a-00155d012a07"


def full_company(version: int = 1, **payload) -> dict:
    """The contract example grown to two contact persons, two bank accounts and both addresses."""
    e = copy.deepcopy(CONTRACT_EXAMPLE)
    e["event_id"] = str(uuid.uuid4())
    e["version"] = version
    p = e["payload"]
    p["ogrn"] = "1027700132195"
    p["phones"] = ["+7 (495) 123-45-67", "+7 (495) 765-43-21"]
    p["actual_address"] = {"presentation": "190000, Санкт-Петербург г, Невский пр-кт, дом № 1, кв. 5",
                           "postal_code": "190000", "region": "Санкт-Петербург", "city": "Санкт-Петербург",
                           "street": "Невский пр-кт", "house": "1", "apartment": "5"}
    p["bank_accounts"].append({"account": "40702810800000000001", "bank_name": "АО «АЛЬФА-БАНК»",
                               "bik": "044525593", "corr_account": "30101810200000000593", "currency": "RUB",
                               "is_main": False})
    p["contact_persons"].append({"id": PERSON_2, "last_name": "Смирнов", "first_name": "Олег",
                                 "middle_name": "Игоревич", "position": "Директор по закупкам",
                                 "phones": ["+7 (903) 111-22-33"], "emails": ["smirnov@romashka.example"],
                                 "city": "Санкт-Петербург"})
    p.update(payload)
    return e


def companies(state) -> list[dict]:
    return state["companies"]


async def arrived(stack, check):
    async def probe():
        try:
            return check(stack.state())
        except (KeyError, IndexError, AssertionError):
            return False
    return await wait_for(probe, timeout=60, interval=0.2)


def one(items: list[dict]) -> dict:
    assert len(items) == 1, items
    return items[0]


def _phones(entity) -> set[str]:
    return {p["VALUE"] for p in entity.get("PHONE") or []}


async def test_a_company_with_contacts_accounts_and_addresses_appears_with_every_field(stack):
    response = await stack.post(full_company())
    assert response.json()["results"][0]["status"] == "accepted"
    assert await arrived(stack, lambda s: len(s["contacts"]) == 2 and len(s["bank_details"]) == 2
                         and len(s["addresses"]) == 4)
    state = stack.state()
    company = one(companies(state))
    assert company["TITLE"] == "Ромашка ООО"
    assert (company["ORIGINATOR_ID"], company["ORIGIN_ID"]) == ("ut103-main", CP_ID)
    assert _phones(company) == {"+7 (495) 123-45-67", "+7 (495) 765-43-21"}
    assert {e["VALUE"] for e in company["EMAIL"]} == {"info@romashka.example"}

    requisite = one([r for r in state["requisites"] if r["ENTITY_TYPE_ID"] == "4"])
    assert (requisite["ENTITY_TYPE_ID"], requisite["ENTITY_ID"]) == ("4", company["ID"])
    assert (requisite["RQ_INN"], requisite["RQ_KPP"], requisite["RQ_OGRN"]) == ("7707083893", "773601001", "1027700132195")
    assert requisite["RQ_COMPANY_FULL_NAME"] == 'Общество с ограниченной ответственностью "Ромашка"'
    assert requisite["PRESET_ID"] == "1" and requisite["XML_ID"] == CP_ID

    addresses = {a["TYPE_ID"]: a for a in state["addresses"] if a["ENTITY_ID"] == requisite["ID"]}
    assert addresses["6"]["CITY"] == "Москва" and addresses["6"]["POSTAL_CODE"] == "115054"
    assert addresses["1"]["CITY"] == "Санкт-Петербург" and addresses["1"]["ADDRESS_2"] == "5"
    assert {a["ENTITY_ID"] for a in addresses.values()} == {requisite["ID"]}

    details = {d["RQ_ACC_NUM"]: d for d in state["bank_details"]}
    assert details["40702810938000012345"]["RQ_BIK"] == "044525225"
    assert details["40702810800000000001"]["RQ_COR_ACC_NUM"] == "30101810200000000593"
    assert {d["ENTITY_ID"] for d in details.values()} == {requisite["ID"]}

    contacts = {c["LAST_NAME"]: c for c in state["contacts"]}
    assert contacts["Иванова"]["POST"] == "Главный бухгалтер"
    smirnov_address = [a for a in state["addresses"] if a["ENTITY_ID"] in {
        r["ID"] for r in state["requisites"] if r["ENTITY_TYPE_ID"] == "3" and r["ENTITY_ID"] == contacts["Смирнов"]["ID"]}]
    assert [a["CITY"] for a in smirnov_address] == ["Санкт-Петербург"]
    assert _phones(contacts["Смирнов"]) == {"+7 (903) 111-22-33"}
    links = {(str(l["CONTACT_ID"]), str(l["COMPANY_ID"])) for l in state["contact_company"]}
    assert links == {(c["ID"], company["ID"]) for c in contacts.values()}


async def test_repeats_equal_versions_and_older_versions_leave_one_company_with_the_newest_data(stack):
    newest = full_company(version=3, name="Ромашка-Новая ООО")
    same_version = full_company(version=3, name="Ромашка (повтор той же версии)")
    older = full_company(version=2, name="Ромашка (старая)")
    await stack.post(newest)
    await stack.post(newest)  # the same event again: a duplicate
    assert await arrived(stack, lambda s: one(companies(s))["TITLE"] == "Ромашка-Новая ООО")
    await stack.post([same_version, older])
    marker = {**full_company(), "entity_id": str(uuid.uuid4()), "event_id": str(uuid.uuid4())}
    marker["payload"] = {**marker["payload"], "name": "Маркер", "contact_persons": [], "bank_accounts": []}
    await stack.post(marker)  # once this one is applied, the two before it have been handled too
    assert await arrived(stack, lambda s: len(companies(s)) == 2)
    await asyncio.sleep(1)
    state = stack.state()
    titles = sorted(c["TITLE"] for c in companies(state))
    assert titles == ["Маркер", "Ромашка-Новая ООО"]
    company_requisites = [r for r in state["requisites"] if r["ENTITY_TYPE_ID"] == "4"]
    assert len(state["contacts"]) == 2 and len(state["bank_details"]) == 2 and len(company_requisites) == 2


async def test_a_newer_snapshot_sends_only_what_changed_and_keeps_a_managers_own_phone(stack):
    await stack.post(full_company(version=1))
    assert await arrived(stack, lambda s: len(s["bank_details"]) == 2 and len(s["contacts"]) == 2)
    company = one(companies(stack.state()))
    stack.portal.sandbox.call("crm.company.update", {"id": company["ID"], "fields": {
        "PHONE": [{"VALUE": "+7 (999) 000-00-99", "VALUE_TYPE": "MOBILE"}]}})  # a manager's addition
    changed = full_company(version=2, phones=["+7 (495) 123-45-67", "+7 (812) 555-55-55"], kpp="773601002")
    changed["payload"]["bank_accounts"] = changed["payload"]["bank_accounts"][:1]  # the second account closed
    await stack.post(changed)
    assert await arrived(stack, lambda s: len(s["bank_details"]) == 1)
    state = stack.state()
    assert _phones(one(companies(state))) == {"+7 (495) 123-45-67", "+7 (812) 555-55-55", "+7 (999) 000-00-99"}
    assert one([r for r in state["requisites"] if r["ENTITY_TYPE_ID"] == "4"])["RQ_KPP"] == "773601002"
    assert one(state["bank_details"])["RQ_ACC_NUM"] == "40702810938000012345"


async def test_a_person_becomes_a_contact_and_an_entrepreneur_a_company_with_the_ip_preset(stack):
    person = full_company(name="Петров Пётр Петрович", legal_form="person", inn=None, kpp=None, ogrn=None,
                          last_name="Петров", first_name="Пётр", middle_name="Петрович", contact_persons=[],
                          bank_accounts=[])
    person["entity_id"] = str(uuid.uuid4())
    ip = full_company(name="ИП Сидоров Иван Андреевич", legal_form="individual_entrepreneur",
                      inn="500100732259", kpp=None, ogrn="304500116000157", contact_persons=[])
    ip["entity_id"] = str(uuid.uuid4())
    await stack.post([person, ip])
    assert await arrived(stack, lambda s: len(s["requisites"]) == 2 and len(s["contacts"]) == 1
                         and len(s["addresses"]) == 4)
    state = stack.state()
    contact = one(state["contacts"])
    assert (contact["LAST_NAME"], contact["NAME"], contact["SECOND_NAME"]) == ("Петров", "Пётр", "Петрович")
    company = one(companies(state))
    assert company["TITLE"] == "ИП Сидоров Иван Андреевич"
    presets = {r["ENTITY_TYPE_ID"]: r["PRESET_ID"] for r in state["requisites"]}
    assert presets == {"3": "3", "4": "2"}


async def test_a_counterparty_marked_for_deletion_stays_in_bitrix24_with_a_comment(stack):
    await stack.post(full_company(version=1))
    await stack.post(full_company(version=2, deleted=True))
    assert await arrived(stack, lambda s: len(s["timeline_comments"]) == 1)
    state = stack.state()
    assert len(companies(state)) == 1
    comment = one(state["timeline_comments"])
    assert "помечен на удаление" in comment["COMMENT"]


async def test_trace_shows_the_event_applied_and_every_bitrix24_object_made_for_the_counterparty(stack, db_pool):
    from bridge.trace import trace

    event = full_company()
    await stack.post(event)
    assert await arrived(stack, lambda s: len(s["bank_details"]) == 2 and len(s["contacts"]) == 2)
    found = await wait_for(lambda: _applied_trace(db_pool, stack, CP_ID), timeout=30)
    assert [e["event_id"] for e in found.events] == [event["event_id"]]
    assert found.events[0]["applied_by"] == ["counterparty"] and found.events[0]["published_at"] is not None
    kinds = sorted((link["onec_type"], link["b24_type"]) for link in found.links)
    assert kinds == [("bank_account", "bankdetail"), ("bank_account", "bankdetail"),
                     ("counterparty", "company"), ("counterparty", "requisite")]
    by_event = await trace(db_pool, event["event_id"])
    assert by_event.events == found.events


async def _applied_trace(pool, stack, ident):
    from bridge.trace import trace

    result = await trace(pool, ident)
    if not result.events or not result.events[0]["applied_by"]:
        return None
    # the outcome row is written up to outcomes.RECORD_LINGER after the inbox row: wait for it, or a second
    # trace read a moment later sees one more outcome than this one
    return result if any(o["outcome"] == "applied" for o in result.events[0].get("outcomes", [])) else None
