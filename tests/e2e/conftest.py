"""End-to-end fixtures: the whole path is real — HTTP ingest → PostgreSQL outbox → relay → RabbitMQ →
consumer → Bitrix24 REST over HTTP into the sandbox."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bridge import bootstrap
from bridge import mapping as mapping_mod
from b24_sandbox import SandboxConfig, serve_in_thread
from bridge.settings import Settings
from tests.helpers import free_port
from tests.support.portal import prepare_deals_async

TOKEN = "e2e-test-token-0001"


@dataclass
class Stack:
    """A running bridge (ingest+relay+consumers) against a sandbox portal."""

    settings: Settings
    portal: Any  # RunningSandbox
    ingest_url: str
    env: dict[str, str]
    _stop: asyncio.Event | None = None
    _task: asyncio.Task | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)

    async def post(self, events: Any, token: str = TOKEN) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(f"{self.ingest_url}/v1/events", json=events,
                                     headers={"Authorization": f"Bearer {token}"})

    def state(self) -> dict[str, Any]:
        return self.portal.sandbox.state()

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(bootstrap.run_all(self.settings, self._stop))
        await self._wait_ready()

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 60)
            self._task = None

    async def _wait_ready(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(200):
                try:
                    if (await client.get(f"{self.ingest_url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if self._task is not None and self._task.done():
                    self._task.result()
                await asyncio.sleep(0.05)
        raise RuntimeError("the bridge did not come up")

    def spawn(self, command: str, **env: str) -> subprocess.Popen:
        """Run one component (`consume`, `relay`, `ingest`, `run`) as a separate process."""
        process = subprocess.Popen([sys.executable, "-m", "bridge.cli", command], env={**self.env, **env})
        self.processes.append(process)
        return process


def make_settings(db_url: str, amqp_url: str, webhook_url: str, **overrides: Any) -> tuple[Settings, dict]:
    port = free_port()
    env = {**os.environ, "BRIDGE_DATABASE_URL": db_url, "BRIDGE_AMQP_URL": amqp_url,
           "BRIDGE_B24_WEBHOOK_URL": webhook_url, "BRIDGE_INGEST_TOKENS": TOKEN,
           "BRIDGE_INGEST_PORT": str(port), "BRIDGE_INGEST_HOST": "127.0.0.1",
           "BRIDGE_RELAY_METRICS_PORT": "0", "BRIDGE_CONSUMER_METRICS_PORT": "0",
           "BRIDGE_LOG_LEVEL": "WARNING", "BRIDGE_B24_BATCH_LINGER": "0.005"}
    env.update({f"BRIDGE_{k.upper()}": str(v) for k, v in overrides.items()})
    keys = {k: v for k, v in env.items() if k.startswith("BRIDGE_")}
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        settings = Settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return settings, env


@contextmanager
def sandbox(**config: Any):
    with serve_in_thread(SandboxConfig(**{"rate": 0, **config})) as srv:
        yield srv


@asynccontextmanager
async def running_stack(db_url: str, amqp_url: str, *, portal_config: dict | None = None, consumers: bool = True,
                        **settings: Any):
    """A sandbox portal and a running bridge (ingest, relay and — unless ``consumers`` is False — the
    consumers) in this process; processes spawned from the stack are killed at the end."""
    with sandbox(**(portal_config or {})) as portal:
        # as a deployment runs `b24bridge portal setup` first: the consumers' start-up check needs it
        await prepare_deals_async(portal.webhook_url, mapping_mod.load(None))
        config, env = make_settings(db_url, amqp_url, portal.webhook_url, **settings)
        if not consumers:
            config.consumer_entities = []
        s = Stack(config, portal, f"http://127.0.0.1:{config.ingest_port}", env)
        await s.start()
        try:
            yield s
        finally:
            await s.stop()
            for process in s.processes:
                process.kill()
                process.wait()


@pytest.fixture
async def stack(db_url, amqp_url):
    async with running_stack(db_url, amqp_url) as s:
        yield s


@pytest.fixture
async def bare_stack(db_url, amqp_url):
    """Ingest and relay in this process, no consumer: tests start consumers as separate processes."""
    async with running_stack(db_url, amqp_url, consumers=False) as s:
        yield s
