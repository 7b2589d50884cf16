"""The sandbox portal: an ASGI app answering Bitrix24 REST calls from an in-memory store.

One HTTP request to ``/rest/<user>/<code>/<method>`` goes through a fixed sequence of steps — route,
authenticate, throttle, read params, execute, envelope — each a small method below, so later additions
(operation-time limit, fault injection, OAuth) slot in as one more step.  :meth:`Sandbox.execute` is the
single place where a method runs; ``batch`` calls it again for every command, so statistics, metrics and
``on_call`` hooks see nested commands too.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import envelope, methods, seed
from .config import SandboxConfig
from .errors import ApiError, invalid_credentials, method_not_found, no_auth, query_limit
from .methods import Call, Result
from .phpquery import parse_multipart, parse_query
from .ratelimit import Clock, LeakyBucket
from .store import Store

log = logging.getLogger("bridge.sandbox")


@dataclass
class CallEvent:
    """What an ``on_call`` hook receives after every method execution (batch commands included)."""

    method: str
    params: dict[str, Any]
    result: Any = None
    error: dict[str, Any] | None = None
    total: int | None = None
    next: int | None = None
    nested: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Outcome:
    result: Result | None
    error: ApiError | None
    time: dict[str, Any]


@dataclass
class Stats:
    http_requests: int = 0
    commands: int = 0
    batches: int = 0
    rate_limited: int = 0
    per_method: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "http_requests": self.http_requests,
            "commands": self.commands,
            "batches": self.batches,
            "commands_per_request": round(self.commands / self.http_requests, 3) if self.http_requests else 0,
            "rate_limited": self.rate_limited,
            "per_method": dict(sorted(self.per_method.items())),
            "errors": dict(sorted(self.errors.items())),
        }


@dataclass
class Target:
    user: str
    code: str
    method: str


class Sandbox:
    """A Bitrix24 cloud portal in memory.  ``Sandbox(config)`` is an ASGI app; see ``docs/sandbox.md``."""

    def __init__(self, config: SandboxConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or SandboxConfig()
        self.store = Store()
        self.bucket = LeakyBucket(self.config.rate, self.config.burst, clock)
        self._lock = threading.RLock()
        self._hooks: list[Callable[[CallEvent], None]] = []
        self._stats = Stats()
        self.registry = CollectorRegistry()
        self._m_requests = Counter("sandbox_requests", "REST requests answered, by method and error code",
                                   ["method", "error"], registry=self.registry)
        self._m_commands = Counter("sandbox_commands", "Methods executed (batch commands included)",
                                   ["method", "error"], registry=self.registry)
        self._m_limited = Counter("sandbox_rate_limited", "Requests refused with QUERY_LIMIT_EXCEEDED",
                                  registry=self.registry)
        seed.seed(self.store, self.config.tz)
        methods.load()
        self.app = Starlette(routes=[
            Route("/rest/{path:path}", self._rest, methods=["GET", "POST"]),
            Route("/_sandbox/state", self._state, methods=["GET"]),
            Route("/_sandbox/reset", self._reset, methods=["POST"]),
            Route("/_sandbox/stats", self._stats_endpoint, methods=["GET"]),
            Route("/_sandbox/", self._page, methods=["GET"]),
            Route("/_sandbox", self._page, methods=["GET"]),
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/readyz", self._healthz, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # ---- test hooks and inspection -------------------------------------------------------------

    def on_call(self, callback: Callable[[CallEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` after each method execution; returns a function that unregisters it."""
        with self._lock:
            self._hooks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._hooks:
                    self._hooks.remove(callback)

        return remove

    def state(self) -> dict[str, Any]:
        """Everything stored, grouped by entity, in the form the portal's ``get`` methods answer."""
        from .state import build_state

        with self._lock:
            return json.loads(json.dumps(build_state(self), ensure_ascii=False, default=str))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._stats.as_dict()

    def reset(self) -> None:
        """Forget all data and statistics; ids start again from 1 and the seed data is back."""
        with self._lock:
            self.store.clear()
            seed.seed(self.store, self.config.tz)
            self._stats = Stats()
            self.bucket.reset()

    def call(self, method: str, params: dict[str, Any] | None = None) -> Outcome:
        """Run a method in-process as the webhook user (for seeding demos and pure tests; no HTTP, no limit)."""
        return self.execute(method.lower(), params or {}, self.config.webhook_user)

    # ---- the one place methods run -------------------------------------------------------------

    def execute(self, method: str, params: dict[str, Any], user_id: int, *, nested: bool = False) -> Outcome:
        start = envelope.now()
        with self._lock:
            result: Result | None = None
            error: ApiError | None = None
            try:
                if nested and method == "batch":
                    raise ApiError("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405)
                handler = methods.lookup(method)
                if handler is None:
                    raise method_not_found()
                value = handler(Call(method, params, self.store, self.config, self, user_id))
                result = value if isinstance(value, Result) else Result(value)
            except ApiError as exc:
                error = exc
            except Exception:
                log.exception("sandbox method failed", extra={"action": "sandbox.error", "method": method})
                error = ApiError("INTERNAL_SERVER_ERROR", "Internal server error", 500)
            self._count(method, error)
            outcome = Outcome(result, error, envelope.time_block(start, envelope.now(), self.config.tz))
            event = CallEvent(method, params, result.value if result else None, error.body() if error else None,
                              result.total if result else None, result.next if result else None, nested)
            for hook in list(self._hooks):
                try:
                    hook(event)
                except Exception:
                    log.exception("on_call hook failed", extra={"action": "sandbox.hook_error", "method": method})
            return outcome

    def _count(self, method: str, error: ApiError | None) -> None:
        stats = self._stats
        stats.per_method[method] = stats.per_method.get(method, 0) + 1
        if method == "batch":
            stats.batches += 1
        else:
            stats.commands += 1
        code = "" if error is None else (str(error.code) or '""')
        if error is not None:
            stats.errors[code] = stats.errors.get(code, 0) + 1
        self._m_commands.labels(method, code).inc()

    # ---- the REST pipeline ---------------------------------------------------------------------

    async def _rest(self, request: Request) -> Response:
        start = envelope.now()
        method = "?"
        try:
            target = self._route(request.path_params["path"])
            method = target.method
            self._authenticate(target)
            self._throttle()
            params = await self._params(request)
            outcome = self.execute(target.method, params, int(target.user))
        except ApiError as exc:
            outcome = Outcome(None, exc, envelope.time_block(start, envelope.now(), self.config.tz))
        return self._envelope(method, outcome)

    def _route(self, path: str) -> Target:
        parts = [p for p in path.split("/") if p != ""]
        if parts and parts[-1].lower().endswith(".json"):
            parts[-1] = parts[-1][: -len(".json")]
        if len(parts) == 1:
            raise method_not_found() if methods.lookup(parts[0]) is None else no_auth()
        if len(parts) != 3 or not parts[0].isdigit():
            raise method_not_found()
        return Target(parts[0], parts[1], parts[2].lower())

    def _authenticate(self, target: Target) -> None:
        if int(target.user) != self.config.webhook_user or target.code != self.config.webhook_code:
            raise invalid_credentials()

    def _throttle(self) -> None:
        if not self.bucket.try_acquire():
            with self._lock:
                self._stats.rate_limited += 1
            self._m_limited.inc()
            raise query_limit()

    async def _params(self, request: Request) -> dict[str, Any]:
        params = parse_query(request.url.query)
        body = await request.body()
        if body:
            content_type = request.headers.get("content-type", "")
            params.update(_parse_body(body, content_type))
        return params

    def _envelope(self, method: str, outcome: Outcome) -> Response:
        with self._lock:
            self._stats.http_requests += 1
        code = "" if outcome.error is None else (str(outcome.error.code) or '""')
        self._m_requests.labels(method, code).inc()
        if outcome.error is not None:
            status, body = outcome.error.status, outcome.error.body()
        else:
            assert outcome.result is not None
            status = 200
            body = envelope.success(outcome.result.value, outcome.time, outcome.result.total, outcome.result.next)
        log.info("sandbox call", extra={"action": "sandbox.call", "method": method, "status": status,
                                        "error": code or None})
        return JSONResponse(body, status_code=status)

    # ---- sandbox's own endpoints -----------------------------------------------------------------

    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"result": True})

    async def _stats_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def _page(self, request: Request) -> Response:
        from .web import render_page

        with self._lock:
            html = render_page(self.state(), self.config.domain, self.stats())
        return HTMLResponse(html)


def _parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return parse_multipart(body, content_type)
    if kind == "application/x-www-form-urlencoded":
        return parse_query(body.decode("utf-8", errors="replace"))
    try:
        parsed = json.loads(body)
    except ValueError:
        return parse_query(body.decode("utf-8", errors="replace"))
    return parsed if isinstance(parsed, dict) else {}
