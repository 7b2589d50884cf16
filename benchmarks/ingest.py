"""Ingest throughput: events/s through POST /v1/events in batches of 500, against a baseline in the same run.

    python benchmarks/ingest.py                       # 20,000 events, batches of 500, 1 and 4 senders
    python benchmarks/ingest.py --n 5000 --batch 1000
    python -m benchmarks.ingest --smoke        # 400 events: checks it runs (CI)

The events are a realistic mix from the 1C simulator (counterparties with addresses, accounts and contact
persons; products; orders, invoices, payments and shipments with rows).  The ingest runs as its own process
(`b24bridge ingest`, uvicorn, one worker), as in production; the client posts over loopback HTTP.

Baseline, same run, same events: what the work costs without HTTP and without validation — JSON-decode
each request body in-process (``json.loads``), write each event back as JSON text (``json.dumps``) and
``COPY`` the rows into the outbox (``copy_records_to_table``, one transaction per batch, no duplicate
check).  The ratio ingest/baseline shows what HTTP, contract validation and idempotency add.  Printed per
round: baseline, 1 sender, 4 senders (ev/s) and the ratios.  ``--smoke`` runs a tiny size (CI).  Needs
PostgreSQL (a ``<name>_bench`` database is created and dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.relay import bench_database
from bridge import db
from bridge.demo import drop_database
from bridge.settings import Settings

TOKEN = "bench-token-0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, from /proc (0 where there is none): the
    ingest's own cost per event, steadier than the wall clock on a shared machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def events(n: int) -> list[dict]:
    from onec_outbox.simulator import ScenarioConfig, Sizes, generate

    out: list[dict] = []
    seed = 1
    while len(out) < n:
        run = generate(ScenarioConfig(seed=seed, days=5, sizes=Sizes(counterparties=200, products=200, orders=400)))
        out.extend(run.events)
        seed += 1
    return out[:n]


COLUMNS = ("event_id", "event_type", "entity", "source", "entity_id", "version", "occurred_at", "body")


async def baseline(dsn: str, bodies: list[bytes]) -> float:
    """JSON decode + COPY of the same rows, one transaction per request body."""
    pool = await db.create_pool(dsn, max_size=2)
    try:
        await pool.execute("TRUNCATE outbox")
        total = 0
        async with pool.acquire() as conn:
            await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",  # COPY is binary: version 1 + text
                                      encoder=lambda text: b"\x01" + text.encode(), decoder=lambda data: data[1:].decode())
            started = time.perf_counter()
            for body in bodies:
                items = json.loads(body)
                records = [(uuid.UUID(e["event_id"]), e["event_type"], e["event_type"].split(".")[0], e["source"],
                            uuid.UUID(e["entity_id"]), e["version"], datetime.fromisoformat(e["occurred_at"]),
                            json.dumps(e, ensure_ascii=False)) for e in items]
                async with conn.transaction():
                    await conn.copy_records_to_table("outbox", records=records, columns=COLUMNS)
                total += len(records)
        return total / (time.perf_counter() - started)
    finally:
        await pool.close()


async def through_ingest(dsn: str, bodies: list[bytes], senders: int) -> tuple[float, float]:
    pool = await db.create_pool(dsn, max_size=2)
    await pool.execute("TRUNCATE outbox")
    await pool.close()
    port = free_port()
    env = {**os.environ, "BRIDGE_DATABASE_URL": dsn, "BRIDGE_INGEST_TOKENS": TOKEN, "BRIDGE_INGEST_PORT": str(port),
           "BRIDGE_INGEST_HOST": "127.0.0.1", "BRIDGE_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "ingest"], env=env)
    url = f"http://127.0.0.1:{port}/v1/events"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for _ in range(200):
                try:
                    await client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
            queue = list(bodies)
            accepted = 0

            async def sender() -> None:
                nonlocal accepted
                while queue:
                    body = queue.pop(0)
                    r = await client.post(url, content=body, headers=headers)
                    r.raise_for_status()
                    accepted += sum(1 for x in r.json()["results"] if x["status"] == "accepted")

            started, cpu = time.perf_counter(), process_cpu(process.pid)
            await asyncio.gather(*(sender() for _ in range(senders)))
            elapsed, cpu = time.perf_counter() - started, process_cpu(process.pid) - cpu
        total = sum(len(json.loads(b)) for b in bodies)
        assert accepted == total, f"only {accepted} of {total} accepted"
        return total / elapsed, cpu / total * 1e6
    finally:
        process.terminate()
        process.wait(timeout=30)


async def main(n: int, batch: int, rounds: int, namespace: str) -> None:
    base_dsn = Settings().database_url.get_secret_value()
    dsn = await bench_database(base_dsn, f"_{namespace}")
    try:
        evs = events(n)
        bodies = [json.dumps(evs[i:i + batch], ensure_ascii=False).encode() for i in range(0, len(evs), batch)]
        kinds: dict[str, int] = {}
        for e in evs:
            kinds[e["event_type"]] = kinds.get(e["event_type"], 0) + 1
        print(f"{len(evs)} events ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
              f"batches of {batch}, {sum(map(len, bodies)) / len(evs):.0f} B/event", flush=True)
        for r in range(rounds):
            base = await baseline(dsn, bodies)
            one, one_cpu = await through_ingest(dsn, bodies, 1)
            four, four_cpu = await through_ingest(dsn, bodies, 4)
            print(f"round {r + 1}: baseline (JSON decode + COPY, no HTTP/validation) {base:7.0f} ev/s   "
                  f"ingest 1 sender {one:7.0f} ev/s ({one / base:.2f})   4 senders {four:7.0f} ev/s ({four / base:.2f})   "
                  f"ingest process CPU per event {one_cpu:.0f} / {four_cpu:.0f} µs", flush=True)
    finally:
        await drop_database(base_dsn, dsn)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--namespace", default="bench_ingest", help="suffix of the database it recreates and drops")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI): 400 events in batches of 100, one round")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.batch, args.rounds = 400, 100, 1
    asyncio.run(main(args.n, args.batch, args.rounds, args.namespace))
