"""crm.duplicate.findbycomm: ids by phone or e-mail, normalised as the portal's duplicate index files them."""

from __future__ import annotations


def test_phones_match_whatever_their_formatting_and_extension(portal):
    contact = portal.contact(PHONE=[{"VALUE": "8 (999) 123-45-67", "VALUE_TYPE": "WORK"}])
    company = portal.company(PHONE=[{"VALUE": "+7 999 123 45 67 #101", "VALUE_TYPE": "WORK"}])
    portal.contact(PHONE=[{"VALUE": "+7 999 000 00 00", "VALUE_TYPE": "WORK"}])
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=["79991234567"]) == {
        "CONTACT": [contact], "COMPANY": [company]}
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=["+7(999)1234567"],
                         entity_type="COMPANY") == {"COMPANY": [company]}


def test_emails_match_without_case_and_nothing_found_is_an_empty_list(portal):
    contact = portal.contact(EMAIL=[{"VALUE": "Ivan.Petrov@Example.RU", "VALUE_TYPE": "WORK"}])
    assert portal.result("crm.duplicate.findbycomm", type="EMAIL", values=[" ivan.petrov@example.ru"],
                         entity_type="CONTACT") == {"CONTACT": [contact]}
    assert portal.result("crm.duplicate.findbycomm", type="EMAIL", values=["nobody@example.ru"]) == []


def test_the_reply_follows_edits_and_deletes(portal):
    contact = portal.contact(PHONE=[{"VALUE": "+7 495 111-22-33", "VALUE_TYPE": "WORK"}])
    item = portal.result("crm.contact.get", id=contact)["PHONE"][0]
    portal.result("crm.contact.update", id=contact, fields={"PHONE": [{"ID": item["ID"], "VALUE": "+7 495 999-88-77"}]})
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=["74951112233"]) == []
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=["84959998877"]) == {"CONTACT": [contact]}
    portal.result("crm.contact.delete", id=contact)
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=["84959998877"]) == []


def test_twenty_values_at_most_and_twenty_records_per_value(portal):
    many = [portal.contact(PHONE=[{"VALUE": "+7 900 000 00 01", "VALUE_TYPE": "WORK"}]) for _ in range(22)]
    company = portal.company(PHONE=[{"VALUE": "+7 900 000 00 01", "VALUE_TYPE": "WORK"}])
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=["79000000001"]) == {"CONTACT": many[:20]}
    assert company  # hidden: the value's twenty hits were all contacts
    numbers = [f"+7 901 000 00 {i:02d}" for i in range(21)]
    last = portal.contact(PHONE=[{"VALUE": numbers[20], "VALUE_TYPE": "WORK"}])
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=numbers) == []  # the 21st is not read
    assert portal.result("crm.duplicate.findbycomm", type="PHONE", values=numbers[20:]) == {"CONTACT": [last]}


def test_errors_are_the_portals(portal):
    assert portal.error("crm.duplicate.findbycomm", values=["1"]) == (
        400, {"error": "", "error_description": "Communication type is not defined."})
    assert portal.error("crm.duplicate.findbycomm", type="FAX", values=["1"]) == (
        400, {"error": "", "error_description": "Communication type 'FAX' is not supported in current context."})
    assert portal.error("crm.duplicate.findbycomm", type="PHONE", values=[]) == (
        400, {"error": "", "error_description": "Communication values is not defined."})
    assert portal.error("crm.duplicate.findbycomm", type="PHONE", values=["1"], entity_type="DEAL") == (
        400, {"error": "", "error_description": "Deal is not supported in current context."})


def test_a_full_portal_answers_through_the_index(portal):
    for i in range(300):
        portal.sandbox.call("crm.contact.add", {"fields": {"NAME": f"К{i}", "PHONE": [
            {"VALUE": f"+7 902 000 {i:04d}", "VALUE_TYPE": "WORK"}]}})
    portal.sandbox.store.scanned.clear()
    found = portal.result("crm.duplicate.findbycomm", type="PHONE", values=["+79020000123"], entity_type="CONTACT")
    assert len(found["CONTACT"]) == 1 and sum(portal.sandbox.store.scanned.values()) == 1
