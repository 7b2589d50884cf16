"""A consumer killed after Bitrix24 performed a call and before the bridge committed, then restarted,
makes no duplicate of anything."""

from __future__ import annotations

import os
import signal

import pytest

from tests.e2e.test_counterparty import full_company
from tests.helpers import wait_for


def counts(state) -> dict[str, int]:
    return {k: len(state[k]) for k in ("companies", "contacts", "requisites", "bank_details", "addresses",
                                        "contact_company")}


EXPECTED = {"companies": 1, "contacts": 2, "requisites": 3, "bank_details": 2, "addresses": 4, "contact_company": 2}


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", ["crm.company.add", "crm.requisite.add", "crm.address.add",
                                        "crm.requisite.bankdetail.add", "crm.contact.add",
                                        "crm.contact.company.add"])
async def test_killed_between_the_bitrix24_call_and_the_commit_no_duplicates(bare_stack, kill_after):
    consumer = bare_stack.spawn("consume")
    killed = []

    def kill_once(call):
        if call.method == kill_after and call.ok and not killed:
            killed.append(call.method)
            os.kill(consumer.pid, signal.SIGKILL)  # Bitrix24 has done it; the bridge never hears back

    remove = bare_stack.portal.sandbox.on_call(kill_once)
    try:
        await bare_stack.post(full_company())
        assert await wait_for(lambda: _async(bool(killed)), timeout=60), "the consumer never reached " + kill_after
        consumer.wait(timeout=10)
    finally:
        remove()
    bare_stack.spawn("consume")  # restarted: RabbitMQ redelivers the unacknowledged event
    assert await wait_for(lambda: _async(counts(bare_stack.state()) == EXPECTED), timeout=60), counts(bare_stack.state())
    await _quiet(bare_stack)
    assert counts(bare_stack.state()) == EXPECTED


async def _async(value):
    return value


async def _quiet(stack, seconds: float = 1.5):
    """Give a straggling duplicate the chance to show up before the final count."""
    import asyncio

    await asyncio.sleep(seconds)
