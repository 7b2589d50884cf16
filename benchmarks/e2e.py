"""End to end: the 1C simulator's mix through the real ingest, relay, consumers and Bitrix24 sandbox.

    python -m benchmarks.e2e                          # 50, 100, 200 events/s for 60 s each, then the 2/s portal
    python -m benchmarks.e2e --rates 100 --duration 30 --consumers 2
    python -m benchmarks.e2e --skip-limited           # only the fixed-rate runs
    python -m benchmarks.e2e --smoke                  # seconds: what the CI smoke test runs
    python -m benchmarks.e2e --rates 50,100 --consumers 2 --compare 5bef8a3   # beside another commit
    python -m benchmarks.e2e --rates 100,200 --consumers 1,2 --rounds 2 --skip-limited   # 1 process against 2

Every component runs as its own process, as in production (``b24bridge ingest``, ``relay``, ``consume`` ×
``--consumers``, and the sandbox portal), so the CPU each one spends per event is read from
``/proc/<pid>/stat``.  The simulator's business days (orders, invoices, payments, shipments, with the
counterparties and products they bring) are posted through the ingest at a fixed rate, in requests of a
tenth of a second's events.

**Fixed rates** (the portal without a rate limit, so the bridge itself is measured).  Per rate:

- latency from the ingest's 200 to the moment a consumer applied the event, read from the histogram the
  consumers export, ``bridge_consumer_apply_latency_seconds`` (its buckets, interpolated as Prometheus'
  ``histogram_quantile`` does: p50/p95/p99); "max" is the longest ``inbox.processed_at − outbox.received_at``
  of the phase (the start of the applying transaction, so a little short);
- the backlog (events accepted but not yet handled) sampled every second: at the end of sending, its
  slope over the second half, and the time to drain it after sending stopped; a rate is *sustained* when the
  backlog rose by at most 5 % of the rate per second over the second half of the sending (orders that wait
  5 s for their counterparty keep a steady backlog of several seconds of events, which is not growth);
- peak PostgreSQL connections to the bridge's database (``pg_stat_activity``, sampled every 0.25 s);
- CPU milliseconds per event of each process.

**Portal at 2 requests/s** (burst 50, the cloud limit): the base of ``--limited-products`` products and the
counterparties of the orders is loaded first, then every product is exported again with a new price
while one customer order per ``--deal-interval`` seconds arrives: the orders' p95 latency (target ≤ 5 s) is
what a manager waits for a new deal while a repricing drains.  Run with the default prefetch and with the
first-load prefetch (``--limited-prefetch``, 32 and 80).

**Beside another commit** (``--compare COMMIT [--rounds N]``, fixed rates only): the same phases on the
ingest, relay and consumers of COMMIT — a detached git worktree; its own migrations make the database and
its own ``portal setup`` the mapping; the sandbox and this harness are today's — and on today's, the sides
alternating which goes first, each round on a fresh database and vhost (``…_old`` for COMMIT's side).
Then per rate the consumers' CPU per event of each side (medians over the phases that drained) and the
ratio.  What an older commit does not export (the apply-latency histogram: its p50/p95/p99 print as
``-``; lease waits, hand-overs) is left out.  A side that fails is reported and the run goes on; it exits
non-zero only when a side measured nothing.  Where an older commit dead-letters into RabbitMQ rather than a
``dead_letters`` table, an event it dead-letters never counts as handled, and its phase ends "not drained".

**One consumer process against several** (``--consumers 1,2 [--rounds N]``, fixed rates): the same phases with
each count of consumer processes, the counts alternating which goes first, each on a fresh database and vhost;
then per rate the consumers' CPU per event of each count (medians over the phases that drained), the events
each process received per second, and the ratio to the first count.  A process's CPU per event falls as more
events reach it at once (docs/performance.md, "CPU per event and the events each process sees"), so this is
how to read the cost of adding a replica on one host.

Needs PostgreSQL and RabbitMQ with the management plugin; a database ``<name>_<namespace>`` and a vhost
``b24bridge-<namespace>`` are recreated, and dropped at the end.  ``--json FILE`` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from bridge.settings import Settings

from .initial_load import SOURCE, Portal, _free_port, say
from ._worktree import ROOT

LATENCY = "bridge_consumer_apply_latency_seconds"
LEASE_WAIT = "bridge_consumer_lease_wait_seconds"
HAND_OVERS = "bridge_consumer_hand_overs"  # the counter's family name (samples end in _total)
CLK_TCK = os.sysconf("SC_CLK_TCK")
HANDLED = "SELECT (SELECT count(DISTINCT event_id) FROM inbox) + (SELECT count(*) FROM dead_letters)"
HANDLED_INBOX = "SELECT count(DISTINCT event_id) FROM inbox"  # older commits (--compare) have no dead_letters


# --- processes ---------------------------------------------------------------------------------------------


def _stat(pid: int | str) -> tuple[str, float]:
    """A process's name and utime + stime in seconds (fields 2, 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        head, _, tail = f.read().rpartition(")")
    fields = tail.split()
    return head.partition("(")[2], (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    return _stat(pid)[1]


def servers_cpu() -> dict[str, float]:
    """CPU seconds so far of every PostgreSQL process (server, backends, autovacuum: the whole server, not
    only the bridge's database; the bench runs alone) and of RabbitMQ's VM, keyed ``postgres:<pid>`` /
    ``rabbitmq:<pid>`` so a backend that starts during a phase counts from zero."""
    out: dict[str, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            comm, seconds = _stat(entry.name)
        except OSError:
            continue  # gone meanwhile
        server = "postgres" if comm == "postgres" else "rabbitmq" if comm.startswith("beam") else None
        if server is not None:
            out[f"{server}:{entry.name}"] = seconds
    return out


class Bridge:
    """ingest, relay and consumers, each a ``b24bridge`` process, against one portal."""

    def __init__(self, dsn: str, amqp_url: str, webhook_url: str, mapping_file: Path, *, consumers: int,
                 prefetch: int | None, rate: float, burst: int, code: Path = ROOT, relay: bool = True) -> None:
        self.code = code  # the checkout whose ``b24bridge`` runs: this one, or another (--compare)
        self.token = secrets.token_urlsafe(24)
        self._ports: set[int] = set()  # handed to processes that may not listen yet (see _port)
        self.ingest_port = self._port()
        self.ingest_url = f"http://127.0.0.1:{self.ingest_port}"
        self.env = {**os.environ, "BRIDGE_DATABASE_URL": dsn, "BRIDGE_AMQP_URL": amqp_url,
                    "BRIDGE_B24_WEBHOOK_URL": webhook_url, "BRIDGE_INGEST_TOKENS": self.token,
                    "BRIDGE_INGEST_HOST": "127.0.0.1", "BRIDGE_INGEST_PORT": str(self.ingest_port),
                    "BRIDGE_MAPPING_FILE": str(mapping_file), "BRIDGE_LOG_LEVEL": "WARNING",
                    "BRIDGE_B24_RATE_PER_SECOND": str(rate), "BRIDGE_B24_RATE_BURST": str(burst),
                    "BRIDGE_RELAY_METRICS_PORT": str(self._port())}
        if prefetch:
            self.env["BRIDGE_CONSUMER_PREFETCH"] = str(prefetch)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(code), os.environ.get("PYTHONPATH"))))
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = Path(tempfile.mkdtemp(prefix="b24bridge-e2e-logs-"))  # a pipe nobody reads would block them
        self.metrics_urls: list[str] = []
        try:
            self._start("ingest", ["ingest", "--port", str(self.ingest_port)])
            if relay:  # False: the caller starts it later (start_relay), e.g. over a backlog
                self.start_relay()
            for i in range(consumers):
                self.start_consumer(i)
            self._wait(f"{self.ingest_url}/healthz")
            for url in self.metrics_urls:
                self._wait(url)
        except BaseException:  # those already started would outlive the run (a relay reconnects for ever)
            self.close()
            raise

    def start_relay(self) -> None:
        self._start("relay", ["relay"])

    def _port(self) -> int:
        """A free port none of this run's processes was given: one given to a process still starting is
        free to the kernel, and a consumer's /healthz given the ingest's port answered for an ingest that
        could not bind it (every post then a 404)."""
        port = _free_port()
        while port in self._ports:
            port = _free_port()
        self._ports.add(port)
        return port

    def start_consumer(self, i: int, prefetch: int | None = None) -> None:
        port = self._port()
        env = {"BRIDGE_CONSUMER_METRICS_PORT": str(port)}
        if prefetch:
            env["BRIDGE_CONSUMER_PREFETCH"] = str(prefetch)
        self._start(f"consumer-{i + 1}", ["consume"], env)
        self.metrics_urls.append(f"http://127.0.0.1:{port}/metrics")

    def restart_consumers(self, prefetch: int) -> None:
        names = [n for n in self.procs if n.startswith("consumer-")]
        for name in names:
            self._stop(self.procs.pop(name))
        self.metrics_urls = []
        for i in range(len(names)):
            self.start_consumer(i, prefetch)
        for url in self.metrics_urls:
            self._wait(url)

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "bridge.cli", *args], cwd=self.code,
                                                env={**self.env, **(env or {})}, stdout=log, stderr=log)

    def _wait(self, url: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    text = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited: {text}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not answer")

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(p.pid) for name, p in self.procs.items()}

    def _samples(self, family_name: str):
        """Every consumer's samples of one metric family (read now)."""
        for url in self.metrics_urls:
            for family in text_string_to_metric_families(_get(url)):
                if family.name == family_name:
                    yield from family.samples

    def latency_buckets(self) -> dict[str, dict[float, float]]:
        """Cumulative bucket counts of the apply-latency histogram, per entity, summed over consumers."""
        out: dict[str, dict[float, float]] = {}
        for sample in self._samples(LATENCY):
            if sample.name == LATENCY + "_bucket":
                le = float(sample.labels["le"])
                entity = out.setdefault(sample.labels["entity"], {})
                entity[le] = entity.get(le, 0.0) + sample.value
        return out

    def lease_waits(self) -> dict[str, tuple[float, float]]:
        """Lease waits so far, summed over consumers: holder → (waits, seconds waited)."""
        out: dict[str, tuple[float, float]] = {}
        for sample in self._samples(LEASE_WAIT):
            n, seconds = out.get(sample.labels["holder"], (0.0, 0.0))
            if sample.name == LEASE_WAIT + "_count":
                n += sample.value
            elif sample.name == LEASE_WAIT + "_sum":
                seconds += sample.value
            out[sample.labels["holder"]] = (n, seconds)
        return out

    def hand_overs(self) -> dict[str, float]:
        """Documents that handed their order's recompute to the push holding it, so far: holder → count
        (absent before the hand-over existed: the code before it is measured with this file too)."""
        out: dict[str, float] = {}
        for sample in self._samples(HAND_OVERS):
            if sample.name == HAND_OVERS + "_total":
                out[sample.labels["holder"]] = out.get(sample.labels["holder"], 0.0) + sample.value
        return out

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()

    def close(self) -> None:
        for proc in self.procs.values():
            self._stop(proc)


