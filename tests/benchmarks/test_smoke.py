"""Every benchmark still runs: each ``benchmarks/*.py`` at its ``--smoke`` size prints its figures and exits 0.

The convention (docs/performance.md, "Benchmarks in CI"): a benchmark is a module ``benchmarks/<name>.py``
run as ``python -m benchmarks.<name>``; it accepts ``--smoke`` (a tiny size, seconds not minutes, same code
path) and prints its figures and the baseline measured in the same run to stdout; one that makes a
database or vhost of its own accepts ``--namespace`` (their suffix; it drops them at the end), one that
talks to the RabbitMQ management API accepts ``--rabbitmq-api``.  The benchmarks are
discovered, so a new one is covered the day it lands; one with a test of its own
(``tests/benchmarks/test_<name>.py``) is left to that test.  Figures are never judged here, only that they
are printed: ``FIGURES`` names what each known benchmark must print, any other must print a number.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

FIGURES = {
    "relay": [r"raw aio-pika +\d+ msg/s.*relay +\d+ msg/s.*relay/raw \d+\.\d\d", r"left in the vhost's queues: 0"],
    "ingest": [r"baseline \(JSON decode \+ COPY.*\d+ ev/s", r"1 sender +\d+ ev/s", r"4 senders +\d+ ev/s",
               r"CPU per event \d+ / \d+ µs"],
    "b24_coalescing": [r"HTTP requests +\d+", r"refused \(503\) +0"],
    "sandbox_cost": [r"after +\d+"],
    "b24_http": [r"median: +floor +\d+ µs +httpx +\d+ µs +edge +\d+ µs +edge/httpx +\d+ µs +bridge +\d+ µs "
                 r"+bridge/httpx +\d+ µs",
                 r"against the floor: httpx \d+\.\d\d×"],
    "memory": [r"backlog +\d+ +(\d+\.\d +){5}", r"against \d+ \(same run\): the relay's peak [+-]\d+\.\d MB "
               r"\(\d+\.\d\d×\), the consumers' peak [+-]\d+\.\d MB \(\d+\.\d\d×\)"],
    "floor": [r"msg/s: ack +\d+ µs +\+pg +\d+ µs +\+http +\d+ µs",
              r"ms bursts: \+http +\d+ µs +batched +\d+ µs \(\d+\.\d messages per statement and request\)",
              r"ms bursts: ack +\d+ µs +the bridge's consumer around a handler that does nothing +\d+ µs",
              r"one event's parse \(checksum and contract\): back to back +\d+ µs .* after 20 ms idle +\d+ µs",
              r"one timer wake-up .* 20 ms +\d+ µs"],
    "consumer": [r"stmts/event", r"consumers +(\d+\.\d\d +){4}\d+\.\d +\d+ +\d+\.\d",
                 r"where the consumers' \d+\.\d\d CPU ms per event go", r"PostgreSQL round trips: .* µs +\d+\.\d+ ms",
                 r"the rest: .* -?\d+\.\d+ ms"],
}


def benchmarks() -> list[str]:
    names = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if not p.stem.startswith("_"))
    return [n for n in names if not (HERE / f"test_{n}.py").exists()]


def test_every_benchmark_is_discovered_and_accepts_smoke():
    found = benchmarks()
    assert {"relay", "ingest"} <= set(found)
    for name in found:
        assert "--smoke" in (ROOT / "benchmarks" / f"{name}.py").read_text(encoding="utf-8"), (
            f"benchmarks/{name}.py does not accept --smoke (see docs/performance.md, 'Benchmarks in CI')")


@pytest.mark.parametrize("name", benchmarks())
def test_the_benchmark_runs_at_its_smoke_size_and_prints_its_figures(name, pg_server, rabbit):
    namespace = f"bench_smoke_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BRIDGE_DATABASE_URL": pg_server, "BRIDGE_AMQP_URL": rabbit.amqp_url,
           "BRIDGE_LOG_LEVEL": "WARNING"}
    args = [sys.executable, "-m", f"benchmarks.{name}", "--smoke"]
    source = (ROOT / "benchmarks" / f"{name}.py").read_text(encoding="utf-8")
    if "--namespace" in source:  # it makes a database / vhost of its own: a name no other run uses
        args += ["--namespace", namespace]
    if "--rabbitmq-api" in source:
        args += ["--rabbitmq-api", rabbit.api_url]
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for pattern in FIGURES.get(name, [r"\d"]):
        assert re.search(pattern, run.stdout), f"{name} did not print {pattern!r}:\n{run.stdout[-3000:]}"


def test_the_consumer_benchmark_runs_a_commit_beside_today(pg_server, worktrees_kept):
    """``--compare COMMIT`` measures the consumers of that commit (a git worktree, the same measuring file)
    and today's in alternating processes; HEAD stands in for an older commit, so only the mechanism is
    checked: both rows, counted statements on each, the worktree gone afterwards."""
    env = {**os.environ, "BRIDGE_DATABASE_URL": pg_server, "BRIDGE_LOG_LEVEL": "WARNING"}
    args = [sys.executable, "-m", "benchmarks.consumer", "--smoke", "--compare", "HEAD",
            "--namespace", f"bench_smoke_{uuid.uuid4().hex[:8]}"]
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = re.findall(r"round 1: +(\S+) +(\d+\.\d\d) CPU ms/event .* (\d+\.\d\d) stmts", run.stdout)
    assert [name for name, _, _ in rows] == ["now", "HEAD"], run.stdout
    assert all(float(stmts) > 0 for _, _, stmts in rows), run.stdout
    ratio = r"median CPU ms/event: now \d+\.\d\d, HEAD \d+\.\d\d: HEAD/now = \d+\.\d\d×"
    assert re.search(ratio, run.stdout), run.stdout


def test_the_memory_benchmark_drains_a_backlog_with_a_commit_beside_today(pg_server, rabbit, worktrees_kept):
    """``--compare COMMIT``: the same backlog drained by that commit's processes (a git worktree) and by
    today's; HEAD stands in for an older commit, so only the mechanism is checked: a row per side, the
    medians line, the worktree gone afterwards."""
    env = {**os.environ, "BRIDGE_DATABASE_URL": pg_server, "BRIDGE_AMQP_URL": rabbit.amqp_url,
           "BRIDGE_LOG_LEVEL": "WARNING"}
    args = [sys.executable, "-m", "benchmarks.memory", "--smoke", "--compare", "HEAD", "--rabbitmq-api",
            rabbit.api_url, "--namespace", f"bench_smoke_{uuid.uuid4().hex[:8]}"]
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = re.findall(r"^ +(\S+) backlog +150 ", run.stdout, re.MULTILINE)
    assert len(rows) == 2 and rows.count("now") == 1, run.stdout  # and HEAD's abbreviated hash
    old = next(r for r in rows if r != "now")
    medians = (rf"backlog 150, medians of 1: drained in \d+\.\d s now, \d+\.\d s at {old}; trips to a wait queue per "
               rf"event \d+\.\d\d / \d+\.\d\d; consumers' CPU ms per event \d+\.\d\d / \d+\.\d\d: {old}/now = \d+\.\d\d×")
    assert re.search(medians, run.stdout), run.stdout
