"""A real browser for the board's tests: Debian's chromium driven by selenium through chromium-driver.

Headless, offline (no Selenium Manager downloads, no Google services), a fresh profile per session.
Without chromium, chromium-driver or selenium the tests skip with the install line — or fail, when
``BRIDGE_TEST_REQUIRE_TOOLS=1`` (as in CI, where ``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

INSTALL = "apt-get install -y chromium chromium-driver, and pip install -e '.[dev]' for selenium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=ru")


def _missing(what: str) -> None:
    message = f"{what}; install with: {INSTALL}"
    if os.environ.get("BRIDGE_TEST_REQUIRE_TOOLS", "") not in ("", "0", "false", "no"):
        pytest.fail(f"{message} (BRIDGE_TEST_REQUIRE_TOOLS=1, so this is a failure, not a skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None:
        _missing("chromium is not installed")
    if driver_path is None:
        _missing("chromium-driver (chromedriver) is not installed")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a browser or driver
    profile = tempfile.mkdtemp(prefix="board-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def by(browser):
    """selenium's locator kinds (``by.CSS_SELECTOR``…), imported once the browser is known to be there."""
    from selenium.webdriver.common.by import By

    return By
