"""The ingest's HTTP application: ``POST /v1/events``, ``POST /v1/heartbeat``, ``/healthz``, ``/readyz``, ``/metrics``, ``/docs``.

Transport rules (contract v1): one event object or a JSON array of up to 1000; ``200`` with one result per
event in request order (``accepted`` | ``duplicate`` | ``rejected`` with field errors); first write wins on
``event_id``; ``400`` for a body that is not JSON, ``401`` for a missing or unknown token, ``413`` for a
body or batch too large, ``415`` for a content type other than JSON.  Nothing malformed ever gets a 500:
a storage failure answers ``503`` with ``Retry-After`` so the 1C sender tries again.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry

from onec_outbox.contract import ENTITIES, event_json_schema, heartbeat_json_schema

from .. import db, heartbeat, metrics
from ..errors import ConfigError
from ..openapi_docs import install as install_docs
from ..ops_http import run_checks
from ..outbox import Outbox
from .config import IngestConfig
from .request import RequestRejected, check_content_type, check_token, decode, read_body
from .store import store_events

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def create_app(config: IngestConfig, *, pool: asyncpg.Pool | None = None, dsn: str | None = None,
               extra_ready: dict | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    """The ingest application.  Give it a ``pool`` (shared, e.g. by ``b24bridge run``) or a ``dsn``
    (it then opens and closes its own pool in its lifespan).  ``/metrics`` serves ``registry`` (default:
    the ingest's families only)."""
    if not config.tokens:
        raise ConfigError("BRIDGE_INGEST_TOKENS is empty: set at least one bearer token for the 1C sender")

    state: dict[str, Any] = {"pool": pool}
    registry = metrics.registry("ingest") if registry is None else registry

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        own = None
        if state["pool"] is None and dsn is not None:
            own = state["pool"] = await db.create_pool(dsn, max_size=10)
        try:
            yield
        finally:
            if own is not None:
                await own.close()

    app = FastAPI(
        title="onec-b24-bridge ingest", version="1",
        description="Receives change events from 1C:УТ 10.3 (event contract v1) and stores them durably.",
        lifespan=lifespan,
    )

    async def db_check() -> None:
        async with state["pool"].acquire() as conn:
            await conn.fetchval("SELECT 1")

    checks = {"postgresql": db_check, **(extra_ready or {})}

    @app.post("/v1/events", summary="Store 1C events (one object or an array of up to 1000)",
              responses={200: {"description": "one result per event, in request order"},
                         400: {"description": "the body is not JSON"}, 401: {"description": "bad token"},
                         413: {"description": "body or batch too large"}, 415: {"description": "not JSON"},
                         503: {"description": "storage unavailable; retry"}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"oneOf": [{"$ref": "#/components/schemas/Event"},
                                       {"type": "array", "maxItems": config.max_batch,
                                        "items": {"$ref": "#/components/schemas/Event"}}]}}}}})
    async def post_events(request: Request) -> Response:
        started = time.perf_counter()
        try:
            check_token(request, config.tokens)
            check_content_type(request)
            items = decode(await read_body(request, config.max_body_bytes), config.max_batch)
            results = await store_events(items, Outbox(state["pool"]))
        except RequestRejected as exc:
            metrics.INGEST_REQUESTS.labels(str(exc.status)).inc()
            log.warning("ingest request refused", extra={"action": "ingest.refuse", "status": exc.status,
                                                          "error": exc.code})
            return _error(exc.status, exc.code, exc.message)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            metrics.INGEST_REQUESTS.labels("503").inc()
            log.error("ingest could not store events", extra={"action": "ingest.storage_error", "error": str(exc)})
            return _error(503, "storage_unavailable", "the bridge cannot store events right now; retry later",
                          {"Retry-After": "5"})
        except asyncpg.PostgresError as exc:  # validation let through data PostgreSQL refuses: a bridge bug
            metrics.INGEST_REQUESTS.labels("500").inc()
            log.error("ingest failed to store a batch", extra={"action": "ingest.store_failed", "error": str(exc)})
            return _error(500, "store_failed", f"the bridge could not store this batch ({type(exc).__name__}); "
                          "send the events one by one to find the one it refuses, and report it")
        counts: dict[str, int] = {}
        for item, result in zip(items, results):
            counts[result.status] = counts.get(result.status, 0) + 1
            entity = str(item.get("event_type", "")).split(".")[0] if isinstance(item, dict) else ""
            metrics.INGEST_EVENTS.labels(entity if entity in ENTITIES else "unknown", result.status).inc()
        metrics.INGEST_REQUESTS.labels("200").inc()
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
        log.info("ingest stored events", extra={"action": "ingest.batch", "events": len(items), **counts})
        return JSONResponse({"results": [r.as_json() for r in results]})

    @app.post("/v1/heartbeat", summary="The 1C sender's heartbeat after every run (same bearer token)",
              responses={200: {"description": "stored as the source's latest"},
                         400: {"description": "not JSON, or a field is wrong (errors name each)"},
                         401: {"description": "bad token"}, 413: {"description": "body too large"},
                         415: {"description": "not JSON"}, 503: {"description": "storage unavailable; retry"}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": heartbeat_json_schema()}}}})
    async def post_heartbeat(request: Request) -> Response:
        try:
            check_token(request, config.tokens)
            check_content_type(request)
            body = await read_body(request, heartbeat.MAX_BODY_BYTES)
        except RequestRejected as exc:
            log.warning("heartbeat refused", extra={"action": "heartbeat.refuse", "status": exc.status, "error": exc.code})
            return _error(exc.status, exc.code, exc.message)
        status, answer = await heartbeat.accept(body, state["pool"])
        return JSONResponse(answer, status_code=status)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        ok, results = await run_checks(checks)
        return JSONResponse({"status": "ok" if ok else "failing", "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = metrics.exposition(registry)
        return Response(body, media_type=content_type)

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
