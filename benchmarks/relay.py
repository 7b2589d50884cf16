"""Relay throughput: PostgreSQL outbox → RabbitMQ quorum queue, against raw aio-pika in the same run.

    python benchmarks/relay.py                 # 20,000 messages of ~250 B, two rounds, interleaved
    python benchmarks/relay.py --n 5000 --rounds 1

Conditions follow reference/bench-faststream-outbox.md so the figures compare with the best existing
Python outbox relay measured on this machine (300–1,800 msg/s) and with raw aio-pika (~5,000 msg/s):
a pre-filled backlog, the clock started at relay start, a quorum queue, persistent messages, publisher
confirms awaited before a row is marked, and the same 10 ms queue-depth poll.

The baseline measured here, in the same run, is raw aio-pika: confirms, persistent, ``gather`` in chunks of
500, no database at all — the ceiling for any relay on this machine.  Printed per round: msg/s of both and
their ratio.  Needs PostgreSQL (BRIDGE_DATABASE_URL's server; a database ``<name>_bench`` is created) and
RabbitMQ (BRIDGE_AMQP_URL; a vhost is not needed, the bench queue is deleted afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg

from bridge import broker, db, schema, topology
from bridge.outbox import NewEvent, Outbox
from bridge.relay import Relay
from bridge.settings import Settings

QUEUE = "bench.relay"


def payload(i: int) -> str:
    body = {"event_id": str(uuid.uuid4()), "event_type": "counterparty.upserted", "source": "bench",
            "entity_id": str(uuid.uuid4()), "version": i, "occurred_at": "2026-11-27T10:15:00+03:00",
            "payload": {"name": f"Контрагент {i:06d}", "deleted": False}}
    text = json.dumps(body, ensure_ascii=False)
    return text + " " * max(0, 250 - len(text.encode()))


async def bench_database(dsn: str) -> str:
    parts = urlsplit(dsn)
    name = (parts.path.lstrip("/") or "postgres") + "_bench"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    bench = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    await asyncio.to_thread(schema.migrate, bench)
    return bench


async def fresh_queue(channel: aio_pika.abc.AbstractChannel) -> aio_pika.abc.AbstractQueue:
    await channel.queue_delete(QUEUE)
    queue = await channel.declare_queue(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind("onec.counterparty", routing_key="#")
    return queue


async def depth(channel: aio_pika.abc.AbstractChannel) -> int:
    return (await channel.declare_queue(QUEUE, passive=True)).declaration_result.message_count


async def wait_depth(channel, n: int) -> None:
    while await depth(channel) < n:
        await asyncio.sleep(0.01)


async def round_raw(amqp_url: str, bodies: list[str]) -> float:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await topology.declare(channel, [])
        await fresh_queue(channel)
        probe = await connection.channel()
        exchange = await channel.get_exchange("onec.counterparty")
        encoded = [b.encode() for b in bodies]
        started = time.perf_counter()
        for s in range(0, len(encoded), 500):
            await asyncio.gather(*(exchange.publish(
                aio_pika.Message(b, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key="counterparty.upserted", mandatory=True) for b in encoded[s:s + 500]))
        await wait_depth(probe, len(bodies))
        return len(bodies) / (time.perf_counter() - started)


async def round_relay(dsn: str, amqp_url: str, bodies: list[str], batch: int) -> float:
    pool = await db.create_pool(dsn, max_size=4)
    try:
        await pool.execute("TRUNCATE outbox")
        now = datetime.now(UTC)
        events = [NewEvent(uuid.uuid4(), "counterparty.upserted", "counterparty", "bench", uuid.uuid4(), i, now, b)
                  for i, b in enumerate(bodies)]
        outbox = Outbox(pool)
        for s in range(0, len(events), 1000):
            await outbox.store(events[s:s + 1000])
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            await topology.declare(channel, [])
            await fresh_queue(channel)
            stop = asyncio.Event()
            relay = Relay(pool, broker.connector(amqp_url), listen_dsn=dsn, batch_size=batch)
            started = time.perf_counter()
            task = asyncio.create_task(relay.run(stop))
            await wait_depth(channel, len(bodies))
            elapsed = time.perf_counter() - started
            stop.set()
            await task
            left = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert left == 0, f"{left} rows left unpublished"
            await channel.queue_delete(QUEUE)
        return len(bodies) / elapsed
    finally:
        await pool.close()


async def main(n: int, rounds: int, batch: int) -> None:
    settings = Settings()
    dsn = await bench_database(settings.database_url.get_secret_value())
    amqp_url = settings.amqp_url.get_secret_value()
    bodies = [payload(i) for i in range(n)]
    raw, ours = [], []
    print(f"{n} messages of ~250 B, relay batch {batch}, quorum queue, persistent, confirms")
    for r in range(rounds):
        raw.append(await round_raw(amqp_url, bodies))
        ours.append(await round_relay(dsn, amqp_url, bodies, batch))
        print(f"round {r + 1}: raw aio-pika {raw[-1]:8.0f} msg/s   relay {ours[-1]:8.0f} msg/s   "
              f"relay/raw {ours[-1] / raw[-1]:.2f}")
    print(f"median:  raw aio-pika {statistics.median(raw):8.0f} msg/s   relay {statistics.median(ours):8.0f} msg/s   "
          f"relay/raw {statistics.median(ours) / statistics.median(raw):.2f}")
    print("reference (bench-faststream-outbox.md, same machine type): faststream-outbox 260–1,782 msg/s, "
          "0.06–0.38 of raw")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds, args.batch))
