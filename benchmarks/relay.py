"""Relay throughput: PostgreSQL outbox → one RabbitMQ quorum queue, against raw aio-pika in the same run.

    python -m benchmarks.relay                   # 20,000 messages of ~1.3 KB, three rounds, interleaved
    python -m benchmarks.relay --n 5000 --rounds 1
    python -m benchmarks.relay --smoke           # a few hundred messages: checks it runs (CI)
    python -m benchmarks.relay --compare 81bd119 # also the relay as it was at that commit, same rounds

Both sides publish the same ~1.3 KB bodies (the size of a 1C event) into the same single quorum queue,
persistent, with publisher confirms, in the same run, rounds interleaved:

* **raw aio-pika** (the ceiling for any relay on this machine; no database at all): ``exchange.publish``
  of every message, ``gather`` in chunks of ``--batch``, each confirm awaited;
* **the relay** (``bridge.relay.Relay.run``, as in production): a pre-filled outbox backlog, the clock
  started at relay start and stopped when the queue holds every message; a row is marked published only
  after its confirm.

Each round runs in a virtual host of its own (``b24bridge-<namespace>``, recreated through the management
API) where the relay declares its whole topology, so ``onec.counterparty`` routes ``counterparty.upserted``
to exactly one queue, ``b24.counterparty``; both sides publish there and the queue is purged after each
round.  At the end every queue of the vhost is checked empty, then the vhost and the database
(``<name>_<namespace>``) are dropped.  Printed per round: msg/s of both and the ratio relay/raw.
Needs PostgreSQL (BRIDGE_DATABASE_URL's server) and RabbitMQ with the management plugin (BRIDGE_AMQP_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import types
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit, urlunsplit

import aio_pika
import asyncpg

from bridge import broker, db, schema, topology
from bridge.demo import drop_database, drop_vhost, fresh_vhost
from bridge.outbox import NewEvent, Outbox
from bridge.relay import Relay
from bridge.settings import Settings


class Figure(NamedTuple):
    rate: float  # messages per second, wall clock
    cpu_us: float  # CPU time of this process per message (steadier than the wall clock on a shared machine)


TARGET = topology.TARGETS["counterparty"]
QUEUE = TARGET.queue  # the one queue onec.counterparty routes counterparty.upserted to
BODY_BYTES = 1300


def payload(i: int) -> str:
    """A counterparty event of ~1.3 KB (the average of the simulator's mix), as JSON text."""
    body = {"event_id": str(uuid.uuid4()), "event_type": "counterparty.upserted", "source": "bench",
            "entity_id": str(uuid.uuid4()), "version": i, "occurred_at": "2026-11-27T10:15:00+03:00",
            "payload": {"name": f"Контрагент {i:06d}", "deleted": False, "inn": "7707083893", "kpp": "773601001",
                        "comment": ""}}
    text = json.dumps(body, ensure_ascii=False)
    body["payload"]["comment"] = "x" * max(0, BODY_BYTES - len(text.encode()))
    return json.dumps(body, ensure_ascii=False)


async def bench_database(dsn: str, suffix: str = "_bench") -> str:
    """Recreate ``<database><suffix>`` next to the configured one and migrate it; returns its DSN."""
    parts = urlsplit(dsn)
    name = (unquote(parts.path.lstrip("/")) or "postgres") + suffix
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    bench = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    await asyncio.to_thread(schema.migrate, bench)
    return bench


async def depth(channel: aio_pika.abc.AbstractChannel, name: str = QUEUE) -> int:
    return (await channel.declare_queue(name, passive=True)).declaration_result.message_count


async def wait_depth(channel: aio_pika.abc.AbstractChannel, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while await depth(channel) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{QUEUE} holds {await depth(channel)} of {n} messages after {timeout:g} s")
        await asyncio.sleep(0.01)


async def purge(channel: aio_pika.abc.AbstractChannel) -> None:
    await (await channel.declare_queue(QUEUE, passive=True)).purge()


async def round_raw(amqp_url: str, bodies: list[bytes], batch: int) -> Figure:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        probe = await connection.channel()
        exchange = await channel.get_exchange(topology.exchange_for("counterparty"))
        key = topology.routing_key_for(topology.upserted("counterparty"))
        started, cpu = time.perf_counter(), time.process_time()
        for s in range(0, len(bodies), batch):
            await asyncio.gather(*(exchange.publish(
                aio_pika.Message(b, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=key, mandatory=True) for b in bodies[s:s + batch]))
        await wait_depth(probe, len(bodies))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await purge(probe)
    return Figure(len(bodies) / elapsed, cpu / len(bodies) * 1e6)


def relay_at(commit: str) -> type:
    """``Relay`` as ``bridge/relay.py`` was at ``commit`` (the rest of ``bridge`` as it is now), to measure
    a change against the code before it in the same run."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{commit}:bridge/relay.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"bridge.relay_at_{commit}")
    module.__package__ = "bridge"
    exec(compile(source, f"{commit}:bridge/relay.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module.Relay


async def round_relay(dsn: str, amqp_url: str, bodies: list[str], batch: int, relay_class: type = Relay) -> Figure:
    pool = await db.create_pool(dsn, max_size=4)
    try:
        await pool.execute("TRUNCATE outbox")
        now = datetime.now(UTC)
        events = [NewEvent(uuid.uuid4(), "counterparty.upserted", "counterparty", "bench", uuid.uuid4(), i, now, b)
                  for i, b in enumerate(bodies)]
        outbox = Outbox(pool)
        for s in range(0, len(events), 1000):
            await outbox.store(events[s:s + 1000])
        await pool.execute("VACUUM ANALYZE outbox")  # as after a night's autovacuum: the same start each round
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            stop = asyncio.Event()
            relay = relay_class(pool, broker.connector(amqp_url), listen_dsn=dsn, batch_size=batch)
            started, cpu = time.perf_counter(), time.process_time()
            task = asyncio.create_task(relay.run(stop))
            await wait_depth(channel, len(bodies))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            stop.set()
            await task
            left = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert left == 0, f"{left} rows left unpublished"
            assert await depth(channel) == len(bodies), "the relay published more messages than rows"
            await purge(channel)
        return Figure(len(bodies) / elapsed, cpu / len(bodies) * 1e6)
    finally:
        await pool.close()


def line(raw: list[Figure], ours: list[Figure], before: list[Figure], commit: str | None) -> str:
    r, o = (statistics.median(f.rate for f in raw), statistics.median(f.rate for f in ours))
    rc, oc = (statistics.median(f.cpu_us for f in raw), statistics.median(f.cpu_us for f in ours))
    text = f"raw aio-pika {r:6.0f} msg/s {rc:4.0f} µs CPU/msg   relay {o:6.0f} msg/s {oc:4.0f} µs CPU/msg   relay/raw {o / r:.2f}"
    if before:
        b, bc = statistics.median(f.rate for f in before), statistics.median(f.cpu_us for f in before)
        text += f"   | relay at {commit} {b:6.0f} msg/s {bc:4.0f} µs CPU/msg, {b / r:.2f} of raw"
    return text


async def leftovers(amqp_url: str) -> dict[str, int]:
    """Messages still in any queue of the topology (must be none)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        names = [topology.UNROUTED] + [spec.name for target in topology.TARGETS.values()
                                       for spec in topology.queues_for(target)]
        counts = {name: await depth(channel, name) for name in names}
    return {name: count for name, count in counts.items() if count}


async def main(args: argparse.Namespace) -> int:
    settings = Settings()
    base_dsn, base_amqp = settings.database_url.get_secret_value(), settings.amqp_url.get_secret_value()
    dsn = await bench_database(base_dsn, f"_{args.namespace}")
    vhost = f"b24bridge-{args.namespace}"
    amqp_url = await fresh_vhost(base_amqp, args.rabbitmq_api, vhost)
    try:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            await topology.declare(await connection.channel())  # what Relay.run declares: the same topology
        texts = [payload(i) for i in range(args.n)]
        bodies = [t.encode() for t in texts]
        print(f"{args.n} messages of {sum(map(len, bodies)) / len(bodies):.0f} B into one quorum queue ({QUEUE}), "
              f"persistent, publisher confirms; relay batch {args.batch}, raw aio-pika gather chunks of {args.batch}")
        raw, ours, before = [], [], []
        old = relay_at(args.compare) if args.compare else None
        for r in range(args.rounds):
            raw.append(await round_raw(amqp_url, bodies, args.batch))
            if old is not None:
                before.append(await round_relay(dsn, amqp_url, texts, args.batch, old))
            ours.append(await round_relay(dsn, amqp_url, texts, args.batch))
            print(f"round {r + 1}: " + line(raw[-1:], ours[-1:], before[-1:], args.compare), flush=True)
        print("median:  " + line(raw, ours, before, args.compare))
        left = await leftovers(amqp_url)
        print(f"messages left in the vhost's queues: {sum(left.values())}" + (f" {left}" if left else ""))
        return 1 if left else 0
    finally:
        await drop_vhost(base_amqp, args.rabbitmq_api, vhost)
        await drop_database(base_dsn, dsn)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--namespace", default="bench_relay", help="suffix of the database and vhost it recreates")
    parser.add_argument("--rabbitmq-api", help="management API URL (default: http://<amqp host>:15672/api)")
    parser.add_argument("--compare", metavar="COMMIT",
                        help="also run bridge/relay.py as it was at COMMIT, in the same rounds (e.g. 81bd119)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI): 300 messages, one round")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.rounds, args.batch = 300, 1, 100
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
