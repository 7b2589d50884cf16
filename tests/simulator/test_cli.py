"""`b24bridge simulate`: dry run, the expected-state file, and a real post into `b24bridge ingest`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import asyncpg
import httpx
from click.testing import CliRunner

from bridge.cli import main
from onec_outbox.contract import parse_event
from onec_outbox.simulator import ScenarioConfig, Sizes, expected_state, generate
from tests.helpers import free_port

SMALL = ["--counterparties", "6", "--products", "8", "--orders", "10", "--seed", "3"]


def test_dry_run_prints_the_run_as_json_lines_and_writes_the_expected_state(tmp_path):
    target = tmp_path / "expected.json"
    result = CliRunner().invoke(main, ["simulate", "--dry-run", "--expected", str(target), *SMALL])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]
    for event in events:
        parse_event(event)
    run = generate(ScenarioConfig(seed=3, sizes=Sizes(6, 8, 10)))
    assert events == json.loads(json.dumps(run.events))
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(json.dumps(expected_state(run.events)))


def test_start_without_an_offset_is_refused():
    result = CliRunner().invoke(main, ["simulate", "--dry-run", "--start", "2026-03-02T09:00:00"])
    assert result.exit_code == 2 and "UTC offset" in result.output


def test_posting_without_a_token_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("BRIDGE_INGEST_TOKENS", raising=False)
    result = CliRunner().invoke(main, ["simulate", *SMALL])
    assert result.exit_code == 2 and "--token" in result.output


def test_simulate_posts_a_run_into_a_running_ingest(db_url):
    port = free_port()
    env = {**os.environ, "BRIDGE_DATABASE_URL": db_url, "BRIDGE_INGEST_TOKENS": "cli-token,other",
           "BRIDGE_INGEST_PORT": str(port), "BRIDGE_INGEST_HOST": "127.0.0.1", "BRIDGE_LOG_LEVEL": "WARNING"}
    ingest = subprocess.Popen([sys.executable, "-m", "bridge.cli", "ingest"], env=env)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", ingest)
        done = subprocess.run([sys.executable, "-m", "bridge.cli", "simulate", "--url", f"http://127.0.0.1:{port}",
                               "--duplicates", "0.5", "--batch-size", "10", *SMALL],
                              check=False, env=env, capture_output=True, text=True, timeout=120)
    finally:
        ingest.terminate()
        ingest.wait(30)
    assert done.returncode == 0, done.stderr
    events = len(generate(ScenarioConfig(seed=3, sizes=Sizes(6, 8, 10))).events)
    assert f"events: {events}" in done.stdout and f"accepted: {events}" in done.stdout
    assert "rejected: 0, lost: 0" in done.stdout
    assert _count(db_url) == events


def _wait_ready(url: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        assert process.poll() is None, "the ingest exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the ingest did not come up")


def _count(db_url: str) -> int:
    import asyncio

    async def count() -> int:
        conn = await asyncpg.connect(db_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM outbox")
        finally:
            await conn.close()

    return asyncio.run(count())