def _get(url: str) -> str:
    """A consumer's /metrics (its loop may be busy for seconds on this shared machine: ask again)."""
    for attempt in range(5):
        try:
            return httpx.get(url, timeout=30).text
        except httpx.HTTPError:
            if attempt == 4:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative ``le → count`` buckets (linear within a bucket)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    prev_bound, prev_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            return prev_bound + (bound - prev_bound) * ((rank - prev_count) / max(count - prev_count, 1e-9))
        prev_bound, prev_count = bound, count
    return prev_bound


def diff_buckets(after: dict[str, dict[float, float]], before: dict[str, dict[float, float]],
                 entities: set[str] | None = None) -> dict[float, float]:
    total: dict[float, float] = {}
    for entity, buckets in after.items():
        if entities is not None and entity not in entities:
            continue
        for le, count in buckets.items():
            total[le] = total.get(le, 0.0) + count - before.get(entity, {}).get(le, 0.0)
    return total


# --- measuring one phase ----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    rate: float
    events: int
    send_seconds: float = 0.0
    drain_seconds: float = 0.0
    backlog_end: int = 0
    backlog_slope: float = 0.0  # events/s over the second half of the sending
    peak_connections: int = 0
    applied: float = 0.0  # histogram observations
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)
    p95_by_entity: dict[str, float | None] = field(default_factory=dict)
    exact: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # entity → p50/p95/p99, seconds
    lease_waits: dict[str, tuple[float, float]] = field(default_factory=dict)  # holder → waits, seconds
    hand_overs: dict[str, float] = field(default_factory=dict)  # holder → documents handed over
    note: str = ""

    @property
    def drained(self) -> bool:
        """Every event of the phase was handled before the drain timeout (its CPU per event is whole)."""
        return not self.note.startswith("not drained")

    @property
    def sustained(self) -> bool:
        """The backlog did not grow: over the second half of the sending it rose by at most 5 % of the rate
        per second (events waiting 5 s for their counterparty keep a steady backlog of a few seconds)."""
        return self.backlog_slope <= max(0.05 * self.rate, 1.0) and self.drained

    def row(self) -> str:
        def ms(v: float | None) -> str:
            return f"{v * 1000:8.0f}" if v is not None else f"{'-':>8}"

        cpu = " ".join(f"{self.cpu_ms.get(k, 0):6.2f}" for k in CPU_COLUMNS)
        return (f"{self.name:<22} {self.events / max(self.send_seconds, 1e-9):7.1f} {ms(self.p50)} {ms(self.p95)}"
                f" {ms(self.p99)} {ms(self.max)} {self.backlog_end:8d} {self.backlog_slope:7.1f}"
                f" {self.drain_seconds:7.1f} {'yes' if self.sustained else 'NO':>5} {self.peak_connections:6d}  {cpu}"
                f"  {self.note}")


