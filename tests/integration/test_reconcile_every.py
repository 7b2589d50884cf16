"""`b24bridge reconcile --every` runs until stopped and shows the last run's findings on /metrics, where
the alerts read them; SIGTERM ends it cleanly (its own process, real PostgreSQL, the sandbox portal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from b24_sandbox import SandboxConfig, serve_in_thread
from bridge import db
from bridge.links import unit_of_work
from tests.helpers import free_port


async def test_the_scheduled_run_exports_the_drift_it_finds_and_stops_on_sigterm(db_url):
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        gone = srv.sandbox.call("crm.company.add", {"fields": {"TITLE": "ООО Ромашка"}}).result.value
        pool = await db.create_pool(db_url, max_size=2)
        try:
            async with unit_of_work(pool, "test", "ut103-main", "seed") as uow:
                await uow.save_link("counterparty", "0b6f3a52-2f4b-11ef-8b1a-00155d012a07", "company", gone,
                                    version=1, pushed_state={"main": {"fields": {"TITLE": "ООО Ромашка"}}})
        finally:
            await pool.close()
        srv.sandbox.call("crm.company.delete", {"id": gone})
        port = free_port()
        env = {**os.environ, "BRIDGE_DATABASE_URL": db_url, "BRIDGE_B24_WEBHOOK_URL": srv.webhook_url,
               "BRIDGE_RECONCILE_METRICS_PORT": str(port), "BRIDGE_INGEST_HOST": "127.0.0.1",
               "BRIDGE_LOG_LEVEL": "INFO"}
        process = subprocess.Popen([sys.executable, "-m", "bridge.cli", "reconcile", "--every", "1s",
                                    "--entity", "company"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            text, deadline = "", time.monotonic() + 60
            while time.monotonic() < deadline and "bridge_reconcile_drift{" not in text:
                try:
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            assert 'bridge_reconcile_drift{entity="company",kind="missing"} 1.0' in text, text
            assert 'bridge_reconcile_drift{entity="deal",kind="stage"} 0.0' in text
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err.decode()
        assert b'"action": "reconcile.run"' in err
