"""The operator console in a real browser (issue 9.2): login, the dead-letter list, replay and purge from
the page, the trace search.

Each test runs the whole bridge (`b24bridge run` in this process: ingest, relay, consumers and the console
on its own port) against a sandbox portal and drives headless chromium through the pages.  Selenium is
synchronous, so every browser step runs in a thread while the bridge keeps running on the event loop.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.browser.support import click_and_load, page_until
from tests.console.support import PASSWORD, USER, store_dead_letter
from tests.e2e.conftest import running_stack
from tests.e2e.test_counterparty import companies, full_company
from tests.helpers import free_port, wait_for

SCREENSHOTS = os.environ.get("BRIDGE_TEST_SCREENSHOTS")  # a directory: each test leaves its last page there


@pytest.fixture
async def console(db_url, amqp_url):
    port = free_port()
    async with running_stack(db_url, amqp_url, console_users=f"{USER}:{PASSWORD}", console_port=port,
                             console_host="127.0.0.1",
                             console_grafana_url="https://grafana.example/d/onec-b24-bridge") as stack:
        stack.console_url = f"http://127.0.0.1:{port}"
        yield stack


def in_thread(fn, *args):
    return asyncio.to_thread(fn, *args)



def log_in(browser, by, base: str, password: str = PASSWORD, path: str = "/dead-letters") -> None:
    browser.delete_all_cookies()
    browser.get(base + path)
    assert "/login" in browser.current_url  # nothing before logging in
    browser.find_element(by.NAME, "user").send_keys(USER)
    browser.find_element(by.NAME, "password").send_keys(password)
    click_and_load(browser, by, browser.find_element(by.CSS_SELECTOR, "form button"))


def shot(browser, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SCREENSHOTS, f"console-{name}.png")))


async def test_nothing_is_shown_before_login_and_a_wrong_password_is_refused(browser, by, console):
    def steps():
        browser.delete_all_cookies()
        for path in ("/", "/dead-letters", "/trace"):
            browser.get(console.console_url + path)
            assert "/login" in browser.current_url and "Dead letters" not in browser.page_source
        log_in(browser, by, console.console_url, password="not the password")
        assert "/login" in browser.current_url or browser.title.startswith("Log in")
        assert "Wrong user name or password" in browser.find_element(by.CSS_SELECTOR, ".error").text
        assert browser.get_cookies() == []
        log_in(browser, by, console.console_url)
        assert browser.current_url.endswith("/dead-letters")
        assert browser.find_element(by.CSS_SELECTOR, ".who span").text == USER
        shot(browser, "empty-dead-letters")

    await in_thread(steps)


async def test_the_dead_letter_list_shows_a_stored_dead_letter(browser, by, console, db_pool):
    event = await store_dead_letter(db_pool, error="ERROR_CORE: Bad e-mail (from the portal)")

    def steps():
        log_in(browser, by, console.console_url)
        row = browser.find_element(by.CSS_SELECTOR, f"tr[data-event-id='{event['event_id']}']")
        cells = row.text
        assert row.find_element(by.CSS_SELECTOR, "td[title='b24.counterparty.dlq']").text == "counterparty"
        assert "b24_rejected" in cells
        assert "ERROR_CORE: Bad e-mail (from the portal)" in cells and event["entity_id"] in cells
        assert row.find_element(by.CSS_SELECTOR, "td.num").text == "3"  # attempts
        assert row.find_element(by.CSS_SELECTOR, ".pill").text == "open"
        shot(browser, "open-dead-letter")

    await in_thread(steps)


async def test_a_replay_from_the_page_applies_the_event_once_and_records_who_and_why(browser, by, console, db_pool):
    console.portal.sandbox.faults.add_error("ERROR_CORE", method="crm.company.add", count=1, nested=True, status=400,
                                            description="Bad e-mail (refused once)")
    company = full_company()
    assert (await console.post(company)).json()["results"][0]["status"] == "accepted"

    async def dead_letter():
        return await db_pool.fetchrow("SELECT id FROM dead_letters WHERE event_id = $1", company["event_id"])

    assert await wait_for(dead_letter, timeout=60)
    assert companies(console.state()) == []

    def replay():
        log_in(browser, by, console.console_url)
        row = browser.find_element(by.CSS_SELECTOR, f"tr[data-event-id='{company['event_id']}']")
        assert "Bad e-mail (refused once)" in row.text
        row.find_element(by.NAME, "id").click()
        browser.find_element(by.ID, "why").send_keys("portal fixed, ticket OPS-7")
        browser.find_element(by.ID, "replay").click()
        notice = page_until(lambda: browser.find_elements(by.ID, "done"))
        assert notice[0].text.startswith("1 dead letter(s) replayed")

    await in_thread(replay)
    made = await wait_for(lambda: _one_company(console), timeout=60)
    assert made["TITLE"] == company["payload"]["name"]

    def record():
        browser.get(console.console_url + "/dead-letters?state=all")
        row = browser.find_element(by.CSS_SELECTOR, f"tr[data-event-id='{company['event_id']}']")
        assert "replayed" in row.text and f"by {USER}: portal fixed, ticket OPS-7" in row.text
        assert row.find_elements(by.NAME, "id") == []  # no checkbox: it cannot be replayed again
        shot(browser, "replayed")

    await in_thread(record)
    await asyncio.sleep(2)  # time enough for a second apply, were one queued
    assert len(companies(console.state())) == 1
    applied = await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1::uuid", company["event_id"])
    assert applied == 1
    row = await db_pool.fetchrow("SELECT replayed_by, replay_reason FROM dead_letters WHERE event_id = $1",
                                 company["event_id"])
    assert dict(row) == {"replayed_by": USER, "replay_reason": "portal fixed, ticket OPS-7"}


async def test_purge_needs_a_reason_and_records_who(browser, by, console, db_pool):
    event = await store_dead_letter(db_pool)

    def steps():
        log_in(browser, by, console.console_url)
        row = browser.find_element(by.CSS_SELECTOR, f"tr[data-event-id='{event['event_id']}']")
        row.find_element(by.NAME, "id").click()
        browser.find_element(by.ID, "purge").click()  # no reason: the form is not sent
        assert browser.find_element(by.ID, "why").get_attribute("validationMessage")
        assert browser.find_elements(by.ID, "done") == []
        browser.find_element(by.ID, "why").send_keys("duplicate of an applied event")
        browser.find_element(by.ID, "purge").click()
        browser.switch_to.alert.accept()  # "Purge settles … for good"
        page_until(lambda: browser.find_elements(by.ID, "done"))
        assert browser.find_element(by.ID, "done").text.startswith("1 dead letter(s) purged")

    await in_thread(steps)
    row = await db_pool.fetchrow("SELECT purged_by, purge_reason, replayed_at FROM dead_letters")
    assert dict(row) == {"purged_by": USER, "purge_reason": "duplicate of an applied event", "replayed_at": None}


async def test_the_trace_search_finds_an_event_and_the_pipeline_counts_it(browser, by, console, db_pool):
    company = full_company()
    assert (await console.post(company)).json()["results"][0]["status"] == "accepted"
    await wait_for(lambda: _one_company(console), timeout=60)

    async def applied():  # its inbox row: the consumer's last transaction, a moment after the company appears
        return await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1::uuid", company["event_id"])

    assert await wait_for(applied, timeout=30)

    def steps():
        log_in(browser, by, console.console_url, path="/trace")
        box = browser.find_element(by.NAME, "q")
        box.send_keys(company["event_id"])
        box.submit()
        trace = page_until(lambda: browser.find_elements(by.ID, "trace"))[0]
        assert company["event_id"] in trace.text and "counterparty" in trace.text
        sections = [s.get_attribute("data-section") for s in trace.find_elements(by.CSS_SELECTOR, "section")]
        assert "events" in sections and "links" in sections
        shot(browser, "trace")
        browser.find_element(by.LINK_TEXT, "Pipeline").click()
        row = page_until(lambda: browser.find_elements(by.CSS_SELECTOR, "tr[data-entity='counterparty']"))[0]
        assert row.find_element(by.CSS_SELECTOR, "[data-col=ingested]").text == "1"
        assert row.find_element(by.CSS_SELECTOR, "[data-col=applied]").text == "1"
        assert browser.find_element(by.LINK_TEXT, "Grafana ↗").get_attribute("href").startswith("https://grafana.")
        shot(browser, "pipeline")

    await in_thread(steps)


async def _one_company(stack):
    found = companies(stack.state())
    return found[0] if len(found) == 1 else None


async def test_a_parked_counterparty_is_resolved_from_the_review_page(browser, by, console, db_pool):
    sandbox = console.portal.sandbox
    ids = []
    for title in ("Ромашка", "Ромашка (дубль)"):  # typed twice by managers, same ИНН + КПП
        company_id = int(sandbox.call("crm.company.add", {"fields": {"TITLE": title}}).result.value)
        sandbox.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company_id, "PRESET_ID": 1,
                                                      "NAME": title, "RQ_INN": "7707083893", "RQ_KPP": "773601001"}})
        ids.append(company_id)
    company = full_company()
    assert (await console.post(company)).json()["results"][0]["status"] == "accepted"

    async def parked():
        return await db_pool.fetchval("SELECT id FROM review_items WHERE onec_id = $1 AND resolved_at IS NULL",
                                      company["entity_id"])

    item = await wait_for(parked, timeout=60)
    assert item and len(companies(console.state())) == 2  # nothing created while it waits

    def resolve():
        log_in(browser, by, console.console_url, path="/review")
        row = browser.find_element(by.CSS_SELECTOR, f"tr[data-onec-id='{company['entity_id']}']")
        assert "several_candidates" in row.text
        row.find_element(by.LINK_TEXT, str(item)).click()
        page_until(lambda: browser.find_elements(by.ID, "resolve"))
        browser.find_element(by.NAME, "target").send_keys(str(ids[1]))
        browser.find_element(by.NAME, "note").send_keys("the older card is a mistake, OPS-9")
        browser.find_element(by.CSS_SELECTOR, "button[value='adopt']").click()
        notice = page_until(lambda: browser.find_elements(by.ID, "done"))
        assert f"Review item {item} resolved" in notice[0].text
        shot(browser, "review-resolved")

    await in_thread(resolve)

    async def linked():
        return await db_pool.fetchval("SELECT b24_id FROM entity_links WHERE onec_id = $1 AND b24_type = 'company'",
                                      company["entity_id"])

    assert await wait_for(linked, timeout=60) == ids[1]
    assert len(companies(console.state())) == 2  # adopted, not created
