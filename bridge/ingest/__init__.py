"""The HTTP ingest: ``POST /v1/events`` stores 1C events in the PostgreSQL outbox (commit before 2xx).

It lives beside the outbox it writes: ``app`` (routes, lifespan, OpenAPI), ``request`` (the transport
rules of contract v1: token, content type, size, JSON), ``store`` (validate each event, store the valid
ones), ``config`` (limits and tokens).
"""

from .app import create_app
from .config import IngestConfig
from .store import Result, store_events

__all__ = ["IngestConfig", "Result", "create_app", "store_events"]
