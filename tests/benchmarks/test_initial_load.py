"""The initial-load benchmark still runs end to end (at a tiny scale; its figures are not judged here)."""

from __future__ import annotations

import asyncio
import json
import os
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
    """The database and vhost the benchmark makes for itself, dropped afterwards."""
    name = f"bench_t_{uuid.uuid4().hex[:8]}"
    yield name
    base = unquote(urlsplit(pg_server).path.lstrip("/")) or "postgres"

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{base}_{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())
    httpx.delete(f"{rabbit.api_url}/vhosts/{quote('b24bridge-' + name, safe='')}", timeout=10)


def test_the_initial_load_benchmark_loads_verifies_and_proves_the_second_run_write_free(
        pg_server, rabbit, namespace, tmp_path):
    out = tmp_path / "figures.json"
    env = {**os.environ, "BRIDGE_DATABASE_URL": pg_server, "BRIDGE_AMQP_URL": rabbit.amqp_url}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.initial_load", "--products", "60", "--counterparties", "12",
         "--b24pysdk-products", "3", "--prefetch", "16", "--namespace", namespace, "--rabbitmq-api", rabbit.api_url,
         "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["problems"] == []
    assert figures["portal"]["products"] == 60
    products, counterparties, total = figures["bridge"]
    assert products["per_method"]["catalog.product.add"] == 60
    assert total["commands"] == products["commands"] + counterparties["commands"] > 0
    second = figures["second_run"]
    assert not [m for m in second["per_method"] if m.rsplit(".", 1)[-1] in ("add", "update", "modify", "delete")]
    assert figures["fast_bitrix24"]["per_method"]["catalog.product.add"] == 60
    assert figures["b24pysdk"]["commands"] == 6
