"""Users, notifications and timeline comments."""

from __future__ import annotations

from .conftest import real_reply


def test_user_get_filters_by_id_and_email(portal):
    users = portal.result("user.get")
    assert len(users) >= 3 and users[0]["ID"] == "1" and users[0]["ACTIVE"] is True
    email = users[1]["EMAIL"]
    assert [u["ID"] for u in portal.result("user.get", filter={"EMAIL": email})] == ["2"]
    assert [u["ID"] for u in portal.result("user.get", ID=3)] == ["3"]


def test_notification_returns_an_int_and_tag_replaces_older_ones(portal):
    first = portal.result("im.notify.system.add", USER_ID=2, MESSAGE="Счёт оплачен", TAG="deal-1-paid")
    second = portal.result("im.notify.system.add", USER_ID=2, MESSAGE="Счёт оплачен (уточнено)", TAG="deal-1-paid")
    other = portal.result("im.notify.system.add", USER_ID=2, MESSAGE="Другое")
    assert isinstance(first, int) and second != first
    messages = [n["MESSAGE"] for n in portal.sandbox.state()["notifications"]]
    assert messages == ["Счёт оплачен (уточнено)", "Другое"] and other > second


def test_notification_errors(portal):
    assert portal.error("im.notify.system.add", MESSAGE="x")[1]["error"] == "USER_ID_EMPTY"
    assert portal.error("im.notify.system.add", USER_ID=2, MESSAGE="  ")[1]["error"] == "MESSAGE_EMPTY"


def test_timeline_comment_accepts_only_lower_case_fields(portal):
    deal_id = portal.result("crm.deal.add", fields={})
    comment_id = portal.result("crm.timeline.comment.add", fields={"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal",
                                                                   "COMMENT": "Оплата получена"})
    assert isinstance(comment_id, int)
    status, _ = portal.error("crm.timeline.comment.add", FIELDS={"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal",
                                                                 "COMMENT": "x"})
    assert status == 400
    assert portal.error("crm.timeline.comment.add", fields={"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal",
                                                            "COMMENT": ""})[1]["error"] == "INVALID_ARG_VALUE"
    assert portal.error("crm.timeline.comment.add", fields={"ENTITY_ID": 999, "ENTITY_TYPE": "deal",
                                                            "COMMENT": "x"})[1]["error"] == "OWNER_NOT_FOUND"


def test_board_page_shows_deals_by_stage_with_card_fields(portal):
    portal.result("crm.deal.userfield.add", fields={"FIELD_NAME": "INVOICE", "USER_TYPE_ID": "string",
                                                    "LABEL": "Номер счёта"})
    company_id = portal.company(TITLE="ООО Гвозди")
    deal_id = portal.result("crm.deal.add", fields={"TITLE": "Заказ №7", "COMPANY_ID": company_id,
                                                    "STAGE_ID": "EXECUTING", "UF_CRM_INVOICE": "СЧ-7"})
    portal.result("crm.deal.productrows.set", id=deal_id, rows=[{"PRODUCT_NAME": "Гвоздь", "PRICE": 5}])
    portal.result("im.notify.system.add", USER_ID=1, MESSAGE="Оплачено: Заказ №7")
    page = portal.http.get(portal.srv.base_url + "/_sandbox/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    column = html.index("В работе")
    assert column < html.index("Заказ №7") < html.index("Финальный счёт")
    for text in ("ООО Гвозди", "Номер счёта", "СЧ-7", "Гвоздь", "Оплачено: Заказ №7"):
        assert text in html


def test_user_fields_is_the_recorded_flat_code_to_label_object(portal):
    """The recorded ``user_fields`` reply: a flat {code: label} object in the portal's words, no total or next."""
    real = real_reply("user_fields")["response"]
    body = portal.call("user.fields").json()
    assert list(body) == ["result", "time"] and "total" not in body
    assert list(body["result"].items()) == list(real["result"].items())
