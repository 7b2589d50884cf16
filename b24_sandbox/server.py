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

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown without its fixed 0.1 s pause: poll until connections and tasks are gone."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 1)
        while (self.server_state.connections or self.server_state.tasks) and loop.time() < deadline:
            await asyncio.sleep(0.002)
        for task in list(self.server_state.tasks):
            task.cancel()

    def stop(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    host: str
    port: int
    scheme: str = "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def domain(self) -> str:
        """``host:port``, what clients that build ``https://{domain}/rest/…`` themselves (b24pysdk) need."""
        return f"{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """The app-mode (OAuth) endpoint: ``{base_url}/rest/``."""
        return self.base_url + "/rest/"

    @property
    def token_url(self) -> str:
        """The OAuth server's token endpoint on this sandbox."""
        return self.base_url + "/oauth/token/"

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
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> Iterator[RunningSandbox]:
    """``with serve_in_thread(config, port=0) as srv:`` → ``srv.webhook_url``, ``srv.sandbox``.

    With ``ssl_certfile``/``ssl_keyfile`` it serves HTTPS (for clients that only speak ``https://``).
    On exit the server stops and the sandbox saves its state file, if it has one.
    """
    app = sandbox or Sandbox(config, clock=clock)
    # proto=IPPROTO_TCP, not 0: asyncio turns on TCP_NODELAY only for sockets that say they are TCP, and
    # without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                    timeout_graceful_shutdown=1, ssl_certfile=ssl_certfile,
                                    ssl_keyfile=ssl_keyfile, proxy_headers=False))  # the limit is per TCP peer
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="b24-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.005)
    try:
        yield RunningSandbox(app, host, bound_port, "https" if ssl_certfile else "http")
    finally:
        server.stop()
        thread.join(timeout=10)
        sock.close()
        app.close()
