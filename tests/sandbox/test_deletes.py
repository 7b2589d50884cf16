"""Deletes: ``true`` on success, HTTP 400 with the family's wording for a missing id, and what goes with them."""

from __future__ import annotations

import pytest


def _deal(portal, **fields):
    return portal.result("crm.deal.add", fields={"TITLE": "Заказ", **fields})


def _product(portal, name="Кирпич"):
    return portal.result("crm.product.add", fields={"NAME": name, "PRICE": 10})


@pytest.mark.parametrize("method, error, description", [
    ("crm.company.delete", "", "Company is not found"),
    ("crm.contact.delete", "ERROR_CORE", "Element not found"),
    ("crm.deal.delete", "", "Not found"),
    ("crm.requisite.delete", "", "The Requisite with ID '99' is not found"),
    ("crm.requisite.bankdetail.delete", "", "The RequisiteBankDetail with ID '99' is not found"),
    ("crm.product.delete", "", "Not found"),
    ("catalog.product.delete", 0, "product does not exist."),
])
def test_deleting_a_missing_record_answers_400_with_the_familys_wording(portal, method, error, description):
    status, body = portal.error(method, id=99)
    assert status == 400 and body == {"error": error, "error_description": description}


@pytest.mark.parametrize("method", ["crm.company.delete", "crm.contact.delete", "crm.deal.delete",
                                    "crm.requisite.delete", "crm.requisite.bankdetail.delete", "crm.product.delete"])
def test_deleting_without_an_id_answers_id_not_defined(portal, method):
    assert portal.error(method) == (400, {"error": "", "error_description": "ID is not defined or invalid."})


def test_company_delete_takes_requisites_bank_details_addresses_and_links_with_it(portal):
    keep, gone = portal.company(TITLE="Остаётся"), portal.company(TITLE="Удаляется")
    requisite_id = portal.requisite(gone)
    portal.result("crm.requisite.bankdetail.add", fields={"ENTITY_ID": requisite_id, "NAME": "Счёт"})
    portal.result("crm.address.add", fields={"TYPE_ID": 6, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id,
                                             "CITY": "Москва"})
    contact_id = portal.contact(COMPANY_IDS=[gone, keep])
    deal_id = _deal(portal, COMPANY_ID=gone)
    assert portal.result("crm.company.delete", id=gone) is True
    state = portal.sandbox.state()
    assert [c["TITLE"] for c in state["companies"]] == ["Остаётся"]
    assert state["requisites"] == [] and state["bank_details"] == [] and state["addresses"] == []
    assert portal.result("crm.contact.company.items.get", id=contact_id) == [
        {"COMPANY_ID": keep, "SORT": 20, "ROLE_ID": 0, "IS_PRIMARY": "Y"}]
    assert portal.result("crm.contact.get", id=contact_id)["COMPANY_ID"] == str(keep)
    assert portal.result("crm.deal.get", id=deal_id)["COMPANY_ID"] is None
    assert portal.error("crm.company.get", id=gone)[0] == 400


def test_contact_delete_unlinks_it_and_takes_it_off_deals(portal):
    company_id = portal.company()
    first, second = portal.contact(COMPANY_ID=company_id), portal.contact(NAME="Второй")
    deal_id = _deal(portal, CONTACT_IDS=[first, second])
    assert portal.result("crm.contact.delete", id=first) is True
    assert portal.result("crm.company.contact.items.get", id=company_id) == []
    assert portal.result("crm.deal.get", id=deal_id)["CONTACT_ID"] == str(second)
    assert [c["ID"] for c in portal.sandbox.state()["contacts"]] == [str(second)]


