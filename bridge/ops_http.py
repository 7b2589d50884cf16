"""`/healthz`, `/readyz` and `/metrics` for components that serve no other HTTP (relay, consumers), and the
small uvicorn runner every HTTP-serving component uses."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import metrics as metrics_mod
from .errors import ConfigError

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]  # raises when not ready


async def run_checks(checks: dict[str, Check], timeout: float = 3.0) -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout)
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
            results[name] = f"failing: {type(exc).__name__}: {exc}"[:300]
    return all(v == "ok" for v in results.values()), results


def routes(checks: dict[str, Check], registry: CollectorRegistry) -> list[Route]:
    """``registry`` holds the families this process exports (:func:`bridge.metrics.registry`)."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok, results = await run_checks(checks)
        return JSONResponse({"status": "ok" if ok else "failing", "checks": results}, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        body, content_type = metrics_mod.exposition(registry)
        return Response(body, media_type=content_type)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]


def ops_app(checks: dict[str, Check], registry: CollectorRegistry) -> Starlette:
    return Starlette(routes=routes(checks, registry))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the component's runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: a busy port is a clear error here, not uvicorn's sys.exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = (" (is another process using the port?)" if exc.errno == errno.EADDRINUSE
                else f" (no address {host!r} on this machine)" if isinstance(exc, socket.gaierror)
                or exc.errno == errno.EADDRNOTAVAIL else "")
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from exc
    bound = sock.getsockname()[1]  # (port 0: the one the system picked)
    log.info(f"listening on {host}:{bound}", extra={"action": "http.listen", "host": host, "port": bound})
    return sock


async def serve(app, host: str, port: int, stop: asyncio.Event, lifespan: str = "off") -> None:
    """Serve ``app`` until ``stop`` is set."""
    sock = listen(host, port)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan=lifespan)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:  # stopped, cancelled or crashed: never leave a server running in the background
        stopped.cancel()
        server.should_exit = True
        await asyncio.shield(task)
        sock.close()
