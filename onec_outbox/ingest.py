"""The HTTP ingest: ``POST /v1/events`` stores 1C events in the PostgreSQL outbox (commit before 2xx).

Transport rules (contract v1): one event object or a JSON array of up to 1000; ``200`` with one result per
event in request order (``accepted`` | ``duplicate`` | ``rejected`` with field errors); first write wins on
``event_id``; ``400`` for a body that is not JSON, ``401`` for a missing or unknown token, ``413`` for a
body or batch too large, ``415`` for a content type other than JSON.  Nothing malformed ever gets a 500:
a storage failure answers ``503`` with ``Retry-After`` so the 1C sender tries again.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry

from bridge import metrics
from bridge.openapi_docs import install as install_docs
from bridge.ops_http import run_checks
from bridge.outbox import NewEvent, Outbox
from onec_outbox.contract import ContractViolation, event_to_json, parse_event

log = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"


@dataclass
class IngestConfig:
    tokens: list[bytes]
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 1000


@dataclass
class Result:
    event_id: Any
    status: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "status": self.status, "errors": self.errors}


class RequestRejected(Exception):
    """The whole request is refused with this status and error (the body names the problem)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def ingest(items: list[Any], outbox: Outbox) -> list[Result]:
    """Validate each event, store the valid ones in one transaction, say what happened to each."""
    results: list[Result] = []
    valid: list[tuple[int, NewEvent]] = []
    for item in items:
        event_id = item.get("event_id") if isinstance(item, dict) else None
        try:
            event = parse_event(item)
        except ContractViolation as exc:
            results.append(Result(event_id if isinstance(event_id, (str, int)) else None, "rejected", exc.errors))
            continue
        body = json.dumps(event_to_json(event), ensure_ascii=False, separators=(",", ":"))
        valid.append((len(results), NewEvent(
            event.event_id, event.event_type, event.entity, event.source, event.entity_id, event.version,
            event.occurred_at, body)))
        results.append(Result(str(event.event_id), "duplicate"))
    stored = await outbox.store([e for _, e in valid])
    seen: set[uuid.UUID] = set()
    for index, event in valid:
        if event.event_id in stored and event.event_id not in seen:
            results[index].status = "accepted"
        seen.add(event.event_id)
    return results


def _check_token(request: Request, tokens: list[bytes]) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestRejected(401, "unauthorized", "send Authorization: Bearer <token>")
    given = token.strip().encode()
    match = False
    for known in tokens:  # compare with every token, always: no early exit to time
        match |= hmac.compare_digest(given, known)
    if not match:
        raise RequestRejected(401, "unauthorized", "the bearer token is not one of BRIDGE_INGEST_TOKENS")


def _check_content_type(request: Request) -> None:
    value = request.headers.get("content-type", "")
    media, _, params = value.partition(";")
    if media.strip().lower() != "application/json":
        raise RequestRejected(415, "unsupported_media_type",
                              f"Content-Type must be application/json; charset=utf-8 (got {value or 'none'!r})")
    for param in params.split(";"):
        key, _, charset = param.partition("=")
        if key.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestRejected(415, "unsupported_media_type",
                                  f"the body must be UTF-8 (got charset {charset.strip()!r})")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestRejected(413, "body_too_large", f"the body has {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejected(413, "body_too_large", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, max_batch: int) -> list[Any]:
    if body.startswith(BOM):
        raise RequestRejected(400, "invalid_json", "the body starts with a byte order mark (BOM); send UTF-8 "
                              "without it (1С: ИспользованиеByteOrderMark.НеИспользовать)")
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise RequestRejected(400, "invalid_json", "the body nests too deeply to be an event") from None
    except UnicodeDecodeError as exc:
        raise RequestRejected(400, "invalid_json", f"the body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise RequestRejected(400, "invalid_json",
                              f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if len(data) > max_batch:
            raise RequestRejected(413, "batch_too_large",
                                  f"the batch has {len(data)} events; send at most {max_batch} per request")
        return data
    raise RequestRejected(400, "invalid_body", "the body must be one event object or a JSON array of events")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def create_app(config: IngestConfig, *, pool: asyncpg.Pool | None = None, dsn: str | None = None,
               extra_ready: dict | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    """The ingest application.  Give it a ``pool`` (shared, e.g. by ``b24bridge run``) or a ``dsn``
    (it then opens and closes its own pool in its lifespan).  ``/metrics`` serves ``registry`` (default:
    the ingest's families only)."""
    if not config.tokens:
        from bridge.errors import ConfigError

        raise ConfigError("BRIDGE_INGEST_TOKENS is empty: set at least one bearer token for the 1C sender")

    state: dict[str, Any] = {"pool": pool}
    registry = metrics.registry("ingest") if registry is None else registry

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        own = None
        if state["pool"] is None and dsn is not None:
            from bridge import db

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
            _check_token(request, config.tokens)
            _check_content_type(request)
            items = _decode(await _read_body(request, config.max_body_bytes), config.max_batch)
            results = await ingest(items, Outbox(state["pool"]))
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
            metrics.INGEST_EVENTS.labels(entity if entity in _ENTITIES else "unknown", result.status).inc()
        metrics.INGEST_REQUESTS.labels("200").inc()
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
        log.info("ingest stored events", extra={"action": "ingest.batch", "events": len(items), **counts})
        return JSONResponse({"results": [r.as_json() for r in results]})

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
    from onec_outbox.contract import event_json_schema

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            event = event_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(event.pop("$defs", {}))
            components["Event"] = event
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_ENTITIES = {"counterparty", "product", "customer_order", "invoice", "payment", "shipment"}