CPU_COLUMNS = ("ingest", "relay", "consumers", "sandbox", "postgres", "rabbitmq")
HEADER = (f"{'':<22} {'ev/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'backlog':>8}"
          f" {'slope':>7} {'drain s':>7} {'kept':>5} {'PG con':>6}  "
          + " ".join(f"{c[:6]:>6}" for c in CPU_COLUMNS) + "  (CPU ms per event)")


async def run_phase(name: str, rate: float, events: list[dict[str, Any]], bridge: Bridge, portal: Portal,
                    pool: asyncpg.Pool, db_name: str, drain_timeout: float, *,
                    entities: set[str] | None = None, background: list[dict[str, Any]] | None = None,
                    background_rate: float = 0.0) -> Phase:
    """Post ``events`` at ``rate`` (and ``background`` at ``background_rate`` beside them), wait until all are
    handled, and measure.  Latency is of ``entities`` (default: all)."""
    from onec_outbox.simulator.sender import SendOptions, send

    total = len(events) + len(background or [])
    phase = Phase(name, rate, len(events))
    no_dead_letters = await pool.fetchval("SELECT to_regclass('dead_letters') IS NULL")
    handled_sql = HANDLED_INBOX if no_dead_letters else HANDLED
    handled0 = await pool.fetchval(handled_sql)
    buckets0 = bridge.latency_buckets()
    waits0, handed0 = bridge.lease_waits(), bridge.hand_overs()
    cpu0 = {**bridge.cpu(), "sandbox": cpu_seconds(portal._proc.pid), **servers_cpu()}
    sending = True
    backlog: list[tuple[float, int]] = []
    peak = 0
    started = time.monotonic()
    accepted = [0]

    async def sample_connections() -> None:
        nonlocal peak
        while True:
            n = await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db_name)
            peak = max(peak, n)
            await asyncio.sleep(0.25)

    async def sample_backlog() -> None:
        while sending:
            handled = await pool.fetchval(handled_sql) - handled0
            backlog.append((time.monotonic() - started, accepted[0] - handled))
            await asyncio.sleep(1.0)

    def progress(report) -> None:
        accepted[0] = report.delivered

    async def post(batch: list[dict[str, Any]], r: float, counter: bool) -> None:
        options = SendOptions(batch_size=max(1, min(500, round(r / 10))), rate=r, timeout=120)
        report = await send(batch, url=bridge.ingest_url, token=bridge.token, options=options,
                            progress=progress if counter else None)
        report.raise_for_problems()

    samplers = [asyncio.create_task(sample_connections()), asyncio.create_task(sample_backlog())]
    try:
        sends = [post(events, rate, True)]
        if background:
            sends.append(post(background, background_rate, False))
        await asyncio.gather(*sends)
        phase.send_seconds = time.monotonic() - started
        handled = await pool.fetchval(handled_sql) - handled0
        phase.backlog_end = max(0, len(events) - handled)
        sending = False
        half = [(t, b) for t, b in backlog if t >= phase.send_seconds / 2]
        if len(half) >= 2:
            phase.backlog_slope = (half[-1][1] - half[0][1]) / max(half[-1][0] - half[0][0], 1e-9)
        drain_started = time.monotonic()
        deadline = drain_started + drain_timeout
        while await pool.fetchval(handled_sql) - handled0 < total:
            if time.monotonic() > deadline:
                phase.note = f"not drained after {drain_timeout:.0f} s"
                break
            await asyncio.sleep(0.2)
        phase.drain_seconds = time.monotonic() - drain_started
        await asyncio.sleep(1.5)  # the last observations reach /metrics
    finally:
        sending = False
        for task in samplers:
            task.cancel()
        await asyncio.gather(*samplers, return_exceptions=True)
    phase.peak_connections = peak
    buckets1 = bridge.latency_buckets()
    latency = diff_buckets(buckets1, buckets0, entities)
    phase.p95_by_entity = {e: quantile(0.95, diff_buckets(buckets1, buckets0, {e})) for e in sorted(buckets1)}
    phase.applied = max(latency.values(), default=0.0)
    phase.p50, phase.p95, phase.p99 = (quantile(q, latency) for q in (0.5, 0.95, 0.99))
    ids = [e["event_id"] for e in events if entities is None or e["event_type"].split(".")[0] in entities]
    # "max" and the same quantiles without the histogram's buckets (0.3 → 0.5 s is one bucket), from each
    # event's inbox row (when the applying transaction began, so a little short) and its outbox row
    for r in await pool.fetch(
            "SELECT coalesce(o.entity, 'all') AS entity, max(extract(epoch FROM i.processed_at - o.received_at))"
            "::float8 AS max, percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM i.processed_at - o.received_at))::float8[] AS q FROM inbox i "
            "JOIN outbox o USING (event_id) WHERE o.event_id = ANY($1::uuid[]) GROUP BY ROLLUP (o.entity)", ids):
        if r["entity"] == "all":
            phase.max = r["max"]
        if r["q"] is not None:  # ROLLUP's total row is there, NULL, when nothing was applied
            phase.exact[r["entity"]] = tuple(r["q"])
    waits1 = bridge.lease_waits()
    phase.hand_overs = {h: n - handed0.get(h, 0.0) for h, n in bridge.hand_overs().items()}
    phase.lease_waits = {h: (n - waits0.get(h, (0, 0))[0], sec - waits0.get(h, (0, 0))[1])
                         for h, (n, sec) in waits1.items()}
    cpu1 = {**bridge.cpu(), "sandbox": cpu_seconds(portal._proc.pid), **servers_cpu()}
    spent: dict[str, float] = {}
    for proc, seconds in cpu1.items():
        column = "consumers" if proc.startswith("consumer-") else proc.partition(":")[0]
        started = cpu0.get(proc, 0.0 if ":" in proc else seconds)  # a server process born meanwhile: all of it
        spent[column] = spent.get(column, 0.0) + seconds - started
    phase.cpu_ms = {k: v * 1000 / max(total, 1) for k, v in spent.items()}
    return phase


