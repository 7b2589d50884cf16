"""What the browser tests share besides the fixtures in conftest.py."""

from __future__ import annotations

import time


def page_until(condition, timeout: float = 15.0):
    """Poll ``condition`` (a synchronous look at the page) until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("the page did not get there in time")
        time.sleep(0.1)


def click_and_load(browser, by, element) -> None:
    """Click something that sends a form or follows a link, and wait until the next page has loaded.

    The old page's ``readyState`` is already "complete", so waiting on it alone can return before the
    browser has left the page; the old ``<html>`` going stale is what says the new page replaced it.
    While the document is being swapped, chromedriver can answer a look at the old node with an
    "unhandled inspector error" (the node no longer belongs to the document) instead of "stale": that
    says the same, so it counts as gone; any other error is the test's to see.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    old = browser.find_element(by.TAG_NAME, "html")
    element.click()

    def swapping(exc: WebDriverException) -> bool:
        return isinstance(exc, StaleElementReferenceException) or "inspector error" in str(exc.msg)

    def replaced() -> bool:
        try:
            old.tag_name
            return False
        except WebDriverException as exc:
            if not swapping(exc):
                raise
        try:
            return browser.execute_script("return document.readyState") == "complete"
        except WebDriverException as exc:  # the new document's context may not be there yet
            if not swapping(exc):
                raise
            return False

    page_until(replaced)
