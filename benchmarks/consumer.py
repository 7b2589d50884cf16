"""Consumer cost per event: CPU, PostgreSQL transactions, index scans and connections, for the simulator mix.

    python -m benchmarks.consumer                     # the simulator's 3-day mix (~1,000 events)
    python -m benchmarks.consumer --scale 2 --prefetch 64

The consumers' own work, without the broker: every simulated event is encoded as the relay publishes it
(``bridge.wire.to_amqp``), decoded and parsed as a consumer does (``bridge.wire.decode`` + the consumer's
``parse``) and handed to the real handler (counterparty, product, deal), ``--prefetch`` events in flight
per consumer as with the default prefetch, against a fresh database and a Bitrix24 sandbox running as its
own process (its CPU is not the consumer's).  Catalogue first (counterparties and products), then the
documents, as 1C's exchange order makes them arrive.  The pool is the one ``b24bridge consume`` opens
(``bootstrap.consumer_pool_size``).

Printed: the consumer process's CPU ms per event (``os.times``: user + system — on loopback the
kernel's TCP work for each round trip to PostgreSQL and the sandbox is system time of the sender; user
time alone is printed beside it), PostgreSQL transactions, statements (every round trip the consumers
make, BEGIN and COMMIT included: asyncpg's query logger) and index scans per event (from the database's statistics: ``pg_stat_database``, ``pg_stat_user_tables``,
read after the pool is closed so every backend has reported), the most connections the database had at
once (``pg_stat_activity`` sampled every 20 ms) and the outcomes.

Baseline in the same run: a **no-op consumer** — decode and parse every message, then return — the floor
for any handler.  The code before the change is measured by running this file on that commit (a detached
worktree; the file uses only what both versions have) — see docs/performance.md, "Consumer".
Needs PostgreSQL (BRIDGE_DATABASE_URL's server; ``<name>_bench_consumer`` is recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from benchmarks.initial_load import Portal
from benchmarks.relay import bench_database
from bridge import bootstrap, db, wire
from bridge.b24 import client_from_settings
from bridge.consumer import Outcome, parse
from bridge.demo import drop_database, prepare_portal
from bridge.errors import DependencyMissing
from bridge.runner import loop_factory
from bridge.settings import Settings
from onec_outbox.contract import event_to_json, parse_event
from onec_outbox.simulator import ScenarioConfig, Sizes, generate

CATALOGUE = ("counterparty", "product")


class Message:
    """What the consumer reads from an aio-pika delivery (body, headers, ids), built as the relay builds it."""

    def __init__(self, event: dict[str, Any]) -> None:
        body = json.dumps(event_to_json(parse_event(event)), ensure_ascii=False).encode()
        built = wire.to_amqp(wire.OutboxMessage(event["event_id"], event["event_type"],
                                                event["event_type"].removesuffix(".upserted"), event["source"],
                                                str(event["entity_id"]), event["version"], body))
        self.body, self.headers, self.message_id, self.type = built.body, built.headers, built.message_id, built.type


async def counters(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        await asyncio.sleep(1.0)  # closed backends' statistics arrive
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        xact = await conn.fetchval("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                   "WHERE datname = current_database()")
        scans = await conn.fetchval("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables")
        return {"transactions": int(xact), "index_scans": int(scans)}
    finally:
        await conn.close()


class Peak:
    """The most client connections the database had at once while the block ran (sampled from the
    ``postgres`` database, so the sampling adds nothing to the measured database's counters)."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.peak, self._task = dsn, 0, None

    async def __aenter__(self) -> Peak:
        parts = urlsplit(self.dsn)
        self._name = parts.path.lstrip("/")
        self._conn = await asyncpg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")))
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    async def _sample(self) -> None:
        while True:
            n = await self._conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
                self._name)
            self.peak = max(self.peak, n)
            await asyncio.sleep(0.02)

    async def __aexit__(self, *exc: Any) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._conn.close()


