"""Contact ↔ company and deal ↔ contact link writes from every side (reference §4.2, EN crm/*/company|contact/*.md)."""

from __future__ import annotations

OWNER_INVALID = {"error": "", "error_description": "The parameter 'ownerEntityID' is invalid or not defined."}


def _companies_of(portal, contact_id):
    return [(r["COMPANY_ID"], r["IS_PRIMARY"]) for r in portal.result("crm.contact.company.items.get", id=contact_id)]


def _contacts_of(portal, company_id):
    return [(r["CONTACT_ID"], r["IS_PRIMARY"]) for r in portal.result("crm.company.contact.items.get", id=company_id)]


def test_a_link_added_from_the_company_side_is_seen_from_the_contact_side(portal):
    company, other = portal.company(), portal.company(TITLE="ООО Лютик")
    contact = portal.contact()
    assert portal.result("crm.contact.company.add", id=contact, fields={"COMPANY_ID": other}) is True
    assert portal.result("crm.company.contact.add", id=company, fields={"CONTACT_ID": contact, "SORT": 5}) is True
    assert portal.result("crm.company.contact.add", id=company, fields={"CONTACT_ID": contact}) is False
    assert _companies_of(portal, contact) == [(company, "N"), (other, "Y")]
    assert _contacts_of(portal, company) == [(contact, "N")]
    assert portal.result("crm.company.contact.delete", id=company, fields={"CONTACT_ID": contact}) is True
    assert portal.result("crm.company.contact.delete", id=company, fields={"CONTACT_ID": contact}) is False
    assert _companies_of(portal, contact) == [(other, "Y")]


def test_company_contact_items_set_and_delete_replace_the_companys_contacts(portal):
    company = portal.company()
    first, second, kept = portal.contact(), portal.contact(NAME="Пётр"), portal.contact(NAME="Анна")
    portal.result("crm.company.contact.add", id=company, fields={"CONTACT_ID": kept})
    assert portal.result("crm.company.contact.items.set", id=company, items=[
        {"CONTACT_ID": first}, {"CONTACT_ID": second, "SORT": 50}, {"CONTACT_ID": 999}]) is True
    assert [c for c, _ in _contacts_of(portal, company)] == [first, second]
    assert _companies_of(portal, kept) == []
    assert portal.result("crm.contact.get", id=first)["COMPANY_ID"] == str(company)
    assert portal.result("crm.company.contact.items.delete", id=company) is True
    assert _contacts_of(portal, company) == [] and portal.result("crm.contact.get", id=first)["COMPANY_ID"] is None


def test_contact_company_items_delete_cuts_every_link(portal):
    contact = portal.contact()
    portal.result("crm.contact.company.items.set", id=contact, items=[{"COMPANY_ID": portal.company()},
                                                                      {"COMPANY_ID": portal.company()}])
    assert portal.result("crm.contact.company.items.delete", id=contact) is True
    assert _companies_of(portal, contact) == [] and portal.result("crm.contact.get", id=contact)["COMPANY_ID"] is None


def test_company_link_errors(portal):
    company = portal.company()
    assert portal.error("crm.company.contact.add", id=0, fields={"CONTACT_ID": 1}) == (400, OWNER_INVALID)
    assert portal.error("crm.company.contact.add", id=999, fields={"CONTACT_ID": 1}) == (
        400, {"error": "", "error_description": "Not found"})
    assert portal.error("crm.company.contact.add", id=company, fields={}) == (
        400, {"error": "", "error_description": "The parameter 'fields' is not valid."})
    assert portal.error("crm.company.contact.items.delete") == (400, OWNER_INVALID)


def test_deal_contacts_add_delete_and_items_agree_with_the_deal(portal):
    """EN crm-deal-contact-add.md: the first link is primary; IS_PRIMARY=Y takes over; SORT max+10; a second add
    of the same contact → false; delete of the primary makes the next one primary; CONTACT_ID follows."""
    first, second, third = portal.contact(), portal.contact(NAME="Пётр"), portal.contact(NAME="Анна")
    deal = portal.result("crm.deal.add", fields={"CONTACT_IDS": [first]})
    assert portal.result("crm.deal.contact.add", id=deal, fields={"CONTACT_ID": second}) is True
    assert portal.result("crm.deal.contact.add", id=deal, fields={"CONTACT_ID": second}) is False
    assert portal.result("crm.deal.contact.add", id=deal, fields={"CONTACT_ID": third, "IS_PRIMARY": "Y"}) is True
    assert portal.result("crm.deal.contact.items.get", id=deal) == [
        {"CONTACT_ID": first, "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "N"},
        {"CONTACT_ID": second, "SORT": 20, "ROLE_ID": 0, "IS_PRIMARY": "N"},
        {"CONTACT_ID": third, "SORT": 30, "ROLE_ID": 0, "IS_PRIMARY": "Y"}]
    assert portal.result("crm.deal.get", id=deal)["CONTACT_ID"] == str(third)
    assert portal.result("crm.deal.contact.delete", id=deal, fields={"CONTACT_ID": third}) is True
    assert portal.result("crm.deal.contact.delete", id=deal, fields={"CONTACT_ID": third}) is False
    assert portal.result("crm.deal.get", id=deal)["CONTACT_ID"] == str(first)


def test_deal_contact_items_set_replaces_all_and_items_delete_clears(portal):
    first, second = portal.contact(), portal.contact(NAME="Пётр")
    deal = portal.result("crm.deal.add", fields={"CONTACT_ID": first})
    assert portal.result("crm.deal.contact.items.set", id=deal, items=[
        {"CONTACT_ID": first, "SORT": 200}, {"CONTACT_ID": second, "SORT": 100, "IS_PRIMARY": "Y"}]) is True
    assert [(r["CONTACT_ID"], r["SORT"], r["IS_PRIMARY"]) for r in portal.result("crm.deal.contact.items.get", id=deal)] \
        == [(second, 100, "Y"), (first, 200, "N")]
    assert portal.result("crm.deal.get", id=deal)["CONTACT_ID"] == str(second)
    assert portal.result("crm.deal.contact.items.delete", id=deal) is True
    assert portal.result("crm.deal.contact.items.get", id=deal) == []
    assert portal.result("crm.deal.get", id=deal)["CONTACT_ID"] is None


def test_deal_contact_errors_as_the_docs_give_them(portal):
    deal = portal.result("crm.deal.add", fields={})
    assert portal.error("crm.deal.contact.items.get", id=0) == (400, OWNER_INVALID)
    assert portal.error("crm.deal.contact.add", id=999, fields={"CONTACT_ID": 1}) == (
        400, {"error": "", "error_description": "Not found."})
    assert portal.error("crm.deal.contact.items.delete", id=999) == (
        400, {"error": "", "error_description": "Not found"})
    assert portal.error("crm.deal.contact.add", id=deal, fields="x") == (
        400, {"error": "", "error_description": "The parameter 'fields' must be array."})
    assert portal.error("crm.deal.contact.delete", id=deal, fields={"CONTACT_ID": 0}) == (
        400, {"error": "", "error_description": "The parameter 'fields' is not valid."})
    assert portal.error("crm.deal.contact.items.set", id=deal, items="x") == (
        400, {"error": "", "error_description": "The parameter 'items' must be array."})
