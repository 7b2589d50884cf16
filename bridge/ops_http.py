"""`/healthz`, `/readyz` and `/metrics` for components that serve no other HTTP (relay, consumers), and the
small uvicorn runner every HTTP-serving component uses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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


def routes(checks: dict[str, Check]) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok, results = await run_checks(checks)
        return JSONResponse({"status": "ok" if ok else "failing", "checks": results}, status_code=200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]


def ops_app(checks: dict[str, Check]) -> Starlette:
    return Starlette(routes=routes(checks))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the component's runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def serve(app, host: str, port: int, stop: asyncio.Event, lifespan: str = "off") -> None:
    """Serve ``app`` until ``stop`` is set."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan=lifespan)
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task
