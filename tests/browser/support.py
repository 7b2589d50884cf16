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
