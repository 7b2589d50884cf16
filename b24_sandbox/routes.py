"""The sandbox's HTTP face: the Starlette routes and the REST pipeline in front of :meth:`Sandbox.execute`.

Steps 1–6 and 8 of the pipeline described in :mod:`b24_sandbox.app` live here; step 7 (running the method)
is the portal's own.  Also the OAuth token endpoint and the sandbox's own ``/_sandbox/…`` endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import envelope, methods, xmlreply
from .calls import Caller, Outcome, Target, insufficient_scope, webhook_key
from .errors import ApiError, invalid_credentials, method_not_found, query_limit
from .faults import FaultSpecError, Injection, nginx_page
from .oauth import OAuthError
from .phpquery import parse_multipart, parse_query

if TYPE_CHECKING:  # for the annotation only: app imports this module
    from .app import Sandbox

log = logging.getLogger("b24_sandbox")


class Routes:
    """The ASGI app of one :class:`Sandbox`: front faults first, then the routes."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
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
            Route("/_sandbox/live", self._live, methods=["GET"]),
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

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        """Under a server with lifespan on (the CLI), shutting down saves the state file."""
        yield
        self.sandbox.close()

    # ---- the REST pipeline ---------------------------------------------------------------------

    async def _front_faults(self, scope: Any, receive: Any, send: Any) -> bool:
        """Outage, moved portal and latency: answered before the portal itself sees the request."""
        sandbox = self.sandbox
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope["path"]
        injection = sandbox.faults.front(headers.get("host", ""), path,
                                         scope.get("query_string", b"").decode("latin-1"), scope.get("scheme", "http"))
        if injection is not None:
            sandbox.count_request()
            sandbox.count_fault(injection.label)
            log.info("sandbox fault", extra={"action": "sandbox.fault", "fault": injection.label,
                                             "status": injection.status})
            if injection.kind == "drop" and await _drop_connection(send):
                return True
            if injection.kind == "drop":
                injection = Injection("html", 502, injection.label)
            await _injection_response(injection)(scope, receive, send)
            return True
        delay = sandbox.faults.delay(_method_of(path))
        if delay > 0:
            sandbox.count_fault("latency")
            await asyncio.sleep(delay)
        return False

    async def _rest(self, request: Request) -> Response:
        sandbox = self.sandbox
        start = sandbox.clock()
        method = "?"  # until the path names a known method: never the webhook's code, nor a scanner's path
        xml = _wants_xml(request.path_params["path"])
        try:
            target = _route(request.path_params["path"])
            method = target.method
            params = await _params(request)
            caller = self._authenticate(target, request, params)
            injection = sandbox.faults.request_error(method)
            if injection is not None:
                sandbox.count_fault(injection.label)
                if injection.kind == "html":
                    return self._answer_injection(method, injection)
                raise ApiError(injection.error or "", injection.description or "", injection.status)
            self._throttle(request)
            outcome = sandbox.execute(target.method, params, caller.user_id, caller=caller.key, scope=caller.scope)
        except ApiError as exc:  # refused before any method ran: auth, limits, injected errors, bad path
            sandbox.count_refused(str(exc.code) or '""')
            outcome = Outcome(None, exc, envelope.time_block(start, start, sandbox.config.tz))
        return self._envelope(method, outcome, xml)

    def _authenticate(self, target: Target, request: Request, params: dict[str, Any]) -> Caller:
        """The caller, or the 401 the portal answers: bad credentials or token, or a scope not granted."""
        caller = self._caller(target, request, params)
        if not methods.scope_allows(caller.scope, target.method):
            holder = "access token" if target.app_mode else "webhook token"
            raise insufficient_scope(f"The request requires higher privileges than provided by the {holder}")
        return caller

    def _caller(self, target: Target, request: Request, params: dict[str, Any]) -> Caller:
        config = self.sandbox.config
        if target.app_mode:
            token = params.pop("auth", None)
            alternative = params.pop("access_token", None)
            if not token:
                token = alternative
            if not token:
                header = request.headers.get("authorization", "")
                if header[:7].lower() == "bearer ":
                    token = header[7:].strip()
            app = self.sandbox.oauth.authenticate(None if token is None else str(token))
            return Caller(f"app:{app.client_id}", app.user_id, methods.scopes(config.oauth_scope))
        assert target.user is not None
        for user, code in config.webhooks():
            if int(target.user) == user and target.code == code:
                return Caller(webhook_key(user, code), user, methods.scopes(config.webhook_scope))
        raise invalid_credentials()

    def _throttle(self, request: Request) -> None:
        """The leaky bucket of the request's peer address: the portal counts per source IP."""
        address = request.client.host if request.client is not None else ""
        if not self.sandbox.bucket.try_acquire(address):
            self.sandbox.count_rate_limited()
            raise query_limit()

    def _envelope(self, method: str, outcome: Outcome, xml: bool = False) -> Response:
        code = "" if outcome.error is None else (str(outcome.error.code) or '""')
        self.sandbox.count_request(method, code)
        if outcome.error is not None:
            status, body = outcome.error.status, outcome.error.body()
        else:
            assert outcome.result is not None
            status = 200
            body = envelope.success(outcome.result.value, outcome.time, outcome.result.total, outcome.result.next)
        log.info("sandbox call", extra={"action": "sandbox.call", "method": method, "status": status,
                                        "error": code or None})
        if xml:
            return Response(xmlreply.render(body), status_code=status, media_type=xmlreply.CONTENT_TYPE)
        return JSONResponse(body, status_code=status)

    def _answer_injection(self, method: str, injection: Injection) -> Response:
        self.sandbox.count_request(method, injection.label)
        log.info("sandbox fault", extra={"action": "sandbox.fault", "method": method, "fault": injection.label,
                                         "status": injection.status})
        return _injection_response(injection)

    # ---- OAuth ---------------------------------------------------------------------------------

    async def _oauth_token(self, request: Request) -> Response:
        params = await _params(request)
        try:
            body = self.sandbox.oauth.token_endpoint(params, _base_url(request))
        except OAuthError as exc:
            log.info("sandbox oauth", extra={"action": "sandbox.oauth", "status": exc.status, "error": exc.code})
            return JSONResponse(exc.body(), status_code=exc.status)
        log.info("sandbox oauth", extra={"action": "sandbox.oauth", "status": 200, "error": None})
        return JSONResponse(body)

    async def _oauth_endpoint(self, request: Request) -> Response:
        oauth = self.sandbox.oauth
        if request.method == "GET":
            return JSONResponse({"client_id": self.sandbox.config.oauth_client_id, "apps": sorted(oauth.apps),
                                 "tokens": oauth.counts(), "token_url": _base_url(request) + "/oauth/token/"})
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
                return JSONResponse({"code": oauth.mint_code(client_id=spec.get("client_id"), user_id=user_id)})
            return JSONResponse(oauth.mint(client_id=spec.get("client_id"), user_id=user_id,
                                           base_url=_base_url(request)))
        except OAuthError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    # ---- sandbox's own endpoints -----------------------------------------------------------------

    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.sandbox.state())

    async def _reset(self, request: Request) -> Response:
        self.sandbox.reset()
        return JSONResponse({"result": True})

    async def _stats_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.sandbox.stats())

    async def _faults_endpoint(self, request: Request) -> Response:
        faults = self.sandbox.faults
        if request.method == "DELETE":
            faults.clear()
        elif request.method in ("PUT", "POST"):
            raw = await request.body()
            try:
                spec = json.loads(raw) if raw.strip() else {}
                faults.configure(spec, replace=request.method == "PUT")
            except ValueError as exc:
                message = str(exc) if isinstance(exc, FaultSpecError) else f"the body is not JSON: {exc}"
                return JSONResponse({"error": "INVALID_FAULT", "error_description": message}, status_code=400)
        return JSONResponse(faults.describe())

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _metrics(self, request: Request) -> Response:
        return Response(generate_latest(self.sandbox.registry), media_type=CONTENT_TYPE_LATEST)

    async def _page(self, request: Request) -> Response:
        refresh = request.query_params.get("refresh", "5")
        seconds = int(refresh) if refresh.isdigit() else 5
        return HTMLResponse(self.sandbox.board_html(seconds), headers={"Cache-Control": "no-store"})

    async def _live(self, request: Request) -> Response:
        return HTMLResponse(self.sandbox.board_live(), headers={"Cache-Control": "no-store"})


def _strip_suffix(name: str) -> str:
    """The method name without its transport suffix (``.json``, the default, or ``.xml``)."""
    for suffix in (".json", ".xml"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _wants_xml(path: str) -> bool:
    return path.rstrip("/").lower().endswith(".xml")


def _route(path: str) -> Target:
    parts = [p for p in path.split("/") if p != ""]
    if parts:
        parts[-1] = _strip_suffix(parts[-1])
    # The portal looks the method up before it checks the credentials (CRestServer::processExecution:
    # checkScope, then checkAuth), so an unknown method is 404 whatever the webhook code or token.
    if len(parts) not in (1, 3) or methods.lookup(parts[-1]) is None:
        raise method_not_found()
    if len(parts) == 1:
        return Target(parts[0].lower())
    if not parts[0].isdigit():
        raise method_not_found()
    return Target(parts[2].lower(), parts[0], parts[1])


async def _params(request: Request) -> dict[str, Any]:
    params = parse_query(request.url.query)
    body = await request.body()
    if body:
        content_type = request.headers.get("content-type", "")
        params.update(_parse_body(body, content_type))
    return params


def _method_of(path: str) -> str:
    return _strip_suffix(path.rstrip("/").rsplit("/", 1)[-1].lower())


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
