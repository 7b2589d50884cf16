"""A dead letter's whole life against the sandbox portal: the consumer dead-letters an event the portal
refused, the sink keeps it in PostgreSQL, an operator replays it after the fix, and it is applied once."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from bridge.cli import main
from tests.e2e.test_counterparty import companies, full_company
from tests.helpers import wait_for


def dlq(stack, *args: str):
    env = {k: v for k, v in stack.env.items() if k.startswith("BRIDGE_")}
    return CliRunner().invoke(main, ["dlq", *args], env=env)


async def open_rows(pool) -> list[dict]:
    return [dict(r) for r in await pool.fetch(
        "SELECT * FROM dead_letters WHERE replayed_at IS NULL AND purged_at IS NULL ORDER BY id")]


async def test_a_replayed_dead_letter_is_applied_once_and_a_second_replay_does_nothing(stack, db_pool):
    stack.portal.sandbox.faults.add_error("ERROR_CORE", method="crm.company.add", count=1, nested=True, status=400,
                                          description="Bad e-mail (refused once)")
    company = full_company()
    assert (await stack.post(company)).json()["results"][0]["status"] == "accepted"

    (row,) = await wait_for(lambda: open_rows(db_pool), timeout=60)
    assert (row["event_id"], row["reason"], row["consumer"]) == (company["event_id"], "b24_rejected", "counterparty")
    assert "Bad e-mail" in row["error"]
    assert companies(stack.state()) == []

    first = await asyncio.to_thread(dlq, stack, "replay", "--event-id", company["event_id"],
                                    "--reason", "portal fixed", "--by", "ops")
    assert first.exit_code == 0 and "replayed 1 dead letter" in first.output
    made = await wait_for(lambda: _one_company(stack), timeout=60)
    assert made["TITLE"] == company["payload"]["name"]

    second = await asyncio.to_thread(dlq, stack, "replay", "--event-id", company["event_id"], "--reason", "again")
    assert second.exit_code == 0 and "replayed 0 dead letter" in second.output
    await asyncio.sleep(2)  # time enough for a second apply, were one queued
    assert len(companies(stack.state())) == 1
    assert await open_rows(db_pool) == []
    replayed = await db_pool.fetchrow("SELECT replayed_by, replay_reason FROM dead_letters")
    assert dict(replayed) == {"replayed_by": "ops", "replay_reason": "portal fixed"}
    applied = await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1::uuid", company["event_id"])
    assert applied == 1


async def _one_company(stack):
    found = companies(stack.state())
    return found[0] if len(found) == 1 else None
