"""The sandbox board in a real browser (issue 9.7): what a sales manager sees on ``/_sandbox/``.

Each test starts a sandbox on a free port, fills it through the REST API as the bridge would, opens the
board in headless chromium and checks what is on the screen.
"""

from __future__ import annotations

import time

import httpx
import pytest

from b24_sandbox import SandboxConfig, serve_in_thread
from tests.browser.support import page_until


class Portal:
    def __init__(self, srv, client: httpx.Client) -> None:
        self.srv, self.http = srv, client

    def call(self, method: str, **params):
        reply = self.http.post(self.srv.webhook_url + method, json=params)
        assert reply.status_code == 200, reply.text
        return reply.json()["result"]

    def board(self, refresh: int = 5) -> str:
        return f"{self.srv.base_url}/_sandbox/?refresh={refresh}"


@pytest.fixture
def portal():
    with serve_in_thread(SandboxConfig(rate=0), port=0) as srv, httpx.Client(timeout=10) as client:
        yield Portal(srv, client)



def bridge_setup(portal: Portal) -> tuple[int, dict[str, str]]:
    """What `portal setup` does: the organisation's funnel and the bridge's stages in it, between the
    stock in-progress stages and the final ones."""
    funnel = portal.call("crm.category.add", entityTypeId=2, fields={"name": "ООО Торговый дом"})["category"]["id"]
    stages = {}
    for key, name, sort in (("ORDER", "Заказ из 1С", 51), ("PAID", "Оплачен", 52), ("SHIPPED", "Отгружен", 53)):
        portal.call("crm.status.add", fields={"ENTITY_ID": f"DEAL_STAGE_{funnel}", "STATUS_ID": key, "NAME": name,
                                              "SORT": sort})
        stages[key] = f"C{funnel}:{key}"
    return funnel, stages


def test_the_bridges_funnel_and_stages_are_what_the_board_opens_on(browser, by, portal):
    portal.call("crm.category.add", entityTypeId=2, fields={"name": "Пустая воронка", "sort": 10})
    portal.call("crm.deal.add", fields={"TITLE": "Ручная сделка"})  # a manager's deal in the default funnel
    funnel, stages = bridge_setup(portal)
    company = portal.call("crm.company.add", fields={"TITLE": "ООО Ромашка"})
    portal.call("crm.deal.add", fields={"TITLE": "Заказ ТД000123", "CATEGORY_ID": funnel, "STAGE_ID": stages["PAID"],
                                        "COMPANY_ID": company, "ORIGINATOR_ID": "1C_UT", "ORIGIN_ID": "o-123",
                                        "OPPORTUNITY": 15000})
    browser.get(portal.board())
    funnels = [h.text for h in browser.find_elements(by.CSS_SELECTOR, "h2.funnel")]
    assert funnels[0].startswith("Воронка «ООО Торговый дом»")
    assert funnels[1].startswith("Воронка «Общая»") and funnels[2].startswith("Воронка «Пустая воронка»")
    board = browser.find_element(by.CSS_SELECTOR, f".board[data-funnel='{funnel}']")
    columns = [c.get_attribute("data-stage") for c in board.find_elements(by.CSS_SELECTOR, ".col[data-stage]")]
    assert columns[:3] == [stages["ORDER"], stages["PAID"], stages["SHIPPED"]]
    assert f"C{funnel}:NEW" not in columns  # empty stock stages are folded into one narrow column at the end
    assert "Пустые стандартные стадии" in board.text
    card = board.find_element(by.CSS_SELECTOR, ".card")
    rect = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", card)
    width, height = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    assert 0 <= rect["left"] and rect["right"] <= width and rect["bottom"] <= height  # on screen as it opens


def test_every_card_names_its_client(browser, by, portal):
    company = portal.call("crm.company.add", fields={"TITLE": "ООО Гвозди"})
    contact = portal.call("crm.contact.add", fields={"NAME": "Анна", "LAST_NAME": "Смирнова"})
    portal.call("crm.deal.add", fields={"TITLE": "Сделка с компанией", "COMPANY_ID": company, "CONTACT_ID": contact})
    portal.call("crm.deal.add", fields={"TITLE": "Сделка с человеком", "CONTACT_IDS": [contact]})
    portal.call("crm.deal.add", fields={"TITLE": "Сделка ни с кем"})
    browser.get(portal.board())
    clients = {c.find_element(by.CSS_SELECTOR, ".t").text: c.find_element(by.CSS_SELECTOR, ".client").text
               for c in browser.find_elements(by.CSS_SELECTOR, ".card")}
    assert clients == {"Сделка с компанией": "ООО Гвозди", "Сделка с человеком": "Анна Смирнова",
                       "Сделка ни с кем": "клиент не указан"}


