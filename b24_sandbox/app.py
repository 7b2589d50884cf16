"""The sandbox portal: an ASGI app answering Bitrix24 REST calls from an in-memory store.

One HTTP request to ``/rest/…`` goes through a fixed sequence of steps, each a small method below:

1. **front faults** (``__call__``): outage, portal moved, latency — what nginx in front of the portal does;
2. **route**: webhook (``/rest/<user>/<code>/<method>``) or app (``/rest/<method>``);
3. **params**: query string merged with the body;
4. **authenticate**: webhook user/code, or an OAuth access token (``auth``/``access_token``/Bearer);
5. **request faults**: 503 storms, injected errors;
6. **throttle**: the leaky bucket (503 ``QUERY_LIMIT_EXCEEDED``);
7. **execute** (:meth:`Sandbox.execute`, the one place a method runs; ``batch`` calls it again per command):
   the ``OPERATION_TIME_LIMIT`` check before the call, the method, the operating-time bookkeeping after it;
8. **envelope**.

Statistics, metrics and ``on_call`` hooks see nested commands too.  Everything that depends on time reads
one injectable clock (``Sandbox(clock=ManualClock())``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import envelope, methods, seed
from .clock import Clock, system_clock
from .config import SandboxConfig
from .errors import ApiError, invalid_credentials, method_not_found, query_limit
from .faults import Faults, FaultSpecError, Injection, nginx_page
from .methods import Call, Result
from .oauth import OAuthError, OAuthServer
from .operating import OperatingLimiter, Usage
from .persistence import DebouncedSaver, StateFile, dump_store, load_store
from .phpquery import parse_multipart, parse_query
from .ratelimit import LeakyBucket
from .store import Store

log = logging.getLogger("b24_sandbox")

READ_ONLY_SUFFIXES = (".get", ".list", ".fields", ".current")


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
    operating_limited: int = 0
    per_method: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "http_requests": self.http_requests,
            "commands": self.commands,
            "batches": self.batches,
            "commands_per_request": round(self.commands / self.http_requests, 3) if self.http_requests else 0,
            "rate_limited": self.rate_limited,
            "operating_limited": self.operating_limited,
            "per_method": dict(sorted(self.per_method.items())),
            "errors": dict(sorted(self.errors.items())),
            "faults": dict(sorted(self.faults.items())),
        }


@dataclass
class Target:
    method: str
    user: str | None = None
    code: str | None = None

    @property
    def app_mode(self) -> bool:
        return self.user is None


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``key`` identifies the webhook or app for the operating-time limit."""

    key: str
    user_id: int


def webhook_key(user: int, code: str) -> str:
    """The operating-limit identity of a webhook (the code is hashed: it is a secret)."""
    return f"webhook:{user}:{hashlib.sha256(code.encode()).hexdigest()[:8]}"


def operation_time_limit() -> ApiError:
    return ApiError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)


