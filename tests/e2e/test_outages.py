"""Outages on either side delay events; they never lose or duplicate one."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid

import pytest

from tests.e2e.conftest import running_stack
from tests.e2e.test_counterparty import full_company
from tests.helpers import consumed, wait_for


def companies_named(state) -> list[str]:
    return sorted(c["TITLE"] for c in state["companies"])


def many(n: int, prefix: str) -> list[dict]:
    events = []
    for i in range(n):
        e = full_company(name=f"{prefix} {i:02d}", contact_persons=[])
        e["entity_id"] = str(uuid.uuid4())
        events.append(e)
    return events


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


@pytest.mark.broker_restart
@pytest.mark.slow
async def test_events_ingested_while_rabbitmq_is_stopped_all_arrive_after_it_starts(stack, rabbit):
    if not rabbit.local:
        pytest.skip("needs a local RabbitMQ node that rabbitmqctl controls")
    await stack.post(many(3, "До остановки"))
    assert await wait_for(lambda: _async(len(stack.state()["companies"]) == 3), timeout=60)
    rabbitmqctl("stop_app")
    try:
        during = many(10, "Во время остановки")
        for i in range(0, 10, 5):
            response = await stack.post(during[i:i + 5])
            assert {r["status"] for r in response.json()["results"]} == {"accepted"}
            await asyncio.sleep(0.5)
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup", "--timeout", "60")
    expected = sorted([f"До остановки {i:02d}" for i in range(3)] + [e["payload"]["name"] for e in during])
    assert await wait_for(lambda: _async(companies_named(stack.state()) == expected), timeout=120), \
        companies_named(stack.state())
    await asyncio.sleep(1)
    assert companies_named(stack.state()) == expected


async def test_a_portal_answering_query_limit_exceeded_for_a_while_still_gets_everything(db_url, amqp_url):
    # a portal far stricter than the client believes
    async with running_stack(db_url, amqp_url, portal_config={"rate": 2, "burst": 5}, b24_rate_per_second=50,
                             b24_rate_burst=500) as stack:
        portal = stack.portal
        events = many(12, "Лимит")
        await stack.post(events)
        expected = sorted(e["payload"]["name"] for e in events)
        assert await wait_for(lambda: _async(len(portal.sandbox.state()["bank_details"]) == 24), timeout=180)
        stats = portal.sandbox.stats()
        assert stats["rate_limited"] > 0, stats  # the portal did refuse requests on the way
        assert companies_named(portal.sandbox.state()) == expected


async def _async(value):
    return value


def applied(consumer: str) -> float:
    """The consumer's own count of applied events (the bridge runs in this process)."""
    return consumed(consumer, "applied")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["drop", "502"])
async def test_after_a_10s_portal_outage_at_prefetch_32_the_consumer_resumes_within_5s(db_url, amqp_url, mode):
    async with running_stack(db_url, amqp_url, consumer_prefetch=32) as stack:
        faults = stack.portal.sandbox.faults
        events = many(120, f"Перерыв {mode}")
        await stack.post(events)
        # the outage starts while the consumer is busy: messages fail mid-way and queue up behind them
        assert await wait_for(lambda: _async(len(stack.state()["companies"]) >= 3), timeout=60, interval=0.02)
        faults.outage(mode=mode)  # until cleared
        await asyncio.sleep(10)
        before = applied("counterparty")
        assert len(stack.state()["companies"]) < len(events)  # the outage did hold events back
        faults.clear()
        returned = time.monotonic()
        assert await wait_for(lambda: _async(applied("counterparty") > before), timeout=120, interval=0.02)
        gap = time.monotonic() - returned
        print(f"\nportal back ({mode}); first event applied {gap:.2f} s later")
        expected = sorted(e["payload"]["name"] for e in events)
        assert await wait_for(lambda: _async(companies_named(stack.state()) == expected), timeout=180), \
            len(stack.state()["companies"])
        assert gap <= 5.0, f"the consumer resumed {gap:.1f} s after the portal came back"
