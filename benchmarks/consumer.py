"""Consumer cost per event: CPU, PostgreSQL transactions, index scans and connections, for the simulator mix.

    python -m benchmarks.consumer                     # the simulator's 3-day mix (~1,000 events)
    python -m benchmarks.consumer --scale 2 --prefetch 64
    python -m benchmarks.consumer --compare 5bef8a3   # and the consumers of that commit, alternating

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
make, BEGIN and COMMIT included: the count each asyncpg connection keeps, read at the end, which adds
nothing to a statement — asyncpg's query logger, used before, put a ``call_soon`` and 20–37 µs on each)
and index scans per event (from the database's statistics: ``pg_stat_database``, ``pg_stat_user_tables``,
read after the pool is closed so every backend has reported), the most connections the database had at
once (``pg_stat_activity`` sampled every 20 ms by a child process, whose CPU is not counted: sampled in
process, it added ≈ 0.1 ms per event) and the outcomes.

Then **where that CPU goes**: the thread CPU time (``time.thread_time_ns``) spent in the synchronous
pieces of the consumers' work — parsing the event, JSON, encoding batch commands, state hashes, the deal
rules, snapshots into facts — wrapped where the consumer code looks them up (a piece called inside another
counts in the outer one; the wrappers cost well under 1 % of the figure), and the PostgreSQL round trips
at this run's own price: the statements counted above × the CPU of one ``SELECT 1`` on a pooled
connection, and one pool acquire + release per transaction, measured after the run on a pool like the
consumers' (same codecs) to the server's ``postgres`` database.  What is left is the Python spread over asyncio, the unit of work, the coalescer, HTTP and the handlers.

Baselines in the same run: a **no-op consumer** — decode and parse every message, then return — the floor
for any handler; and with ``--compare COMMIT`` the consumers as they were at that commit (5bef8a3 is where
issue 12 measured them): a detached git worktree of it gets this file, and each round runs today's and
then the old consumers (the other way round every second round), each in a process of its own, on the
same loop (BRIDGE_EVENT_LOOP's, uvloop by default, for old code too: the code is compared, not the loop),
printing one line per run and the medians.  The file bridges what older commits lack (the pool size, the
loop factory, the database helpers) — see docs/performance.md, "Consumer".
Needs PostgreSQL (BRIDGE_DATABASE_URL's server; ``<name>_bench_consumer`` is recreated, ``<name>_bench``
for a commit older than the relay benchmark's ``--namespace``) and, for ``--compare``, a git checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import gc
import importlib
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from benchmarks.initial_load import Portal
from benchmarks.relay import bench_database as relay_bench_database
from bridge import bootstrap, db, wire
from bridge.b24 import client_from_settings
from bridge.consumer import Outcome, parse
from bridge.demo import prepare_portal
from bridge.errors import DependencyMissing
from bridge.settings import Settings
from onec_outbox.contract import event_to_json, parse_event
from onec_outbox.simulator import ScenarioConfig, Sizes, generate

CATALOGUE = ("counterparty", "product")
ROOT = Path(__file__).resolve().parent.parent


# --- what older commits lack (``--compare`` runs this file on their code) -----------------------------

def pool_size(settings: Settings, names: list[str]) -> int:
    """The pool ``b24bridge consume`` opens; before it was bounded: a connection per message in flight
    (prefetch × consumers + 4)."""
    sized = getattr(bootstrap, "consumer_pool_size", None)
    return sized(settings, names) if sized else settings.consumer_prefetch * len(names) + 4


def event_loop_factory() -> Any:
    """The loop ``b24bridge consume`` runs on now (uvloop unless BRIDGE_EVENT_LOOP says otherwise), for old
    code too, so that a comparison measures the code, not the loop."""
    try:
        from bridge.runner import loop_factory
    except ImportError:  # before bridge.runner had it: as BRIDGE_EVENT_LOOP says (uvloop when installed)
        if os.environ.get("BRIDGE_EVENT_LOOP", "auto").lower() == "asyncio":
            return None
        try:
            import uvloop
        except ImportError:
            return None
        return uvloop.new_event_loop
    return loop_factory(Settings().event_loop)


def tuned_gc() -> Any:
    """The garbage collector as ``b24bridge consume`` tunes it (``runner.tuned_gc``); as it was for older code."""
    try:
        from bridge.runner import tuned_gc as tuned
    except ImportError:
        return contextlib.nullcontext()
    return tuned()


async def bench_database(dsn: str, suffix: str) -> str:
    """Recreate ``<database><suffix>`` next to the configured one, migrated by the code under test (older
    commits' helper takes no suffix: their ``<database>_bench``)."""
    if "suffix" in inspect.signature(relay_bench_database).parameters:
        return await relay_bench_database(dsn, suffix)
    return await relay_bench_database(dsn)


async def drop_database(dsn: str, made_dsn: str) -> None:
    """Drop the benchmark's database (``bridge.demo.drop_database`` where it exists)."""
    try:
        from bridge.demo import drop_database as dropper
    except ImportError:
        dropper = None
    if dropper is not None:
        await dropper(dsn, made_dsn)
        return
    parts = urlsplit(dsn)
    conn = await asyncpg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")))
    try:
        name = urlsplit(made_dsn).path.lstrip("/").replace('"', '""')
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def observing(observe: Any) -> Any:
    """``observe(conn)`` for every connection the bridge's pools open meanwhile (after the bridge's own
    set-up of it, ``db._init_connection``, which pools of every version call by its module name)."""
    original = db._init_connection

    async def init(conn: Any) -> None:
        await original(conn)
        observe(conn)

    db._init_connection = init
    try:
        yield
    finally:
        db._init_connection = original


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
    """The most client connections the database had at once while the block ran: ``pg_stat_activity``
    sampled every 20 ms from the ``postgres`` database (so the measured database's counters see nothing)
    by a child process, so the sampling's own CPU is not counted as the consumers'."""

    SAMPLER = """
import asyncio, sys, asyncpg
async def main(dsn, name):
    conn = await asyncpg.connect(dsn)
    peak = 0
    async def sample():
        nonlocal peak
        while True:
            n = await conn.fetchval("SELECT count(*) FROM pg_stat_activity "
                                    "WHERE datname = $1 AND backend_type = 'client backend'", name)
            peak = max(peak, n)
            await asyncio.sleep(0.02)
    task = asyncio.get_running_loop().create_task(sample())
    print("sampling", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await conn.close()
    print(peak, flush=True)
asyncio.run(main(*sys.argv[1:]))
"""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.peak = dsn, 0

    async def __aenter__(self) -> Peak:
        parts = urlsplit(self.dsn)
        server = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
        self._child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", self.SAMPLER, server, parts.path.lstrip("/"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert self._child.stdout is not None
        try:
            started = await asyncio.wait_for(self._child.stdout.readline(), 30)
        except BaseException:
            await self._stop()
            raise
        if started.strip() != b"sampling":
            await self._stop()
            raise RuntimeError("the connection sampler did not start (see its error above)")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()  # the sampler's signal to stop and print its peak
        try:
            out, _ = await asyncio.wait_for(self._child.communicate(), 30)
        except BaseException:
            await self._stop()
            raise
        if self._child.returncode != 0:
            raise RuntimeError(f"the connection sampler failed ({self._child.returncode}; its error is above)")
        self.peak = int(out.strip())

    async def _stop(self) -> None:
        if self._child.returncode is None:
            self._child.kill()
            await self._child.wait()


class Budget:
    """Thread CPU time spent in the synchronous pieces of the consumers' work (see the module's docstring)."""

    PIECES = (  # (module, attribute where the consumer code looks it up, what it is)
        (__name__, "parse", "parsing the event (pydantic-core)"),  # this file (``__main__`` when run)
        ("json", "loads", "json.loads (states and facts read back, batch replies)"),
        ("json", "dumps", "json.dumps (statement parameters, states)"),
        ("bridge.b24.client", "build_command", "encoding batch commands"),
        ("bridge.links", "state_hash", "state hashes"),
        ("bridge.sync.deal", "state_hash", "state hashes"),
        ("bridge.sync.guards", "state_hash", "state hashes"),
        ("bridge.domain.deal", "deal_state", "the deal rules (state, fields, rows)"),
        ("bridge.domain.deal", "deal_fields", "the deal rules (state, fields, rows)"),
        ("bridge.domain.deal", "product_rows", "the deal rules (state, fields, rows)"),
        ("bridge.projection", "document", "snapshots into facts (projection)"),
    )

    GC = "garbage collection"

    def __init__(self) -> None:
        self.ns: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self._depth = 0
        self._label = ""  # the outer piece being timed
        self._gc_started = 0
        self._saved: list[tuple[Any, str, Any]] = []

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        """``gc.callbacks``: a collection's CPU is its own piece, taken out of the piece it interrupted."""
        if phase == "start":
            self._gc_started = time.thread_time_ns()
            return
        spent = time.thread_time_ns() - self._gc_started
        self.ns[self.GC] += spent
        self.calls[self.GC] += 1
        if self._depth:
            self.ns[self._label] -= spent

    def __enter__(self) -> Budget:
        wrapped: dict[int, Any] = {}  # one wrapper per function (a name imported into several modules)
        for module_name, attr, label in self.PIECES:
            try:
                module = sys.modules.get(module_name) or importlib.import_module(module_name)
            except ModuleNotFoundError:  # an older commit without this module: nothing to wrap
                continue
            original = getattr(module, attr, None)
            if original is None:  # an older commit without this piece: nothing to wrap
                continue
            if id(original) not in wrapped:
                wrapped[id(original)] = self._wrap(original, label)
            self._saved.append((module, attr, original))
            setattr(module, attr, wrapped[id(original)])
        gc.callbacks.append(self._collected)
        return self

    def __exit__(self, *exc: Any) -> None:
        gc.callbacks.remove(self._collected)
        for module, attr, original in reversed(self._saved):
            setattr(module, attr, original)
        self._saved = []

    def _wrap(self, function: Any, label: str) -> Any:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:  # inside another piece: counted there
                return function(*args, **kwargs)
            self._depth += 1
            self._label = label
            started = time.thread_time_ns()
            try:
                return function(*args, **kwargs)
            finally:
                self.ns[label] += time.thread_time_ns() - started
                self.calls[label] += 1
                self._depth -= 1
        return timed


async def round_trip_cost(dsn: str, n: int = 2000) -> tuple[float, float]:
    """CPU µs of one statement on a pooled connection (``SELECT 1``) and of one acquire + release, on a pool
    like the consumers' (same codecs) to the server's ``postgres`` database, so the benchmark database's
    counters are not touched."""
    parts = urlsplit(dsn)
    pool = await db.create_pool(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")), max_size=1)
    try:
        return await _round_trips(pool, n)
    finally:
        await pool.close()


async def _round_trips(pool: Any, n: int) -> tuple[float, float]:
    async with pool.acquire() as conn:
        for _ in range(100):
            await conn.fetchval("SELECT 1")
        started = time.process_time()
        for _ in range(n):
            await conn.fetchval("SELECT 1")
        statement = (time.process_time() - started) * 1e6 / n
    started = time.process_time()
    for _ in range(n):
        conn = await pool.acquire()
        await pool.release(conn)
    return statement, (time.process_time() - started) * 1e6 / n


async def run(args: argparse.Namespace, dsn: str, portal: Portal, mapping: Any, messages: list[Message],
              *, noop: bool) -> dict[str, Any]:
    budget = Budget()
    # every round trip to PostgreSQL, BEGIN and COMMIT included: the statements each connection's protocol
    # has run (bind-execute or simple query; ``Pool`` reads the same count for ``max_queries``), from its start
    protocols: list[tuple[Any, int]] = []

    def observe(conn: Any) -> None:
        protocols.append((conn._protocol, conn._protocol.queries_count))

    # the collector tuned first: its start-up collection is no consumer's work (the budget counted it as
    # garbage collection, ≈ 0.1–0.2 ms per event of a run of 600–900 events); the other two before the pool:
    # its JSON codecs bind at connect, and it opens connections as they are needed
    with tuned_gc(), budget if not noop else contextlib.nullcontext(), observing(observe):
        return await _run(args, dsn, portal, mapping, messages, noop=noop, budget=budget, protocols=protocols)


async def _run(args: argparse.Namespace, dsn: str, portal: Portal, mapping: Any, messages: list[Message],
               *, noop: bool, budget: Budget, protocols: list[tuple[Any, int]]) -> dict[str, Any]:
    settings = Settings(b24_webhook_url=portal.webhook_url, consumer_prefetch=args.prefetch)
    names = ["counterparty", "product", "deal"]
    pool = await db.create_pool(dsn, max_size=pool_size(settings, names))
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
    counted = sum(protocol.queries_count - start for protocol, start in protocols)
    if not noop and not counted:
        raise RuntimeError("asyncpg counted no statements: its protocol's queries_count no longer counts them")
    await pool.close()
    statement_us, acquire_us = (0.0, 0.0) if noop else await round_trip_cost(dsn)
    after = await counters(dsn)
    n = len(messages)
    return {"events": n, "cpu_ms": (user + system) * 1000 / n, "user_ms": user * 1000 / n, "wall_s": wall,
            "xact": (after["transactions"] - before["transactions"]) / n, "statements": counted / n,
            "idx": (after["index_scans"] - before["index_scans"]) / n,
            "peak": peak.peak, "outcomes": dict(outcomes), "statement_us": statement_us, "acquire_us": acquire_us,
            "pieces": {label: (budget.calls[label], ns / 1e6 / n) for label, ns in budget.ns.items()}}


def print_budget(r: dict[str, Any]) -> None:
    """Where the consumers' CPU per event goes (see the module's docstring)."""
    total = r["cpu_ms"]
    rows = [(f"PostgreSQL round trips: {r['statements']:.2f} × {r['statement_us']:.0f} µs + "
             f"{r['xact']:.2f} acquires × {r['acquire_us']:.0f} µs",
             (r["statements"] * r["statement_us"] + r["xact"] * r["acquire_us"]) / 1000)]
    rows += sorted(((f"{label} ({calls / r['events']:.1f} per event)", ms)
                    for label, (calls, ms) in r["pieces"].items()), key=lambda row: -row[1])
    rows.append(("the rest: asyncio, unit of work, coalescer, HTTP, the handlers' own code",
                 total - sum(ms for _, ms in rows)))
    print(f"where the consumers' {total:.2f} CPU ms per event go:")
    for label, ms in rows:
        print(f"  {label:88} {ms:6.3f} ms {100 * ms / total:5.1f} %")


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    sizes = Sizes(counterparties=int(30 * args.scale), products=int(40 * args.scale), orders=int(60 * args.scale))
    events = list(generate(ScenarioConfig(seed=args.seed, sizes=sizes, days=3)).events)
    messages = [Message(e) for e in events]
    mix = collections.Counter(m.type.removesuffix(".upserted") for m in messages)
    if not args.json:
        print(f"simulator mix: {len(messages)} events {dict(mix)}; prefetch {args.prefetch} per consumer, "
              f"pool {pool_size(Settings(consumer_prefetch=args.prefetch), ['c', 'p', 'd'])}")
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
    if args.json:  # one round of --compare: the parent prints
        print(json.dumps(results["consumers"]))
        return
    print(f"{'':40} {'CPU ms/event':>12} {'(user)':>7} {'xact/event':>10} {'stmts/event':>11} "
          f"{'idx scans/event':>15} {'peak conns':>10} {'wall s':>7}")
    for name, r in results.items():
        print(f"{name:40} {r['cpu_ms']:12.2f} {r['user_ms']:7.2f} {r['xact']:10.2f} {r['statements']:11.2f} "
              f"{r['idx']:15.1f} {r['peak']:10d} {r['wall_s']:7.1f}")
    for name, r in results.items():
        print(f"outcomes ({name}): {r['outcomes']}")
    print_budget(results["consumers"])


def one_round(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run of the consumers, in a process of its own, on the code of ``tree`` (this checkout, or a
    worktree of the ``--compare`` commit with this file copied in)."""
    command = [sys.executable, "-m", "benchmarks.consumer", "--json", "--scale", str(args.scale),
               "--seed", str(args.seed), "--prefetch", str(args.prefetch), "--namespace", args.namespace]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the run in {tree} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(args: argparse.Namespace) -> None:
    """Today's consumers and those of ``args.compare``, alternating, ``args.rounds`` times (see --compare)."""
    from benchmarks._worktree import alternate, checkout  # here: this file also runs inside old trees

    with checkout(args.compare) as tree:
        shutil.copy(Path(__file__), tree / "benchmarks" / "consumer.py")  # the same measuring code
        runs: dict[str, list[dict[str, Any]]] = {"now": [], args.compare: []}
        for r, name, where in alternate([("now", ROOT), (args.compare, tree)], args.rounds):
            runs[name].append(one_round(where, args))
            x = runs[name][-1]
            print(f"round {r + 1}: {name:>10} {x['cpu_ms']:6.2f} CPU ms/event ({x['user_ms']:.2f} user)  "
                  f"{x['statements']:5.2f} stmts  {x['xact']:4.2f} xact  {x['peak']:3d} conns  "
                  f"{x['events']} events", flush=True)
    median = {name: statistics.median(x["cpu_ms"] for x in xs) for name, xs in runs.items()}
    print(f"median CPU ms/event: now {median['now']:.2f}, {args.compare} {median[args.compare]:.2f}: "
          f"{args.compare}/now = {median[args.compare] / median['now']:.2f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="simulator sizes × this (30/40/60 at 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefetch", type=int, default=32)
    parser.add_argument("--compare", metavar="COMMIT",
                        help="also run the consumers as they were at COMMIT (e.g. 5bef8a3, where issue 12 "
                             "measured them), alternating with today's, each run a process of its own")
    parser.add_argument("--rounds", type=int, default=3, help="with --compare: runs of each (medians printed)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (scale 0.1) that only proves the script works")
    parser.add_argument("--namespace", default="bench_consumer",
                        help="suffix of the benchmark's own database (dropped at the end)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one --compare round
    parsed = parser.parse_args()
    if parsed.smoke:
        parsed.scale = 0.1
        parsed.rounds = 1
    if parsed.compare:
        if parsed.rounds < 1:
            parser.error("--rounds must be 1 or more")
        compare(parsed)
    else:  # the event loop `b24bridge consume` runs on (BRIDGE_EVENT_LOOP: uvloop unless told otherwise)
        with asyncio.Runner(loop_factory=event_loop_factory()) as loop:
            loop.run(main(parsed))
