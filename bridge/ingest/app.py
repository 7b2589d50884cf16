"""The ingest's HTTP application: ``POST /v1/events``, ``POST /v1/heartbeat``, ``/healthz``, ``/readyz``, ``/metrics``, ``/docs``.

Transport rules (contract v1): one event object or a JSON array of up to 1000; ``200`` with one result per
event in request order (``accepted`` | ``duplicate`` | ``rejected`` with field errors); first write wins on
``event_id``; ``400`` for a body that is not JSON, ``401`` for a missing or unknown token, ``408`` for a
body that does not arrive in time, ``413`` for a body, batch or value count too large, ``415`` for a
content type other than JSON; a path with a trailing slash is the same endpoint, and any other path or
method gets ``404``/``405`` in the same ``{"error", "message"}`` shape.  Nothing a client sends ever gets a
500: a value the contract, the decoder or PostgreSQL refuses rejects its event alone; a storage failure answers ``503`` with ``Retry-After`` so the
1C sender tries again.  Every answer is counted in ``bridge_ingest_requests_total``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onec_outbox.contract import ENTITIES, event_json_schema, heartbeat_json_schema
from onec_outbox.contract.events import MAX_DEPTH, MAX_ITEMS, MAX_STRING

from .. import heartbeat, metrics
from ..errors import ConfigError, InfrastructureError
from ..openapi_docs import install as install_docs
from ..ops_http import routes as ops_routes
from ..outbox import Outbox
from .config import IngestConfig
from .decoding import decode_events, refuse_bom
from .request import RequestRejected, check_content_type, check_sources, check_token, drain, read_body
from .responses import ErrorBody, Results
from .store import Result, Valid, store_valid, validate

log = logging.getLogger(__name__)


ENDPOINTS = ("/v1/events", "/v1/heartbeat")


class OneSlash:
    """``/v1/events/`` is ``/v1/events`` (and the heartbeat's likewise): a 1C sender configured with a
    trailing slash would otherwise get a 307 redirect, which 1C's HTTP client does not follow for a POST."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/") and scope["path"].rstrip("/") in ENDPOINTS:
            scope = {**scope, "path": scope["path"].rstrip("/"), "raw_path": scope["path"].rstrip("/").encode()}
        await self.app(scope, receive, send)


class CountAnswers:
    """Counts every answer of ``path`` in ``bridge_ingest_requests_total`` by status: the handler's, the
    router's (405) and a crash's (500) alike."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        status = 500

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            metrics.INGEST_REQUESTS.labels(str(status)).inc()


def _limits(config: IngestConfig) -> str:
    return (f"Limits. Per request (refused whole): body {config.max_body_bytes} bytes (413 body_too_large), "
            f"{config.max_batch} events (413 batch_too_large), {config.max_values} JSON values "
            f"(413 too_many_values), body received within {config.body_timeout:g} s (408 body_timeout). "
            f"Per event (that event alone is rejected, with the field path): strings up to {MAX_STRING} "
            f"characters (too_long), arrays up to {MAX_ITEMS} elements (too_many_items), nesting up to "
            f"{MAX_DEPTH} levels (too_deep), numbers of up to {config.max_number_chars} characters that a "
            "double and PostgreSQL's numeric can hold, at most 16383 digits after the point "
            "(number_unrepresentable; NaN and Infinity are not JSON). Unknown fields are "
            "stored with the values exactly as sent. A storage failure answers 503 with Retry-After and "
            "stores nothing of the request.")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


class Answer(JSONResponse):
    """JSON that can always be written: a string the sender gave with half a surrogate pair (an ``event_id``
    echoed as sent, ``"x\\ud83d"``) is not UTF-8, so such an answer escapes it (``\\ud83d``, as it came)
    instead of failing after the events were stored (a bare 500 the 1C sender would resend for ever)."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return Answer({"error": code, "message": message}, status_code=status, headers=headers)


def create_app(config: IngestConfig, *, pool: asyncpg.Pool | None = None,
               extra_ready: dict | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    """The ingest application on ``pool`` (built by :func:`bridge.bootstrap.build`; without one only the
    docs work).  ``/metrics`` serves ``registry`` (default: the ingest's families only)."""
    if not config.tokens:
        raise ConfigError("BRIDGE_INGEST_TOKENS is empty: set at least one bearer token for the 1C sender")

    state: dict[str, Any] = {"pool": pool}
    registry = metrics.registry("ingest") if registry is None else registry

    app = FastAPI(
        title="onec-b24-bridge ingest", version="1",
        description="Receives change events from 1C:УТ 10.3 (event contract v1) and stores them durably.",
    )

    async def db_check() -> None:
        async with state["pool"].acquire() as conn:
            await conn.fetchval("SELECT 1")

    checks = {"postgresql": db_check, **(extra_ready or {})}

    @app.post("/v1/events", summary="Store 1C events (one object or an array of up to 1000)",
              description=_limits(config), response_model=None,
              responses={200: {"model": Results, "description": "one result per event, in request order"},
                         400: {"model": ErrorBody, "description": "the body is not JSON, or not events"},
                         401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
                         403: {"model": ErrorBody, "description": "forbidden_source: an event's source is not "
                               "a 1C base the token is bound to (nothing stored)"},
                         408: {"model": ErrorBody, "description": "the body did not arrive in time"},
                         413: {"model": ErrorBody, "description": "body, batch or value count too large"},
                         415: {"model": ErrorBody, "description": "not application/json in UTF-8, or compressed "
                               "(Content-Encoding other than identity)"},
                         500: {"model": ErrorBody, "description": "a bridge bug; never caused by input"},
                         503: {"model": ErrorBody, "description": "storage unavailable; retry",
                               "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                           "description": "seconds to wait"}}}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"oneOf": [{"$ref": "#/components/schemas/Event"},
                                       {"type": "array", "maxItems": config.max_batch,
                                        "items": {"$ref": "#/components/schemas/Event"}}]}}}}})
    async def post_events(request: Request) -> Response:
        started = time.perf_counter()
        try:
            token = check_token(request, config.tokens)
            check_content_type(request)
            body = await read_body(request, config.max_body_bytes, config.body_timeout)
            # decoding and validation are CPU work: off the event loop, so a heavy body stalls nobody
            items, results, valid = await asyncio.to_thread(prepare, body)
            check_sources(items, config.sources.get(token))
            results = await store_valid(results, valid, Outbox(state["pool"]))
        except RequestRejected as exc:
            log.warning("ingest request refused", extra={"action": "ingest.refuse", "status": exc.status,
                                                          "error": exc.code})
            if exc.status != 408:  # (a body that did not arrive in time is not waited for again)
                await drain(request, config.body_timeout)
            headers = {**(exc.headers or {}), **({"Connection": "close"} if exc.status == 408 else {})}
            return _error(exc.status, exc.code, exc.message, headers or None)
        except InfrastructureError as exc:
            log.error("ingest could not store events", extra={"action": "ingest.storage_error", "error": str(exc)})
            return _error(503, "storage_unavailable", "the bridge cannot store events right now; retry later",
                          {"Retry-After": "5"})
        except Exception as exc:  # a bridge bug: answered and counted, never a bare 500 page
            log.exception("ingest failed", extra={"action": "ingest.failed", "error": f"{type(exc).__name__}"})
            return _error(500, "internal_error", f"the bridge failed on this request ({type(exc).__name__}); "
                          "report it; the 1C sender will retry")
        counts: dict[str, int] = {}
        by_label: dict[tuple[str, str], int] = {}  # one counter update per label pair, not per event
        for item, result in zip(items, results):
            counts[result.status] = counts.get(result.status, 0) + 1
            entity = str(item.get("event_type", "")).split(".")[0] if isinstance(item, dict) else ""
            label = (entity if entity in ENTITIES else "unknown", result.status)
            by_label[label] = by_label.get(label, 0) + 1
        for (entity, status), count in by_label.items():
            metrics.INGEST_EVENTS.labels(entity, status).inc(count)
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
        log.info("ingest stored events", extra={"action": "ingest.batch", "events": len(items), **counts})
        return Answer({"results": [r.as_json() for r in results]})

    def prepare(body: bytes) -> tuple[list[Any], list[Result], Valid]:
        items, texts, floats = decode_events(body, config, MAX_ITEMS)
        return (items, *validate(items, floats, texts))

    @app.post("/v1/heartbeat", summary="The 1C sender's heartbeat after every run (same bearer token)",
              responses={200: {"description": "stored as the source's latest"},
                         400: {"model": ErrorBody,
                               "description": "not JSON, or a field is wrong (invalid_heartbeat: errors name each)"},
                         401: {"model": ErrorBody, "description": "bad token"},
                         403: {"model": ErrorBody, "description": "another base than the token is bound to"},
                         408: {"model": ErrorBody, "description": "the body did not arrive in time"},
                         413: {"model": ErrorBody, "description": "body too large"},
                         415: {"model": ErrorBody, "description": "not JSON, or compressed"},
                         500: {"model": ErrorBody, "description": "a bridge bug (never what 1C sent)"},
                         503: {"model": ErrorBody, "description": "storage unavailable; retry"}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": heartbeat_json_schema()}}}})
    async def post_heartbeat(request: Request) -> Response:
        try:
            token = check_token(request, config.tokens)
            check_content_type(request)
            body = await read_body(request, heartbeat.MAX_BODY_BYTES, config.body_timeout)
            refuse_bom(body)
            if config.sources.get(token) is not None:
                check_sources([_json_or_none(body)], config.sources[token])
        except RequestRejected as exc:
            log.warning("heartbeat refused", extra={"action": "heartbeat.refuse", "status": exc.status, "error": exc.code})
            if exc.status != 408:
                await drain(request, config.body_timeout)
            return _error(exc.status, exc.code, exc.message, exc.headers)
        try:
            status, answer = await heartbeat.accept(body, state["pool"])
        except Exception as exc:  # a bridge bug: answered in the documented shape, never a bare 500 page
            log.exception("heartbeat failed", extra={"action": "heartbeat.failed", "error": type(exc).__name__})
            return _error(500, "internal_error", f"the bridge failed on this heartbeat ({type(exc).__name__}); "
                          "report it")
        if status == 400:
            log.warning("heartbeat refused", extra={"action": "heartbeat.refuse", "status": status,
                                                    "error": answer.get("error")})
        return Answer(answer, status_code=status, headers={"Retry-After": "5"} if status == 503 else None)

    # /healthz, /readyz and /metrics as the relay and the consumers serve them (GET and HEAD)
    app.router.routes.extend(ops_routes(checks, registry))

    @app.exception_handler(HTTPException)
    async def routing_error(request: Request, exc: HTTPException) -> Response:
        """The router's 404 and 405 in the ingest's error shape (FastAPI's own is ``{"detail": …}``)."""
        if exc.status_code == 405:
            return _error(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}; "
                          "events and heartbeats are sent with POST", exc.headers)
        if exc.status_code == 404:
            return _error(404, "not_found", f"no endpoint {request.url.path}; events go to POST /v1/events, "
                          "heartbeats to POST /v1/heartbeat (docs at /docs)")
        return _error(exc.status_code, "http_error", str(exc.detail), exc.headers)

    app.add_middleware(CountAnswers, path="/v1/events")
    app.add_middleware(OneSlash)  # outermost: the count and the router see the one path
    _add_event_schema(app)
    install_docs(app, token_description="one of BRIDGE_INGEST_TOKENS: Authorization: Bearer <token>")
    return app


def _add_event_schema(app: FastAPI) -> None:
    """Publish the contract's JSON Schema in OpenAPI (/docs) under components.schemas.Event."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            event = event_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(event.pop("$defs", {}))
            components["Event"] = event
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
