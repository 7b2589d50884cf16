"""The relay publishes every outbox row to RabbitMQ, once in the normal case, and loses none."""

import asyncio
import os
import signal
import subprocess
import sys

import aio_pika
import pytest

from bridge import db, topology
from bridge.outbox import Outbox
from bridge.broker import connector
from bridge.relay import Relay
from tests.helpers import drain, new_event, tap, wait_for


async def _unpublished(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def _start(pool, amqp_url, db_url, **kwargs):
    stop = asyncio.Event()
    relay = Relay(pool, connector(amqp_url), listen_dsn=db_url, **kwargs)
    return stop, asyncio.create_task(relay.run(stop))


async def test_each_row_is_published_once_with_its_event_id_type_and_headers(db_pool, db_url, amqp_url):
    events = [new_event("counterparty", version=i) for i in range(120)] + [new_event("product")]
    await Outbox(db_pool).store(events)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await topology.declare(channel)
        watch = await tap(channel, "onec.counterparty")
        stop, task = await _start(db_pool, amqp_url, db_url, batch_size=50)
        got = await drain(watch, 120)
        stop.set()
        await task
    assert sorted(m.message_id for m in got) == sorted(str(e.event_id) for e in events[:120])
    first = next(m for m in got if m.message_id == str(events[0].event_id))
    assert first.routing_key == "counterparty.upserted"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert first.content_type == "application/json"
    assert first.headers["x-source"] == "ut103-test"
    assert first.headers["x-entity-id"] == str(events[0].entity_id)
    assert await _unpublished(db_pool) == 0


async def test_an_event_no_queue_takes_lands_in_the_unrouted_queue_and_is_not_lost(db_pool, db_url, amqp_url):
    event = new_event("shipment", event_type="shipment.deleted")  # a type no consumer is bound for (yet)
    await Outbox(db_pool).store([event])
    stop, task = await _start(db_pool, amqp_url, db_url)
    assert await wait_for(lambda: _published(db_pool))
    stop.set()
    await task
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        unrouted = await channel.get_queue(topology.UNROUTED)
        got = await drain(unrouted, 1)
    assert [m.message_id for m in got] == [str(event.event_id)]


async def _published(pool) -> bool:
    return await _unpublished(pool) == 0


async def test_two_relays_at_once_publish_each_row_exactly_once(db_url, amqp_url):
    pools = [await db.create_pool(db_url, max_size=3) for _ in range(2)]
    try:
        events = [new_event() for _ in range(2000)]
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            await topology.declare(channel)
            watch = await tap(channel, "onec.counterparty")
            stops, tasks = zip(*[await _start(p, amqp_url, db_url, batch_size=100) for p in pools])
            for i in range(0, len(events), 250):  # keep inserting while both relays work
                await Outbox(pools[0]).store(events[i:i + 250])
            got = await drain(watch, len(events), timeout=60)
            for stop in stops:
                stop.set()
            await asyncio.gather(*tasks)
        ids = [m.message_id for m in got]
        assert len(ids) == len(events)
        assert set(ids) == {str(e.event_id) for e in events}
    finally:
        for pool in pools:
            await pool.close()


async def test_new_rows_wake_the_relay_through_notify_without_waiting_for_the_poll(db_pool, db_url, amqp_url):
    stop, task = await _start(db_pool, amqp_url, db_url, poll_interval=3600)  # polling would take an hour
    await asyncio.sleep(0.5)  # let it connect and go idle
    await Outbox(db_pool).store([new_event()])
    assert await wait_for(lambda: _published(db_pool), timeout=20)
    stop.set()
    await task


@pytest.mark.slow
async def test_a_relay_killed_mid_stream_loses_nothing_the_other_relay_finishes(db_pool, db_url, amqp_url):
    events = [new_event() for _ in range(4000)]
    await Outbox(db_pool).store(events)
    env = {**os.environ, "BRIDGE_DATABASE_URL": db_url, "BRIDGE_AMQP_URL": amqp_url,
           "BRIDGE_RELAY_BATCH_SIZE": "200", "BRIDGE_LOG_LEVEL": "WARNING"}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await topology.declare(channel)
        watch = await tap(channel, "onec.counterparty")
        relays = [subprocess.Popen([sys.executable, "-m", "bridge.cli", "relay"],
                                   env={**env, "BRIDGE_RELAY_METRICS_PORT": str(port)})
                  for port in (0, 0)]
        try:
            # kill the first relay as soon as publishing is under way
            await wait_for(lambda: _some_published(db_pool), timeout=60, interval=0.02)
            relays[0].send_signal(signal.SIGKILL)
            got = await drain(watch, len(events), timeout=120)
        finally:
            for process in relays:
                process.kill()
                process.wait()
    assert {m.message_id for m in got} == {str(e.event_id) for e in events}
    assert await _unpublished(db_pool) == 0


async def _some_published(pool) -> bool:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") > 0


async def test_retention_deletes_only_old_published_rows_and_old_inbox_entries(db_pool):
    from datetime import timedelta

    old, fresh_, pending = new_event(), new_event(), new_event()
    outbox = Outbox(db_pool)
    await outbox.store([old, fresh_, pending])
    await db_pool.execute("UPDATE outbox SET published_at = now() - interval '8 days' WHERE event_id = $1", old.event_id)
    await db_pool.execute("UPDATE outbox SET published_at = now() WHERE event_id = $1", fresh_.event_id)
    await db_pool.execute("INSERT INTO inbox (consumer, event_id, processed_at) VALUES "
                          "('deal', $1, now() - interval '31 days'), ('deal', $2, now())", old.event_id, fresh_.event_id)
    assert await outbox.purge(timedelta(days=7)) == 1
    assert await outbox.purge_inbox(timedelta(days=30)) == 1
    left = {r["event_id"] for r in await db_pool.fetch("SELECT event_id FROM outbox")}
    assert left == {fresh_.event_id, pending.event_id}  # unpublished rows are never purged
    assert [r["event_id"] for r in await db_pool.fetch("SELECT event_id FROM inbox")] == [fresh_.event_id]