async def run(args: argparse.Namespace, dsn: str, portal: Portal, mapping: Any, messages: list[Message],
              *, noop: bool) -> dict[str, Any]:
    settings = Settings(b24_webhook_url=portal.webhook_url, consumer_prefetch=args.prefetch)
    names = ["counterparty", "product", "deal"]
    statements = [0]  # every round trip to PostgreSQL, BEGIN and COMMIT included (asyncpg's query logger)

    def observe(conn: Any) -> None:
        conn.add_query_logger(lambda _record: statements.__setitem__(0, statements[0] + 1))

    pool = await db.create_pool(dsn, max_size=bootstrap.consumer_pool_size(settings, names), observe=observe)
    b24 = client_from_settings(settings)
    handlers = {h.name: h for h in bootstrap.build_handlers(names, pool, b24, mapping)}
    by_type = {t: h for h in handlers.values() for t in h.event_types}
    outcomes: collections.Counter[str] = collections.Counter()

    async def consume(message: Message) -> None:
        delivery = wire.decode(message)
        handler = by_type[message.type]
        event = parse(delivery, handler.event_types)
        if noop:
            outcomes["noop"] += 1
            return
        for _ in range(50):  # a missing dependency waits (the consumer's wait queue), then comes back
            try:
                outcome = await handler.handle(event)
            except DependencyMissing:
                outcomes["dependency_wait"] += 1
                await asyncio.sleep(0.1)
                continue
            outcomes[outcome.value if isinstance(outcome, Outcome) else str(outcome)] += 1
            return
        outcomes["gave_up"] += 1

    async def phase(batch: list[Message]) -> None:
        queues: dict[str, asyncio.Queue] = collections.defaultdict(asyncio.Queue)
        for m in batch:  # each consumer takes its own queue's messages, `prefetch` at a time
            queues[by_type[m.type].name].put_nowait(m)

        async def worker(queue: asyncio.Queue) -> None:
            while not queue.empty():
                await consume(queue.get_nowait())

        await asyncio.gather(*(worker(q) for q in queues.values() for _ in range(args.prefetch)))

    before = await counters(dsn)
    catalogue = [m for m in messages if m.type.removesuffix(".upserted") in CATALOGUE]
    documents = [m for m in messages if m.type.removesuffix(".upserted") not in CATALOGUE]
    async with Peak(dsn) as peak:
        start, wall = os.times(), time.perf_counter()
        await phase(catalogue)
        await phase(documents)
        end, wall = os.times(), time.perf_counter() - wall
    user, system = end.user - start.user, end.system - start.system
    await b24.aclose()
    await pool.close()
    after = await counters(dsn)
    n = len(messages)
    return {"events": n, "cpu_ms": (user + system) * 1000 / n, "user_ms": user * 1000 / n, "wall_s": wall,
            "xact": (after["transactions"] - before["transactions"]) / n, "statements": statements[0] / n,
            "idx": (after["index_scans"] - before["index_scans"]) / n,
            "peak": peak.peak, "outcomes": dict(outcomes)}


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    sizes = Sizes(counterparties=int(30 * args.scale), products=int(40 * args.scale), orders=int(60 * args.scale))
    events = list(generate(ScenarioConfig(seed=args.seed, sizes=sizes, days=3)).events)
    messages = [Message(e) for e in events]
    mix = collections.Counter(m.type.removesuffix(".upserted") for m in messages)
    print(f"simulator mix: {len(messages)} events {dict(mix)}; prefetch {args.prefetch} per consumer, "
          f"pool {bootstrap.consumer_pool_size(Settings(consumer_prefetch=args.prefetch), ['c', 'p', 'd'])}")
    dsn = ""
    portal = Portal(rate=0, burst=50)
    try:
        mapping, _ = await prepare_portal(portal.webhook_url, None)
        results = {}
        for name, noop in (("no-op consumer (decode + parse only)", True), ("consumers", False)):
            dsn = await bench_database(settings.database_url.get_secret_value(), f"_{args.namespace}")
            results[name] = await run(args, dsn, portal, mapping, messages, noop=noop)
    finally:
        portal.close()
        if dsn:  # the figures are printed: leave nothing behind
            await drop_database(settings.database_url.get_secret_value(), dsn)
    print(f"{'':40} {'CPU ms/event':>12} {'(user)':>7} {'xact/event':>10} {'stmts/event':>11} "
          f"{'idx scans/event':>15} {'peak conns':>10} {'wall s':>7}")
    for name, r in results.items():
        print(f"{name:40} {r['cpu_ms']:12.2f} {r['user_ms']:7.2f} {r['xact']:10.2f} {r['statements']:11.2f} "
              f"{r['idx']:15.1f} {r['peak']:10d} {r['wall_s']:7.1f}")
    for name, r in results.items():
        print(f"outcomes ({name}): {r['outcomes']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="simulator sizes × this (30/40/60 at 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefetch", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (scale 0.1) that only proves the script works")
    parser.add_argument("--namespace", default="bench_consumer",
                        help="suffix of the benchmark's own database (dropped at the end)")
    parsed = parser.parse_args()
    if parsed.smoke:
        parsed.scale = 0.1
    # the event loop `b24bridge consume` runs on (BRIDGE_EVENT_LOOP: uvloop unless told otherwise)
    with asyncio.Runner(loop_factory=loop_factory(Settings().event_loop)) as loop:
        loop.run(main(parsed))