def test_a_compact_card_opens_its_details_on_click(browser, by, portal):
    portal.call("crm.deal.userfield.add", fields={"FIELD_NAME": "INVOICE", "USER_TYPE_ID": "string",
                                                  "LABEL": "Номер счёта"})
    deal = portal.call("crm.deal.add", fields={"TITLE": "Заказ №7", "ORIGINATOR_ID": "1C_UT", "ORIGIN_ID": "o-7",
                                               "UF_CRM_INVOICE": "СЧ-7"})
    portal.call("crm.deal.productrows.set", id=deal, rows=[{"PRODUCT_NAME": "Гвоздь 100 мм", "PRICE": 5,
                                                            "QUANTITY": 40}])
    browser.get(portal.board())
    card = browser.find_element(by.CSS_SELECTOR, f".card[data-deal='{deal}']")
    details = card.find_element(by.CSS_SELECTOR, ".details")
    assert not details.is_displayed() and card.size["height"] < 110  # compact: title, client, amount
    card.click()
    assert details.is_displayed()
    for text in ("Номер счёта", "СЧ-7", "Гвоздь 100 мм", "1C_UT / o-7", "Новая"):
        assert text in details.text
    card.find_element(by.CSS_SELECTOR, ".t").click()
    assert not details.is_displayed()


def test_notifications_render_their_bbcode_and_nothing_else(browser, by, portal):
    deal = portal.call("crm.deal.add", fields={"TITLE": "Заказ №9"})
    portal.call("im.notify.system.add", USER_ID=1, MESSAGE=(
        f"[B]Оплачен заказ №9[/B][BR]Сумма: 1 200 ₽ [URL=/crm/deal/details/{deal}/]Открыть сделку[/URL]"
        "[BR]<img src=x onerror=\"window.pwned=1\"> [URL=javascript:window.pwned=2]ссылка[/URL]"))
    browser.get(portal.board())
    message = browser.find_element(by.CSS_SELECTOR, "#notifications .message")
    assert message.find_element(by.TAG_NAME, "b").text == "Оплачен заказ №9"
    assert "[B]" not in message.text and "[URL" not in message.text and "[BR]" not in message.text
    assert len(message.find_elements(by.TAG_NAME, "br")) == 2
    assert '<img src=x onerror="window.pwned=1">' in message.text  # shown as text, not run
    assert browser.execute_script("return window.pwned") is None
    assert [a.text for a in message.find_elements(by.TAG_NAME, "a")] == ["Открыть сделку"]
    message.find_element(by.LINK_TEXT, "Открыть сделку").click()
    card = browser.find_element(by.ID, f"deal-{deal}")
    page_until(lambda: "open" in card.get_attribute("class"))  # the portal's deal link opens the deal's card


def test_an_update_keeps_the_scroll_position_and_open_cards(browser, by, portal):
    for i in range(30):
        company = portal.call("crm.company.add", fields={"TITLE": f"ООО Клиент {i}"})
        portal.call("crm.deal.add", fields={"TITLE": f"Сделка {i}", "COMPANY_ID": company,
                                            "STAGE_ID": ["NEW", "EXECUTING", "WON"][i % 3]})
    browser.get(portal.board(refresh=1))
    browser.execute_script("window.notReloaded = true")
    board = browser.find_element(by.CSS_SELECTOR, ".board[data-funnel='0']")
    browser.execute_script("arguments[0].scrollLeft = 300; window.scrollTo(0, 500)", board)
    first = browser.find_element(by.CSS_SELECTOR, ".card[data-deal='2']")
    browser.execute_script("arguments[0].classList.add('open')", first)
    before = browser.execute_script("return [window.scrollY, arguments[0].scrollLeft]", board)
    assert before[0] >= 400 and before[1] > 0  # (opening a card above may shift the page a little)
    new = portal.call("crm.deal.add", fields={"TITLE": "Новая сделка из 1С", "STAGE_ID": "EXECUTING"})
    page_until(lambda: browser.find_elements(by.CSS_SELECTOR, f".card[data-deal='{new}']"))
    board = browser.find_element(by.CSS_SELECTOR, ".board[data-funnel='0']")
    assert browser.execute_script("return [window.scrollY, arguments[0].scrollLeft]", board) == before
    assert browser.execute_script("return window.notReloaded") is True  # updated in place, not reloaded
    assert "open" in browser.find_element(by.CSS_SELECTOR, ".card[data-deal='2']").get_attribute("class")
    updates = int(browser.find_element(by.TAG_NAME, "body").get_attribute("data-updates"))
    time.sleep(2.5)  # nothing changed since: no more swaps
    assert int(browser.find_element(by.TAG_NAME, "body").get_attribute("data-updates")) == updates
