"""Run a sandbox on a real port in a background thread (tests, demo), started and stopped in milliseconds."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from .app import Sandbox
from .config import SandboxConfig
from .ratelimit import Clock


class _Server(uvicorn.Server):
    """uvicorn's server, but stopping wakes it at once instead of at its next 0.1 s tick."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not self.should_exit:
            await self._wake.wait()

    def stop(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + self.sandbox.config.webhook_path()


@contextmanager
def serve_in_thread(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    sandbox: Sandbox | None = None,
) -> Iterator[RunningSandbox]:
    """``with serve_in_thread(config, port=0) as srv:`` → ``srv.webhook_url``, ``srv.sandbox``."""
    app = sandbox or Sandbox(config, clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="b24-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.005)
    try:
        yield RunningSandbox(app, host, bound_port)
    finally:
        server.stop()
        thread.join(timeout=10)
        sock.close()