def test_requisite_delete_takes_its_bank_details_and_addresses(portal):
    company_id = portal.company()
    kept, gone = portal.requisite(company_id, NAME="Первый"), portal.requisite(company_id, NAME="Второй")
    for requisite_id in (kept, gone):
        portal.result("crm.requisite.bankdetail.add", fields={"ENTITY_ID": requisite_id, "NAME": "Счёт"})
        portal.result("crm.address.add", fields={"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id})
    assert portal.result("crm.requisite.delete", id=gone) is True
    state = portal.sandbox.state()
    assert [b["ENTITY_ID"] for b in state["bank_details"]] == [str(kept)]
    assert [a["ENTITY_ID"] for a in state["addresses"]] == [str(kept)]


def test_bank_detail_delete(portal):
    requisite_id = portal.requisite(portal.company())
    bank_id = portal.result("crm.requisite.bankdetail.add", fields={"ENTITY_ID": requisite_id, "NAME": "Счёт"})
    assert portal.result("crm.requisite.bankdetail.delete", id=bank_id) is True
    assert portal.result("crm.requisite.bankdetail.list") == []


def test_deal_delete_takes_its_product_rows(portal):
    product_id = _product(portal)
    deal_id, other = _deal(portal), _deal(portal)
    for owner in (deal_id, other):
        portal.result("crm.deal.productrows.set", id=owner, rows=[{"PRODUCT_ID": product_id, "PRICE": 10}])
    assert portal.result("crm.deal.delete", id=deal_id) is True
    assert [r["OWNER_ID"] for r in portal.sandbox.state()["product_rows"]] == [str(other)]


@pytest.mark.parametrize("method", ["crm.product.delete", "catalog.product.delete"])
def test_product_delete_takes_its_prices_and_keeps_deal_rows(portal, method):
    product_id = _product(portal)
    deal_id = _deal(portal)
    portal.result("crm.deal.productrows.set", id=deal_id, rows=[{"PRODUCT_ID": product_id, "PRICE": 10}])
    assert portal.result(method, id=product_id) is True
    state = portal.sandbox.state()
    assert state["products"] == [] and state["prices"] == []
    assert portal.result("crm.deal.productrows.get", id=deal_id)[0]["PRODUCT_ID"] == product_id


def test_contact_company_delete_cuts_one_link_and_promotes_the_next(portal):
    a, b = portal.company(TITLE="A"), portal.company(TITLE="B")
    contact_id = portal.contact(COMPANY_IDS=[a, b])
    assert portal.result("crm.contact.company.delete", id=contact_id, fields={"COMPANY_ID": a}) is True
    assert portal.result("crm.contact.company.items.get", id=contact_id) == [
        {"COMPANY_ID": b, "SORT": 20, "ROLE_ID": 0, "IS_PRIMARY": "Y"}]
    assert portal.result("crm.contact.get", id=contact_id)["COMPANY_ID"] == str(b)
    assert portal.result("crm.contact.company.delete", id=contact_id, fields={"COMPANY_ID": a}) is False


def test_contact_company_delete_errors(portal):
    contact_id = portal.contact()
    owner_invalid = {"error": "", "error_description": "The parameter 'ownerEntityID' is invalid or not defined."}
    assert portal.error("crm.contact.company.delete", fields={"COMPANY_ID": 1}) == (400, owner_invalid)
    assert portal.error("crm.contact.company.delete", id=contact_id)[1]["error_description"] == (
        "The parameter 'fields' must be array.")
    assert portal.error("crm.contact.company.delete", id=contact_id, fields={"X": 1})[1]["error_description"] == (
        "The parameter 'fields' is not valid.")
    assert portal.error("crm.contact.company.delete", id=99, fields={"COMPANY_ID": 1})[1]["error_description"] == (
        "Not found")


def test_company_contact_items_get_matches_the_real_reply(portal):
    from .conftest import real_reply, shape

    real = real_reply("crm_company_contact_items_get")["response"]["result"]["result"]["205364"]
    company_id = portal.company()
    first, second = portal.contact(COMPANY_ID=company_id), portal.contact(NAME="Второй")
    portal.result("crm.contact.company.add", id=second, fields={"COMPANY_ID": company_id})
    items = portal.result("crm.company.contact.items.get", id=company_id)
    assert shape(items) == shape(real)
    assert [i["CONTACT_ID"] for i in items] == [first, second]
    assert portal.error("crm.company.contact.items.get", id=0)[1]["error_description"] == (
        "The parameter 'ownerEntityID' is invalid or not defined.")


def test_a_delete_inside_a_batch_reports_true(portal):
    company_id = portal.company()
    body = portal.result("batch", cmd={"d": f"crm.company.delete?id={company_id}", "again": f"crm.company.delete?id={company_id}"})
    assert body["result"] == {"d": True}
    assert body["result_error"] == {"again": {"error": "", "error_description": "Company is not found"}}
