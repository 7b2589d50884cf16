"""Simulated 1C business days end with Bitrix24 showing exactly what 1C says, field by field; and the
demo command a newcomer runs completes with a summary that matches the portal."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid

import httpx
import pytest

from bridge.demo import DemoOptions, demo_database, drop_database, running_demo
from bridge.settings import Settings
from tests.helpers import free_port


def _cleanup(rabbit, vhost: str, db_url: str) -> None:
    """The demo's vhost and the database it made next to the test's (``<name>_demo_<vhost>``)."""
    httpx.delete(f"{rabbit.api_url}/vhosts/{vhost}", timeout=30)
    asyncio.run(drop_database(db_url, demo_database(db_url, vhost)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
async def test_a_simulated_business_day_ends_with_the_portal_equal_to_the_expected_state(db_url, rabbit, seed,
                                                                                         tmp_path, monkeypatch):
    vhost = f"demo-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=db_url, amqp_url=rabbit.amqp_url, log_level="WARNING")
    options = DemoOptions(seed=seed, counterparties=10, products=12, orders=24, days=2, rate=2, burst=50,
                          sandbox_port=free_port(), ingest_port=free_port(), rabbitmq_api=rabbit.api_url,
                          vhost=vhost, timeout=300)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its temporary files, apart from any other demo's
    try:
        async with running_demo(settings, options) as (result, sandbox):
            assert result.problems == []
            assert result.summary["deals"] == result.expected["deals"] > 0
            assert result.summary["dead_letters"] == {}
            async with httpx.AsyncClient() as client:  # the token `demo --serve` prints lets a person post
                answer = await client.post(f"{result.ingest_url}/v1/events", json=[],
                                           headers={"Authorization": f"Bearer {result.ingest_token}"})
            assert answer.status_code == 200, answer.text
    finally:
        await asyncio.to_thread(_cleanup, rabbit, vhost, db_url)
    assert list(tmp_path.glob("b24bridge-demo-*")) == []  # its mapping file went too


@pytest.mark.slow
def test_the_demo_command_runs_to_completion_and_its_summary_matches_the_sandbox(db_url, rabbit):
    vhost = f"demo-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BRIDGE_DATABASE_URL": db_url, "BRIDGE_AMQP_URL": rabbit.amqp_url}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bridge.cli", "demo", "--json", "--counterparties", "5", "--products", "6",
             "--orders", "8", "--sandbox-port", str(free_port()), "--ingest-port", str(free_port()),
             "--rabbitmq-api", rabbit.api_url, "--vhost", vhost],
            env=env, capture_output=True, text=True, timeout=600)
    finally:
        _cleanup(rabbit, vhost, db_url)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["problems"] == []
    summary, expected = report["summary"], report["expected"]
    for key in ("companies", "contacts", "products", "deals", "deals_by_stage"):
        assert summary[key] == expected[key], key
    assert summary["notifications"] >= expected["notifications"]
    assert report["board"].endswith("/_sandbox/")
