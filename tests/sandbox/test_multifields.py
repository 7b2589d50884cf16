"""PHONE/EMAIL/WEB/IM are updated item by item and never replaced wholesale."""

from __future__ import annotations


def _phones(portal, contact_id):
    return [(p["VALUE"], p["VALUE_TYPE"]) for p in portal.result("crm.contact.get", id=contact_id).get("PHONE", [])]


def test_read_adds_string_id_and_type_id(portal):
    contact_id = portal.contact(PHONE=[{"VALUE": "+79001112233", "VALUE_TYPE": "MOBILE"}])
    phone = portal.result("crm.contact.get", id=contact_id)["PHONE"][0]
    assert phone == {"ID": "1", "VALUE_TYPE": "MOBILE", "VALUE": "+79001112233", "TYPE_ID": "PHONE"}


def test_item_without_id_is_appended(portal):
    contact_id = portal.contact(PHONE=[{"VALUE": "+7 1", "VALUE_TYPE": "WORK"}])
    portal.result("crm.contact.update", id=contact_id, fields={"PHONE": [{"VALUE": "+7 2", "VALUE_TYPE": "HOME"}]})
    assert _phones(portal, contact_id) == [("+7 1", "WORK"), ("+7 2", "HOME")]


def test_item_with_id_and_value_is_edited(portal):
    contact_id = portal.contact(PHONE=[{"VALUE": "+7 1", "VALUE_TYPE": "WORK"}, {"VALUE": "+7 2"}])
    first = portal.result("crm.contact.get", id=contact_id)["PHONE"][0]["ID"]
    portal.result("crm.contact.update", id=contact_id,
                  fields={"PHONE": [{"ID": first, "VALUE": "+7 9", "VALUE_TYPE": "MOBILE"}]})
    assert _phones(portal, contact_id) == [("+7 9", "MOBILE"), ("+7 2", "WORK")]


def test_delete_flag_empty_value_and_bare_id_each_delete(portal):
    contact_id = portal.contact(PHONE=[{"VALUE": f"+7 {n}"} for n in range(4)])
    ids = [p["ID"] for p in portal.result("crm.contact.get", id=contact_id)["PHONE"]]
    portal.result("crm.contact.update", id=contact_id, fields={"PHONE": [
        {"ID": ids[0], "DELETE": "Y"}, {"ID": ids[1], "VALUE": ""}, {"ID": ids[2]}]})
    assert _phones(portal, contact_id) == [("+7 3", "WORK")]


def test_update_without_the_multifield_leaves_it_alone(portal):
    contact_id = portal.contact(EMAIL=[{"VALUE": "a@b.ru", "VALUE_TYPE": "WORK"}])
    portal.result("crm.contact.update", id=contact_id, fields={"POST": "CEO"})
    assert portal.result("crm.contact.get", id=contact_id)["EMAIL"][0]["VALUE"] == "a@b.ru"


def test_form_encoded_update_by_id(portal):
    contact_id = portal.contact(PHONE=[{"VALUE": "+7 1"}])
    phone_id = portal.result("crm.contact.get", id=contact_id)["PHONE"][0]["ID"]
    form = f"id={contact_id}&fields[PHONE][0][ID]={phone_id}&fields[PHONE][0][VALUE]=%2B7+5"
    response = portal.http.post(portal.srv.webhook_url + "crm.contact.update", content=form,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.json()["result"] is True
    assert _phones(portal, contact_id) == [("+7 5", "WORK")]


def test_invalid_email_answers_error_core(portal):
    status, body = portal.error("crm.contact.add", fields={"NAME": "X", "EMAIL": [{"VALUE": "not-an-email"}]})
    assert status == 400 and body["error"] == "ERROR_CORE"
    assert portal.result("crm.contact.list") == []


def test_has_phone_and_has_email_follow_the_items(portal):
    company_id = portal.company(PHONE=[{"VALUE": "+7 1"}])
    company = portal.result("crm.company.get", id=company_id)
    assert company["HAS_PHONE"] == "Y" and company["HAS_EMAIL"] == "N"
    portal.result("crm.company.update", id=company_id, fields={"PHONE": [{"ID": company["PHONE"][0]["ID"]}]})
    assert portal.result("crm.company.get", id=company_id)["HAS_PHONE"] == "N"