# --- the events ---------------------------------------------------------------------------------------------


def mix(seed: int, count: int) -> list[dict[str, Any]]:
    """At least ``count`` events of the simulator's business days, in the order 1C emits them."""
    from onec_outbox.simulator.scenario import ScenarioConfig, Sizes, generate

    orders = max(10, math.ceil(count / 3.8))
    for _ in range(5):  # events per order vary with the seed and the calendar: ask for more until enough
        sizes = Sizes(counterparties=max(5, orders // 10), products=max(5, orders // 6), orders=orders)
        run = generate(ScenarioConfig(seed=seed, sizes=sizes, days=min(250, max(1, orders // 50))))
        if len(run.events) >= count:
            return [dict(e, event_id=str(uuid.uuid4())) for e in run.events]
        orders = math.ceil(orders * count / max(len(run.events), 1)) + 1
    raise RuntimeError(f"the simulator made {len(run.events)} events, {count} wanted")


def card_events(cards, entity: str, version: int, *, reprice: int = 0) -> list[dict[str, Any]]:
    occurred = datetime.fromtimestamp(version / 1000, UTC).isoformat(timespec="seconds")
    out = []
    for card in cards:
        payload = card.payload
        if reprice and payload.get("sale_price"):
            amount = Decimal(payload["sale_price"]["amount"]) + reprice
            payload = {**payload, "sale_price": {**payload["sale_price"], "amount": f"{amount:.2f}"}}
        out.append({"event_id": str(uuid.uuid4()), "event_type": f"{entity}.upserted", "source": SOURCE,
                    "entity_id": card.id, "version": version, "occurred_at": occurred, "payload": payload})
    return out


# --- the runs ---------------------------------------------------------------------------------------------


async def setup(args: argparse.Namespace, suffix: str, rate: float, burst: int, code: Path | None = None):
    """A database, a vhost and a portal of this run's own; :func:`teardown` drops them (a backlog left in a
    vhost would weigh on the node for every later run).  With ``code`` (another checkout), its own demo
    helpers migrate the database and set the portal up, so the schema and mapping are that code's."""
    from bridge.demo import database_for, fresh_database, fresh_vhost, prepare_portal

    settings = Settings()
    amqp_url = await fresh_vhost(settings.amqp_url.get_secret_value(), args.rabbitmq_api,
                                 f"b24bridge-{args.namespace}{suffix}")
    portal = Portal(rate, burst)
    try:
        if code is None:
            dsn = await fresh_database(settings.database_url.get_secret_value(), f"_{args.namespace}{suffix}")
            _, text = await prepare_portal(portal.webhook_url, None)
        else:
            dsn, text = _prepare_with(code, f"_{args.namespace}{suffix}", portal.webhook_url)
    except BaseException:  # nothing of the run may outlive it: the sandbox, the vhost, the database
        portal.close()
        await teardown(args, suffix, database_for(settings.database_url.get_secret_value(),
                                                  f"_{args.namespace}{suffix}"))
        raise
    mapping_file = Path(tempfile.mkdtemp(prefix="b24bridge-e2e-")) / "mapping.yaml"
    mapping_file.write_text(text, encoding="utf-8")
    return dsn, amqp_url, portal, mapping_file


def _prepare_with(code: Path, suffix: str, webhook_url: str) -> tuple[str, str]:
    """The database DSN and mapping text that ``code``'s ``fresh_database`` and ``prepare_portal`` make."""
    script = ("import asyncio, json, os, bridge\n"
              "from bridge.demo import fresh_database, prepare_portal\n"
              "async def main():\n"
              "    dsn = await fresh_database(os.environ['BRIDGE_DATABASE_URL'], os.environ['E2E_SUFFIX'])\n"
              "    _, text = await prepare_portal(os.environ['E2E_WEBHOOK'], None)\n"
              "    print(json.dumps([bridge.__file__, dsn, text]))\n"
              "asyncio.run(main())\n")
    env = {**os.environ, "PYTHONPATH": str(code), "E2E_SUFFIX": suffix, "E2E_WEBHOOK": webhook_url,
           "BRIDGE_DATABASE_URL": Settings().database_url.get_secret_value()}
    done = subprocess.run([sys.executable, "-c", script], cwd=code, env=env, capture_output=True, text=True,
                          check=False, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"setting up with the code in {code} failed:\n{done.stderr[-3000:]}")
    module, dsn, text = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(module).resolve().is_relative_to(code.resolve()):
        raise RuntimeError(f"the code in {code} was not the one imported: bridge came from {module}")
    return dsn, text


async def close_all(args: argparse.Namespace, suffix: str, dsn: str, pool: asyncpg.Pool | None,
                    bridge: Bridge | None, portal: Portal) -> None:
    """What a run made, in order: its pool, its processes, the sandbox, then the database and vhost."""
    if pool is not None:
        await pool.close()
    if bridge is not None:
        bridge.close()
    portal.close()
    await teardown(args, suffix, dsn)


async def teardown(args: argparse.Namespace, suffix: str, dsn: str) -> None:
    from bridge.demo import drop_database, drop_vhost

    settings = Settings()
    await drop_vhost(settings.amqp_url.get_secret_value(), args.rabbitmq_api, f"b24bridge-{args.namespace}{suffix}")
    await drop_database(settings.database_url.get_secret_value(), dsn)


async def fixed_rates(args: argparse.Namespace, code: Path | None = None, label: str = "",
                      phases: list[Phase] | None = None, suffix: str = "", consumers: int | None = None) -> list[Phase]:
    """The fixed-rate phases, on this checkout's processes or (``code``) another's, with ``consumers``
    processes (default: the first of ``--consumers``); ``label`` names them.  Each measured phase is appended
    to ``phases`` as it ends (kept if a later one fails)."""
    consumers = consumers or args.consumers[0]
    dsn, amqp_url, portal, mapping_file = await setup(args, suffix, 0, 0, code)
    bridge = pool = None
    try:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3)
        bridge = Bridge(dsn, amqp_url, portal.webhook_url, mapping_file, consumers=consumers,
                        prefetch=args.prefetch, rate=1000, burst=1000, code=code or ROOT)
        counts = [round(r * args.duration) for r in args.rates]
        events = mix(args.seed, sum(counts) + args.warmup)
        db_name = dsn.rsplit("/", 1)[1].split("?")[0]
        phases = [] if phases is None else phases
        if args.warmup:
            say(f"warm-up: {args.warmup} events at {args.rates[0]:g}/s (not counted)")
            await run_phase("warm-up", args.rates[0], events[: args.warmup], bridge, portal, pool, db_name,
                            args.drain_timeout)
        at = args.warmup
        for rate, n in zip(args.rates, counts, strict=True):
            say(f"{rate:g} events/s for {n / rate:.0f} s ({n} events), {consumers} consumer process(es)")
            name = f"{label} {rate:g}/s" if label else f"{rate:g}/s × {consumers} cons."
            phase = await run_phase(name, rate, events[at: at + n], bridge, portal, pool, db_name, args.drain_timeout)
            say("  " + phase.row())
            say("  p95 by entity (ms): " + ", ".join(f"{e} {v * 1000:.0f}" for e, v in phase.p95_by_entity.items()
                                                  if v is not None))
            say("  exact p50/p95/p99 from the inbox and outbox rows (ms): " + ", ".join(
                f"{e} {'/'.join(f'{q * 1000:.0f}' for q in qs)}" for e, qs in sorted(phase.exact.items())))
            if phase.lease_waits:  # (a metric older commits lack, as the apply-latency histogram)
                say("  lease waits (events queued on a 1C object another push holds): " + ", ".join(
                    f"{holder.replace('_', ' ')} {n:.0f} waits, {sec:.1f} s" for holder, (n, sec)
                    in sorted(phase.lease_waits.items())))
            if phase.hand_overs:
                say("  hand-overs (documents that left their order's recompute to the push holding it): " + ", ".join(
                    f"{holder.replace('_', ' ')} {n:.0f}" for holder, n in sorted(phase.hand_overs.items())))
            phases.append(phase)
            at += n
        return phases
    finally:
        await close_all(args, suffix, dsn, pool, bridge, portal)


async def limited(args: argparse.Namespace) -> list[Phase]:
    """Deals while a repricing of every product drains through a portal at 2 requests/s."""
    from onec_outbox.simulator.scenario import ScenarioConfig, Sizes, generate

    dsn, amqp_url, portal, mapping_file = await setup(args, "_limited", 2.0, 50)
    bridge = None
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3)
    try:
        prefetches = args.limited_prefetch
        bridge = Bridge(dsn, amqp_url, portal.webhook_url, mapping_file, consumers=1, prefetch=prefetches[0],
                        rate=2.0, burst=50)
        db_name = dsn.rsplit("/", 1)[1].split("?")[0]
        n = args.limited_products
        deals_wanted = max(3, math.ceil(n / 40 / args.deal_interval) + 10)  # enough for the drain
        run = generate(ScenarioConfig(seed=args.seed, sizes=Sizes(counterparties=max(5, deals_wanted // 4),
                                                                   products=n, orders=deals_wanted * len(prefetches)),
                                      days=min(250, max(1, deals_wanted // 20))))
        orders = [dict(e, event_id=str(uuid.uuid4())) for e in run.events if e["event_type"] == "customer_order.upserted"]
        seen: set[str] = set()
        firsts = [e for e in orders if not (e["entity_id"] in seen or seen.add(e["entity_id"]))]
        base = card_events(run.world.counterparties, "counterparty", 1_000_000) + card_events(
            run.world.products, "product", 1_000_000)
        say(f"portal at 2/s: loading {len(run.world.products)} products and {len(run.world.counterparties)} "
            "counterparties first")
        load = await run_phase("base load", 1000, base, bridge, portal, pool, db_name, args.limited_timeout)
        say(f"  loaded in {load.send_seconds + load.drain_seconds:.0f} s")
        phases = []
        for i, prefetch in enumerate(prefetches):
            if i:
                bridge.restart_consumers(prefetch)
            deals = firsts[i * deals_wanted:(i + 1) * deals_wanted]
            updates = card_events(run.world.products, "product", 2_000_000 + i, reprice=i + 1)
            say(f"prefetch {prefetch}: {len(updates)} product updates at once, a customer order every "
                f"{args.deal_interval:g} s")
            deal_rate = 1 / args.deal_interval
            # the updates are posted first (as 1C's exchange would, in requests of 500), the orders trickle
            phase = await run_phase(f"deals, prefetch {prefetch}", deal_rate, deals, bridge, portal, pool, db_name,
                                    args.limited_timeout, entities={"customer_order"}, background=updates,
                                    background_rate=5000)
            phase.note = f"{len(deals)} orders during {len(updates)} product updates; " + phase.note
            say("  " + phase.row())
            phases.append(phase)
        return phases
    finally:
        await close_all(args, "_limited", dsn, pool, bridge, portal)


def consumer_cpu(rounds: list[list[Phase]], i: int) -> list[float]:
    """The consumers' CPU ms per event of the ``i``-th rate in each round whose phase drained (one that did
    not has not counted all its events' work)."""
    return [ps[i].cpu_ms.get("consumers", 0.0) for ps in rounds if len(ps) > i and ps[i].drained]


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """The fixed rates on today's processes and on those of ``args.compare`` (a git worktree of it: its
    ingest, relay, consumers, migrations and mapping; the sandbox and this harness are today's), alternating
    which side goes first, ``args.rounds`` times; prints every phase and, per rate, the consumers' CPU per
    event of each side (medians over the phases that drained) and their ratio."""
    from ._worktree import alternate, checkout, short

    old = short(args.compare)
    runs: dict[str, list[list[Phase]]] = {"now": [], old: []}
    errors: list[str] = []
    with checkout(args.compare) as tree:
        for r, name, code in alternate([("now", None), (old, tree)], args.rounds):
            say(f"round {r + 1}: {name} ({'this checkout' if code is None else f'processes run from {code}'})")
            runs[name].append([])
            try:  # each side a database and vhost of its own: nothing one leaves can reach the other
                asyncio.run(fixed_rates(args, code, label=f"{name} r{r + 1}", phases=runs[name][-1],
                                        suffix="" if code is None else "_old"))
            except Exception as exc:  # noqa: BLE001 - old code may not survive a rate: say so, go on
                errors.append(f"round {r + 1}, {name}: {type(exc).__name__}: {str(exc)[:500]}")
                say(f"round {r + 1}: {name} stopped after {len(runs[name][-1])} phase(s): {errors[-1]}")
    say("")
    say(HEADER)
    for rounds in runs.values():
        for phases in rounds:
            for phase in phases:
                say(phase.row())
    medians: dict[str, dict[str, float]] = {}
    for i, rate in enumerate(args.rates):
        cpu = {name: consumer_cpu(rounds, i) for name, rounds in runs.items()}
        if not cpu["now"] or not cpu[old]:
            say(f"{rate:g}/s: not measured on both sides (a phase that did not drain does not count)")
            continue
        medians[f"{rate:g}"] = m = {name: statistics.median(xs) for name, xs in cpu.items()}
        say(f"{rate:g}/s, consumers' CPU ms per event (median of {len(cpu['now'])} / {len(cpu[old])}): "
            f"now {m['now']:.2f}, {old} {m[old]:.2f}: {old}/now = {m[old] / max(m['now'], 1e-9):.2f}×")
    return {"commit": old, "sides": runs, "medians": medians, "errors": errors}


def process_counts(args: argparse.Namespace) -> dict[str, Any]:
    """The fixed rates with each count of consumer processes in ``args.consumers``, the counts alternating
    which goes first, ``args.rounds`` times: every count's phases, and per rate the consumers' CPU per event
    of each count (medians over the phases that drained) as lines to print after the table."""
    from ._worktree import alternate

    runs: dict[int, list[list[Phase]]] = {c: [] for c in args.consumers}
    errors: list[str] = []
    for r, name, count in alternate([(f"{c} cons.", c) for c in args.consumers], args.rounds):
        say(f"round {r + 1}: {name}")
        runs[count].append([])
        try:  # a fresh database and vhost each time: nothing one count leaves can reach the other
            asyncio.run(fixed_rates(args, label=f"{name} r{r + 1}", phases=runs[count][-1], consumers=count))
        except Exception as exc:  # noqa: BLE001 - report it, measure the other counts
            errors.append(f"round {r + 1}, {name}: {type(exc).__name__}: {str(exc)[:500]}")
            say(f"round {r + 1}: {name} stopped after {len(runs[count][-1])} phase(s): {errors[-1]}")
    medians: dict[str, dict[str, float]] = {}
    lines: list[str] = []
    first = args.consumers[0]
    for i, rate in enumerate(args.rates):
        cpu = {c: consumer_cpu(rounds, i) for c, rounds in runs.items()}
        m = {c: statistics.median(xs) for c, xs in cpu.items() if xs}
        medians[f"{rate:g}"] = {str(c): v for c, v in m.items()}
        lines.append(f"{rate:g}/s, consumers' CPU ms per event (median): " + ", ".join(
            f"{c} process{'es' if c > 1 else ''} ({rate / c:g}/s each) {v:.2f}"
            + (f" = {v / m[first]:.2f}× {first}'s" if c != first and first in m else "")
            for c, v in m.items()) + "".join(f"; {c}: no phase drained" for c in cpu if c not in m))
    return {"sides": runs, "medians": medians, "lines": lines, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,100,200", help="events per second, comma-separated")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending per rate")
    parser.add_argument("--warmup", type=int, default=200, help="events sent first and not measured")
    parser.add_argument("--consumers", default="1",
                        help="consumer processes; several counts, comma-separated (1,2), run the fixed rates with each")
    parser.add_argument("--prefetch", type=int, help="BRIDGE_CONSUMER_PREFETCH (default: the setting's)")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--skip-limited", action="store_true", help="no run against the 2/s portal")
    parser.add_argument("--skip-rates", action="store_true", help="only the run against the 2/s portal")
    parser.add_argument("--limited-products", type=int, default=10_000)
    parser.add_argument("--limited-prefetch", default="32,80", help="consumer prefetches to try at 2/s")
    parser.add_argument("--deal-interval", type=float, default=2.0, help="seconds between customer orders")
    parser.add_argument("--limited-timeout", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="a few seconds of everything (CI smoke test)")
    parser.add_argument("--namespace", default="bench_e2e")
    parser.add_argument("--rabbitmq-api", help="management API URL (default: http://<amqp host>:15672/api)")
    parser.add_argument("--compare", metavar="COMMIT",
                        help="run the fixed rates also on the ingest, relay and consumers of COMMIT (a git "
                             "worktree; 5bef8a3 is where issue 12 measured), alternating; no 2/s portal run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="with --compare or several --consumers: runs of each side or count (medians)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the component processes go too
    if args.smoke:
        args.rates, args.duration, args.warmup = "20", 3.0, 10
        args.limited_products, args.limited_prefetch, args.deal_interval = 60, "16", 0.5
        args.drain_timeout = args.limited_timeout = 180.0
    args.rates = [float(r) for r in str(args.rates).split(",") if r.strip()]
    args.limited_prefetch = [int(p) for p in str(args.limited_prefetch).split(",") if p.strip()]
    try:
        args.consumers = list(dict.fromkeys(int(c) for c in str(args.consumers).split(",") if c.strip()))
    except ValueError:
        parser.error(f"--consumers: whole numbers, comma-separated, not {args.consumers!r}")
    if not args.consumers or min(args.consumers) < 1:
        parser.error("--consumers: one or more counts of at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if len(args.consumers) > 1 and args.compare:
        parser.error("--compare runs one count of consumer processes: give --consumers one number")
    if args.compare:
        result = compare(args)
        sides = {name: [[p.__dict__ | {"sustained": p.sustained} for p in ps] for ps in rounds]
                 for name, rounds in result["sides"].items()}
        if args.json:
            args.json.write_text(json.dumps({"compare": {**result, "sides": sides}}, indent=2, default=str),
                                 encoding="utf-8")
        if not all(any(rounds) for rounds in sides.values()):
            raise SystemExit("a side measured nothing: " + "; ".join(result["errors"]))
        return
    phases: list[Phase] = []
    counts: dict[str, Any] | None = None
    if not args.skip_rates and len(args.consumers) > 1:
        counts = process_counts(args)
        phases = [p for rounds in counts["sides"].values() for ps in rounds for p in ps]
    elif not args.skip_rates:
        phases += asyncio.run(fixed_rates(args))
    slow: list[Phase] = []
    if not args.skip_limited:
        slow = asyncio.run(limited(args))
    say("")
    say(HEADER)
    for phase in phases + slow:
        say(phase.row())
    groups = ({f" with {c} consumer process{'es' if c > 1 else ''}": [p for ps in rounds for p in ps]
               for c, rounds in counts["sides"].items()} if counts is not None else {"": phases})
    for which, group in groups.items():
        kept = [p.rate for p in group if p.sustained]
        if group:
            say(f"highest rate sustained{which} (backlog not growing by more than 5 % of the rate per second): "
                f"{max(kept):g} events/s" if kept else f"no rate sustained{which}")
    for line in counts["lines"] if counts is not None else ():
        say(line)
    if args.json:
        figures: dict[str, Any] = {"rates": [p.__dict__ | {"sustained": p.sustained} for p in phases],
                                   "limited": [p.__dict__ for p in slow]}
        if counts is not None:
            figures["consumers"] = {"medians": counts["medians"], "errors": counts["errors"]}
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    if counts is not None and not all(any(rounds) for rounds in counts["sides"].values()):
        raise SystemExit("a count of consumer processes measured nothing: " + "; ".join(counts["errors"]))


if __name__ == "__main__":
    main()
