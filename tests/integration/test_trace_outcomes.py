"""Every consumer outcome lands in `event_outcomes` with its time and details, and `trace` reads it back:
real RabbitMQ and PostgreSQL, a scripted handler (our Handler protocol) deciding what happens."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg
import pytest

from bridge import outcomes, topology, wire
from bridge.broker import connector
from bridge.consumer import Consumer, ConsumerConfig, Outcome
from bridge.errors import B24ValidationError, DependencyMissing
from bridge.trace import trace
from tests.contract.samples import event
from tests.helpers import wait_for

TARGET = topology.Target("counterparty", (("counterparty", "counterparty.upserted"),),
                         retry_delays=(1, 1), wait_delays=(1,))


@dataclass
class ScriptedHandler:
    """Each delivery takes the next step: an exception to raise or an Outcome to return (then APPLIED)."""

    script: list = field(default_factory=list)
    name: str = "counterparty"
    target: topology.Target = TARGET
    event_types: frozenset = frozenset({"counterparty.upserted"})

    async def handle(self, event_obj) -> Outcome:
        step = self.script.pop(0) if self.script else Outcome.APPLIED
        if isinstance(step, BaseException):
            raise step
        return step


async def publish(amqp_url: str) -> tuple[str, str]:
    e = event(event_id=str(uuid.uuid4()), entity_id=str(uuid.uuid4()))
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await topology.declare(channel, [TARGET])
        exchange = await channel.get_exchange("onec.counterparty")
        await exchange.publish(aio_pika.Message(json.dumps(e).encode(), message_id=e["event_id"], delivery_mode=2,
                                                headers={wire.H_ENTITY: "counterparty",
                                                         wire.H_ENTITY_ID: e["entity_id"]}),
                               routing_key="counterparty.upserted", mandatory=True)
    return e["event_id"], e["entity_id"]


async def outcomes_of(db_pool, amqp_url, script: list, until: str, **config) -> tuple[str, list[dict]]:
    """Publish one event, consume it with ``script`` until an outcome ``until`` is recorded; the trace's
    outcomes of that event."""
    event_id, _ = await publish(amqp_url)
    stop = asyncio.Event()
    consumer = Consumer(ScriptedHandler(list(script)), connector(amqp_url), ConsumerConfig(prefetch=4, **config),
                        recorder=outcomes.OutcomeRecorder(db_pool))
    task = asyncio.create_task(consumer.run(stop))

    async def recorded():
        found = await trace(db_pool, event_id)
        rows = found.events[0]["outcomes"] if found.events else []
        return rows if any(r["outcome"] == until for r in rows) else None

    try:
        rows = await wait_for(recorded, timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert rows, f"no {until!r} outcome recorded"
    return event_id, rows


@pytest.mark.parametrize("outcome", [Outcome.APPLIED, Outcome.UNCHANGED, Outcome.STALE, Outcome.DUPLICATE])
async def test_a_handled_event_records_its_own_outcome_not_just_applied(db_pool, amqp_url, outcome):
    before = datetime.now(UTC)
    _, rows = await outcomes_of(db_pool, amqp_url, [outcome], outcome.value)
    assert [(r["consumer"], r["outcome"]) for r in rows] == [("counterparty", outcome.value)]
    assert before - timedelta(seconds=1) <= rows[0]["at"] <= datetime.now(UTC)


async def test_a_waiting_event_records_what_it_waits_for_and_since_when_then_applied(db_pool, amqp_url):
    missing = f"counterparty/{uuid.uuid4()}"
    before = datetime.now(UTC)
    _, rows = await outcomes_of(db_pool, amqp_url, [DependencyMissing("not in Bitrix24 yet", missing=[missing])],
                                "applied", wait_in_hand=0)  # a look again in hand is not a wait to trace
    assert [r["outcome"] for r in rows] == ["waiting", "applied"]
    waiting = rows[0]
    assert waiting["missing"] == [missing] and "not in Bitrix24 yet" in waiting["error"]
    assert before - timedelta(seconds=1) <= waiting["waiting_since"] <= rows[1]["at"]


async def test_a_retried_event_records_its_tier_and_last_error(db_pool, amqp_url):
    _, rows = await outcomes_of(db_pool, amqp_url, [RuntimeError("disk on fire"), RuntimeError("still burning")],
                                "applied")
    assert [(r["outcome"], r["retry_tier"]) for r in rows] == [("retry", 1), ("retry", 2), ("applied", None)]
    assert "still burning" in rows[1]["error"] and rows[1]["reason"]


async def test_a_dead_lettered_event_records_its_reason_and_the_portals_error(db_pool, amqp_url):
    refusal = B24ValidationError("crm.company.add", "ERROR_CORE", "Invalid e-mail", 400)
    event_id, rows = await outcomes_of(db_pool, amqp_url, [refusal], "dead_lettered")
    assert [(r["outcome"], r["reason"]) for r in rows] == [("dead_lettered", "b24_rejected")]
    assert "ERROR_CORE" in rows[0]["error"] and "Invalid e-mail" in rows[0]["error"]


async def test_a_waiting_event_found_by_its_1c_object_after_its_outbox_row_is_gone(db_pool, amqp_url):
    """The outcomes carry the entity from the message headers: the object's trace lists the event even
    when the outbox never had (or no longer has) its row."""
    event_id, entity_id = await publish(amqp_url)
    recorder = outcomes.OutcomeRecorder(db_pool)
    await recorder.record({"consumer": "deal", "event_id": event_id, "entity_type": "customer_order",
                           "entity_id": entity_id}, Outcome.STALE)
    found = await trace(db_pool, entity_id)
    assert [(e["event_id"], [o["outcome"] for o in e["outcomes"]]) for e in found.events] == [(event_id, ["stale"])]


async def test_recording_never_breaks_consuming_when_the_database_is_gone(db_pool, amqp_url, caplog):
    await db_pool.close()  # every INSERT fails now
    recorder = outcomes.OutcomeRecorder(db_pool, timeout=1)
    await recorder.record({"consumer": "deal", "event_id": str(uuid.uuid4())}, Outcome.APPLIED)
    assert any(getattr(r, "action", None) == "trace.record_failed" for r in caplog.records)


async def test_the_relay_purge_forgets_outcomes_older_than_the_window(db_pool):
    recorder = outcomes.OutcomeRecorder(db_pool)
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    for event_id in (old, new):
        await recorder.record({"consumer": "deal", "event_id": event_id}, Outcome.APPLIED)
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE event_outcomes SET at = now() - interval '8 days' WHERE event_id = $1",
                           uuid.UUID(old))
    assert await outcomes.purge(db_pool, timedelta(days=7)) == 1
    async with db_pool.acquire() as conn:
        left = await conn.fetch("SELECT event_id::text AS e FROM event_outcomes")
    assert [r["e"] for r in left] == [new]


@pytest.fixture
async def counted(db_url):
    """A recorder on a pool whose transactions are counted, warmed by one outcome: (recorder, pool, counter)."""
    from bridge import db
    from tests.support.pgcount import Transactions

    counter = Transactions()
    pool = await db.create_pool(db_url, max_size=5, observe=counter.observe)
    try:
        recorder = outcomes.OutcomeRecorder(pool, linger=0.5)  # (a loaded host's 5 ms sleeps stay in one window)
        await recorder.record({"consumer": "deal", "event_id": str(uuid.uuid4())}, Outcome.APPLIED)
        yield recorder, pool, counter
    finally:
        await pool.close()


async def test_outcomes_recorded_at_the_same_time_share_one_statement_and_all_are_stored(counted):
    """A consumer with 100 messages in flight records 100 outcomes at once: they go in a few group
    commits, not 100 transactions, and each ``record`` returns only once its row is stored."""
    recorder, pool, counter = counted
    before = counter.count
    ids = [str(uuid.uuid4()) for _ in range(100)]
    await asyncio.gather(*(recorder.record({"consumer": "deal", "event_id": i}, Outcome.APPLIED,
                                           [{"method": "crm.deal.update", "n": n}]) for n, i in enumerate(ids)))
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT event_id::text AS e, calls FROM event_outcomes WHERE event_id = ANY($1)",
                                  [uuid.UUID(i) for i in ids])
    assert sorted(r["e"] for r in stored) == sorted(ids)
    assert {r["e"]: r["calls"][0]["n"] for r in stored} == {i: n for n, i in enumerate(ids)}
    assert counter.count - before <= 3, counter.ended[before:]


async def test_outcomes_recorded_a_few_ms_apart_share_one_statement(counted):
    """At a steady rate events end one at a time: their outcomes wait a moment for each other
    (``RECORD_LINGER``) instead of paying a round trip each, and each ``record`` still returns only once its
    row is stored."""
    recorder, pool, counter = counted
    before = counter.count
    ids = [str(uuid.uuid4()) for _ in range(8)]
    records = []
    for i in ids:  # 8 events ending 5 ms apart, within one window
        records.append(asyncio.create_task(recorder.record({"consumer": "deal", "event_id": i}, Outcome.APPLIED)))
        await asyncio.sleep(0.005)
    for record, event_id in zip(records, ids, strict=True):
        await record
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM event_outcomes WHERE event_id = $1",
                                       uuid.UUID(event_id)) == 1
    assert counter.count - before - len(ids) <= 2, counter.ended[before:]  # (the checks above: one each)


async def test_an_outcome_the_database_refuses_costs_only_its_own_row_in_a_group_commit(db_pool, caplog):
    recorder = outcomes.OutcomeRecorder(db_pool)
    good = [str(uuid.uuid4()) for _ in range(5)]
    bad = str(uuid.uuid4())
    records = [recorder.record({"consumer": "deal", "event_id": i}, Outcome.APPLIED) for i in good]
    records.insert(2, recorder.record({"consumer": "deal", "event_id": bad}, Outcome.APPLIED,
                                      [{"method": "crm.deal.update", "error": "NUL \u0000 in a reply"}]))
    await asyncio.gather(*records)  # jsonb cannot hold \u0000: that row is refused
    async with db_pool.acquire() as conn:
        stored = {r["e"] for r in await conn.fetch("SELECT event_id::text AS e FROM event_outcomes")}
    assert set(good) <= stored and bad not in stored
    refused = [r for r in caplog.records if getattr(r, "action", None) == "trace.record_failed"]
    assert [r.event_id for r in refused] == [bad]


async def test_a_read_only_database_costs_one_failed_statement_not_one_per_row(db_url, caplog):
    """After a failover every row is refused alike: trying them one by one only multiplies the failing
    statements (each waiting out its timeout on a slow server).  Row by row is for a value refused."""
    from bridge import db
    from tests.support.pgcount import Transactions

    setup = await asyncpg.connect(db_url)
    await setup.execute(f'ALTER DATABASE "{await setup.fetchval("SELECT current_database()")}" '
                        "SET default_transaction_read_only = on")
    await setup.close()
    counter = Transactions()
    pool = await db.create_pool(db_url, max_size=5, observe=counter.observe)
    try:
        recorder = outcomes.OutcomeRecorder(pool)
        ids = [str(uuid.uuid4()) for _ in range(5)]
        await asyncio.gather(*(recorder.record({"consumer": "deal", "event_id": i}, Outcome.APPLIED) for i in ids))
    finally:
        await pool.close()
    refused = [r for r in caplog.records if getattr(r, "action", None) == "trace.record_failed"]
    assert sorted(r.event_id for r in refused) == sorted(ids)  # each one said, none stored
    assert counter.count == 1, counter.ended


async def test_noted_outcomes_are_written_together_a_moment_later_and_a_flush_writes_the_rest(counted):
    """A consumer notes the outcome of an event it has acked and goes on (no task waits for the row): the
    rows of a moment go in one statement, and a stopping consumer's flush writes what is still noted."""
    recorder, pool, counter = counted
    before = counter.count
    ids = [str(uuid.uuid4()) for _ in range(6)]
    for i in ids[:5]:
        recorder.note({"consumer": "deal", "event_id": i}, Outcome.APPLIED, [{"method": "crm.deal.update"}])
        await asyncio.sleep(0.005)

    async def stored() -> int:
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM event_outcomes WHERE event_id = ANY($1)",
                                       [uuid.UUID(i) for i in ids])

    looks = 0

    async def all_five() -> bool:
        nonlocal looks
        looks += 1
        return await stored() == 5

    assert await wait_for(all_five, timeout=10)
    assert counter.count - before - looks <= 1, counter.ended[before:]  # one statement for five (+ the looks)
    recorder.note({"consumer": "deal", "event_id": ids[5]}, Outcome.STALE)
    await recorder.flush()
    assert await stored() == 6


async def test_a_stopping_consumer_writes_the_outcomes_it_noted(db_pool, amqp_url):
    """The outcome of an acked event waits a moment in memory to share a statement: a consumer stopped in
    that moment writes it before it returns, so a restart never leaves the trace without it."""
    event_id, _ = await publish(amqp_url)
    stop = asyncio.Event()
    consumer = Consumer(ScriptedHandler([Outcome.APPLIED]), connector(amqp_url), ConsumerConfig(prefetch=4),
                        recorder=outcomes.OutcomeRecorder(db_pool, linger=60))  # (no window closes by itself)
    task = asyncio.create_task(consumer.run(stop))
    try:
        async def handled() -> bool:
            return consumer.handled >= 1

        assert await wait_for(handled, timeout=30)
        before = await trace(db_pool, event_id)
        assert not before.events or not before.events[0]["outcomes"]  # noted, not written yet
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    found = await trace(db_pool, event_id)
    assert [o["outcome"] for o in found.events[0]["outcomes"]] == ["applied"]
