"""The end-to-end benchmark still runs (``--smoke``: seconds of each scenario; its figures are not judged)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace(pg_server, rabbit):
    """The databases and vhosts the benchmark makes for itself, dropped afterwards."""
    name = f"bench_e_{uuid.uuid4().hex[:8]}"
    yield name
    base = unquote(urlsplit(pg_server).path.lstrip("/")) or "postgres"

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server)
        try:
            for suffix in ("", "_limited", "_old"):  # _old: the other commit's side of --compare
                await conn.execute(f'DROP DATABASE IF EXISTS "{base}_{name}{suffix}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())
    for suffix in ("", "_limited", "_old"):
        httpx.delete(f"{rabbit.api_url}/vhosts/{quote('b24bridge-' + name + suffix, safe='')}", timeout=10)


def test_the_end_to_end_benchmark_measures_latency_from_the_consumers_histogram(pg_server, rabbit, namespace,
                                                                                tmp_path):
    out = tmp_path / "figures.json"
    env = {**os.environ, "BRIDGE_DATABASE_URL": pg_server, "BRIDGE_AMQP_URL": rabbit.amqp_url}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.e2e", "--smoke", "--namespace", namespace, "--rabbitmq-api",
         rabbit.api_url, "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    (rate,) = figures["rates"]
    assert rate["applied"] > 0  # the histogram saw the applied events
    assert rate["p99"] is not None and rate["peak_connections"] > 0
    assert set(rate["cpu_ms"]) == {"ingest", "relay", "consumers", "sandbox", "postgres", "rabbitmq"}
    assert rate["cpu_ms"]["postgres"] > 0  # the database's work is counted beside the bridge's
    (deals,) = figures["limited"]
    assert 0 < deals["applied"] <= deals["events"]  # the customer orders' latencies, nothing else


def test_the_end_to_end_benchmark_runs_a_commit_beside_today(pg_server, rabbit, namespace, tmp_path,
                                                           worktrees_kept):
    """``--compare COMMIT`` runs the fixed rates on that commit's own processes (a git worktree: its ingest,
    relay, consumers, migrations and mapping) and on today's; HEAD stands in for an older commit, so the
    mechanism is checked: both sides handled every event, their CPU is counted, the ratio is printed, and
    the worktree is gone afterwards."""
    out = tmp_path / "figures.json"
    env = {**os.environ, "BRIDGE_DATABASE_URL": pg_server, "BRIDGE_AMQP_URL": rabbit.amqp_url}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.e2e", "--smoke", "--compare", "HEAD", "--namespace", namespace,
         "--rabbitmq-api", rabbit.api_url, "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert f"round 1: {head} (processes run from " in run.stdout and "bench-compare-" in run.stdout, run.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))["compare"]
    assert figures["commit"] == head and figures["errors"] == [], run.stdout
    assert set(figures["sides"]) == {"now", head}, run.stdout
    for side, rounds in figures["sides"].items():
        assert [len(phases) for phases in rounds] == [1], (side, run.stdout)
        (phase,) = rounds[0]
        assert phase["note"] == "", (side, phase)  # drained: every event handled ("not drained …" otherwise)
        assert phase["cpu_ms"]["consumers"] > 0, (side, phase)
    ratio = figures["medians"]["20"]
    assert set(ratio) == {"now", head} and all(v > 0 for v in ratio.values()), run.stdout
    assert re.search(rf"20/s, consumers' CPU ms per event \(median of 1 / 1\): now \d+\.\d\d, {head} \d+\.\d\d: "
                     rf"{head}/now = \d+\.\d\d×", run.stdout), run.stdout


def test_the_end_to_end_benchmark_runs_one_consumer_process_beside_two(pg_server, rabbit, namespace, tmp_path):
    """``--consumers 1,2`` runs the fixed rates with each count of consumer processes: both counts handled
    every event, each phase ran that many consumer processes and counted their CPU, and the CPU per event of
    each count is printed with the rate each process received and the ratio to the first count."""
    out = tmp_path / "figures.json"
    env = {**os.environ, "BRIDGE_DATABASE_URL": pg_server, "BRIDGE_AMQP_URL": rabbit.amqp_url}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.e2e", "--smoke", "--skip-limited", "--consumers", "1,2",
         "--namespace", namespace, "--rabbitmq-api", rabbit.api_url, "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "20 events/s for 3 s (60 events), 1 consumer process(es)" in run.stdout, run.stdout
    assert "20 events/s for 3 s (60 events), 2 consumer process(es)" in run.stdout, run.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(p["name"] for p in figures["rates"]) == ["1 cons. r1 20/s", "2 cons. r1 20/s"], figures["rates"]
    for phase in figures["rates"]:
        assert phase["note"] == "" and phase["cpu_ms"]["consumers"] > 0, phase  # drained, CPU counted
    assert figures["limited"] == [] and figures["consumers"]["errors"] == []
    assert set(figures["consumers"]["medians"]["20"]) == {"1", "2"}, figures["consumers"]
    assert re.search(r"20/s, consumers' CPU ms per event \(median\): 1 process \(20/s each\) \d+\.\d\d, "
                     r"2 processes \(10/s each\) \d+\.\d\d = \d+\.\d\d× 1's", run.stdout), run.stdout
    assert "highest rate sustained with 2 consumer processes" in run.stdout, run.stdout