class Sandbox:
    """A Bitrix24 cloud portal in memory.  ``Sandbox(config)`` is an ASGI app; see ``docs/sandbox.md``."""

    def __init__(self, config: SandboxConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock: Clock = clock or system_clock
        self.store = Store()
        self.bucket = LeakyBucket(self.config.rate, self.config.burst, self.clock)
        self.operating = OperatingLimiter(self.config.operating_limit)
        self.faults = Faults(self.clock, self.config.fault_seed)
        self.oauth = OAuthServer(self.config, self.clock)
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
        self._m_operating = Counter("sandbox_operating_limited", "Calls refused with OPERATION_TIME_LIMIT",
                                    registry=self.registry)
        self._m_faults = Counter("sandbox_faults", "Injected faults, by kind", ["kind"], registry=self.registry)
        methods.load()
        self._state_file = StateFile(self.config.state_file) if self.config.state_file else None
        self._saver = DebouncedSaver(self._save_state, self.config.save_delay) if self._state_file else None
        saved = self._state_file.load() if self._state_file else None
        if saved is not None:
            load_store(self.store, saved.get("store") or {})
            self.oauth.load(saved.get("oauth") or {})
            log.info("sandbox state loaded", extra={"action": "sandbox.state_loaded", "path": self.config.state_file})
        else:
            seed.seed(self.store, self.config.tz, self.clock())
        self.oauth.on_change = self._mark_dirty
        self.app = Starlette(lifespan=self._lifespan, routes=[
            Route("/rest/{path:path}", self._rest, methods=["GET", "POST"]),
            Route("/oauth/token/", self._oauth_token, methods=["GET", "POST"]),
            Route("/oauth/token", self._oauth_token, methods=["GET", "POST"]),
            Route("/_sandbox/state", self._state, methods=["GET"]),
            Route("/_sandbox/reset", self._reset, methods=["POST"]),
            Route("/_sandbox/stats", self._stats_endpoint, methods=["GET"]),
            Route("/_sandbox/faults", self._faults_endpoint, methods=["GET", "PUT", "POST", "DELETE"]),
            Route("/_sandbox/oauth", self._oauth_endpoint, methods=["GET", "POST"]),
            Route("/_sandbox/", self._page, methods=["GET"]),
            Route("/_sandbox", self._page, methods=["GET"]),
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/readyz", self._healthz, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
        ])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        is_rest = scope["type"] == "http" and scope["path"].startswith("/rest/")
        if is_rest and await self._front_faults(scope, receive, send):
            return
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
            out = self._stats.as_dict()
        out["operating"] = self.operating.snapshot(self.clock())
        return out

    def reset(self) -> None:
        """Forget all data, statistics and operating time; ids start again from 1 and the seed data is back.

        Injected faults and OAuth tokens stay (they are settings of the portal, not its data).
        """
        with self._lock:
            self.store.clear()
            seed.seed(self.store, self.config.tz, self.clock())
            self._stats = Stats()
            self.bucket.reset()
            self.operating.reset()
        self._mark_dirty()

    def call(self, method: str, params: dict[str, Any] | None = None) -> Outcome:
        """Run a method in-process as the webhook user (seeding demos, pure tests; no HTTP and no limits)."""
        return self.execute(method.lower(), params or {}, self.config.webhook_user)

    def flush(self) -> None:
        """Write the state file now if anything changed (no-op without ``state_file``)."""
        if self._saver is not None:
            self._saver.flush()

    def close(self) -> None:
        """Shut down: save pending changes to the state file."""
        self.flush()

    # ---- the one place methods run -------------------------------------------------------------

    def execute(self, method: str, params: dict[str, Any], user_id: int, *, nested: bool = False,
                caller: str | None = None) -> Outcome:
        """Run one method (a request or a batch command).  ``caller`` turns on the operating-time limit."""
        with self._lock:
            start = self.clock()
            began = time.perf_counter()  # inside the lock: waiting for another request is not run time
            result: Result | None = None
            error: ApiError | None = None
            counted = False
            try:
                if nested and method == "batch":
                    raise ApiError("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405)
                handler = methods.lookup(method)
                if handler is None:
                    raise method_not_found()
                if nested:
                    self._inject_command_fault(method)
                limited = caller is not None and method != "batch"
                if limited and self.operating.blocked(caller, method, start):
                    self._stats.operating_limited += 1
                    self._m_operating.inc()
                    raise operation_time_limit()
                counted = limited
                value = handler(Call(method, params, self.store, self.config, self, user_id, caller=caller))
                result = value if isinstance(value, Result) else Result(value)
            except ApiError as exc:
                error = exc
            except Exception:
                log.exception("sandbox method failed", extra={"action": "sandbox.error", "method": method})
                error = ApiError("INTERNAL_SERVER_ERROR", "Internal server error", 500)
            elapsed = time.perf_counter() - began
            usage: Usage | None = None
            if counted and caller is not None:
                usage = self.operating.record(caller, method, start, self.config.cost_of(method, elapsed))
            self._count(method, error)
            outcome = Outcome(result, error, envelope.time_block(start, start + elapsed, self.config.tz, usage))
            event = CallEvent(method, params, result.value if result else None, error.body() if error else None,
                              result.total if result else None, result.next if result else None, nested)
            for hook in list(self._hooks):
                try:
                    hook(event)
                except Exception:
                    log.exception("on_call hook failed", extra={"action": "sandbox.hook_error", "method": method})
        if error is None and method != "batch" and not method.endswith(READ_ONLY_SUFFIXES):
            self._mark_dirty()
        return outcome

    def _inject_command_fault(self, method: str) -> None:
        injection = self.faults.command_error(method)
        if injection is not None:
            self._count_fault(injection.label)
            raise ApiError(injection.error or "", injection.description or "", injection.status)

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

    def _count_fault(self, label: str) -> None:
        with self._lock:
            self._stats.faults[label] = self._stats.faults.get(label, 0) + 1
        self._m_faults.labels(label).inc()

    # ---- the REST pipeline ---------------------------------------------------------------------

    async def _front_faults(self, scope: Any, receive: Any, send: Any) -> bool:
        """Outage, moved portal and latency: answered before the portal itself sees the request."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope["path"]
        injection = self.faults.front(headers.get("host", ""), path, scope.get("query_string", b"").decode("latin-1"),
                                      scope.get("scheme", "http"))
        if injection is not None:
            with self._lock:
                self._stats.http_requests += 1
            self._count_fault(injection.label)
            log.info("sandbox fault", extra={"action": "sandbox.fault", "fault": injection.label,
                                             "status": injection.status})
            if injection.kind == "drop" and await _drop_connection(send):
                return True
            if injection.kind == "drop":
                injection = Injection("html", 502, injection.label)
            await _injection_response(injection)(scope, receive, send)
            return True
        delay = self.faults.delay(_method_of(path))
        if delay > 0:
            self._count_fault("latency")
            await asyncio.sleep(delay)
        return False

    async def _rest(self, request: Request) -> Response:
        start = self.clock()
        method = "?"
        try:
            target = self._route(request.path_params["path"])
            method = target.method
            params = await self._params(request)
            caller = self._authenticate(target, request, params)
            injection = self.faults.request_error(method)
            if injection is not None:
                self._count_fault(injection.label)
                if injection.kind == "html":
                    return self._answer_injection(method, injection)
                raise ApiError(injection.error or "", injection.description or "", injection.status)
            self._throttle()
            outcome = self.execute(target.method, params, caller.user_id, caller=caller.key)
        except ApiError as exc:  # refused before any method ran: auth, limits, injected errors, bad path
            with self._lock:
                code = str(exc.code) or '""'
                self._stats.errors[code] = self._stats.errors.get(code, 0) + 1
            outcome = Outcome(None, exc, envelope.time_block(start, start, self.config.tz))
        return self._envelope(method, outcome)

    def _route(self, path: str) -> Target:
        parts = [p for p in path.split("/") if p != ""]
        if parts and parts[-1].lower().endswith(".json"):
            parts[-1] = parts[-1][: -len(".json")]
        if len(parts) == 1:
            if methods.lookup(parts[0]) is None:
                raise method_not_found()
            return Target(parts[0].lower())
        if len(parts) != 3 or not parts[0].isdigit():
            raise method_not_found()
        return Target(parts[2].lower(), parts[0], parts[1])

    def _authenticate(self, target: Target, request: Request, params: dict[str, Any]) -> Caller:
        if target.app_mode:
            token = params.pop("auth", None)
            alternative = params.pop("access_token", None)
            if not token:
                token = alternative
            if not token:
                header = request.headers.get("authorization", "")
                if header[:7].lower() == "bearer ":
                    token = header[7:].strip()
            app = self.oauth.authenticate(None if token is None else str(token))
            return Caller(f"app:{app.client_id}", app.user_id)
        assert target.user is not None
        for user, code in self.config.webhooks():
            if int(target.user) == user and target.code == code:
                return Caller(webhook_key(user, code), user)
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

    def _answer_injection(self, method: str, injection: Injection) -> Response:
        with self._lock:
            self._stats.http_requests += 1
        self._m_requests.labels(method, injection.label).inc()
        log.info("sandbox fault", extra={"action": "sandbox.fault", "method": method, "fault": injection.label,
                                         "status": injection.status})
        return _injection_response(injection)

    # ---- OAuth ---------------------------------------------------------------------------------

    async def _oauth_token(self, request: Request) -> Response:
        params = await self._params(request)
        try:
            body = self.oauth.token_endpoint(params, _base_url(request))
        except OAuthError as exc:
            log.info("sandbox oauth", extra={"action": "sandbox.oauth", "status": exc.status, "error": exc.code})
            return JSONResponse(exc.body(), status_code=exc.status)
        log.info("sandbox oauth", extra={"action": "sandbox.oauth", "status": 200, "error": None})
        return JSONResponse(body)

    async def _oauth_endpoint(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"client_id": self.config.oauth_client_id, "apps": sorted(self.oauth.apps),
                                 "tokens": self.oauth.counts(), "token_url": _base_url(request) + "/oauth/token/"})
        raw = await request.body()
        try:
            spec = json.loads(raw) if raw.strip() else {}
        except ValueError:
            spec = None
        if not isinstance(spec, dict):
            return JSONResponse({"error": "INVALID_REQUEST", "error_description": "the body must be a JSON object"},
                                status_code=400)
        user_id = spec.get("user_id")
        try:
            if spec.get("code"):
                return JSONResponse({"code": self.oauth.mint_code(client_id=spec.get("client_id"), user_id=user_id)})
            return JSONResponse(self.oauth.mint(client_id=spec.get("client_id"), user_id=user_id,
                                                base_url=_base_url(request)))
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    # ---- sandbox's own endpoints -----------------------------------------------------------------

    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"result": True})

    async def _stats_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _faults_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method in ("PUT", "POST"):
            raw = await request.body()
            try:
                spec = json.loads(raw) if raw.strip() else {}
                self.faults.configure(spec, replace=request.method == "PUT")
            except ValueError as exc:
                message = str(exc) if isinstance(exc, FaultSpecError) else f"the body is not JSON: {exc}"
                return JSONResponse({"error": "INVALID_FAULT", "error_description": message}, status_code=400)
        return JSONResponse(self.faults.describe())

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def _page(self, request: Request) -> Response:
        from .web import render_page

        with self._lock:
            html = render_page(self.state(), self.config.domain, self.stats())
        return HTMLResponse(html)

    # ---- persistence -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        """Under a server with lifespan on (the CLI), shutting down saves the state file."""
        yield
        self.close()

    def _mark_dirty(self) -> None:
        if self._saver is not None:
            self._saver.mark()

    def _save_state(self) -> None:
        assert self._state_file is not None
        with self._lock:
            payload = {"store": dump_store(self.store), "oauth": self.oauth.dump()}
        self._state_file.save(payload)
        log.info("sandbox state saved", extra={"action": "sandbox.state_saved", "path": self.config.state_file})


def _method_of(path: str) -> str:
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return last.removesuffix(".json")


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _injection_response(injection: Injection) -> Response:
    if injection.kind == "redirect":
        return HTMLResponse(nginx_page(302), status_code=302, headers={"Location": injection.location or "/"})
    if injection.kind == "html":
        return HTMLResponse(nginx_page(injection.status), status_code=injection.status)
    return JSONResponse(injection.json_body(), status_code=injection.status)


async def _drop_connection(send: Any) -> bool:
    """Close the TCP connection without an answer (uvicorn's transport); False if it cannot be reached."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    for _ in range(3):  # let connection_lost run, so the server knows there is nobody to answer
        await asyncio.sleep(0)
    return True


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
