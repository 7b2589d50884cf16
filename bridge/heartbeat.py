"""1C health: the latest heartbeat of each 1C base, kept in PostgreSQL and exported as metrics.

``POST /v1/heartbeat`` (the ingest) calls :func:`receive`; the console and the notice watcher read
:func:`latest`.  The metrics are set **from the table**, by the relay every few seconds
(:func:`refresh_gauges`), not by the ingest replica that happened to receive the heartbeat: several
ingest replicas behind a load balancer would each export a different, stale "latest" (a drained backlog
would stay high on the replica that last saw it), and a restarted ingest would export nothing for a base
that stopped posting, which is exactly when the silence alert must fire.  Read from the table, every
exporter shows the same values, they survive restarts, and they keep ageing while 1C is silent for any
reason (job disabled, network, ingest down, token refused).  Several relays export identical series;
the alerts take ``max by (namespace, source)``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from onec_outbox.contract import ContractViolation, Heartbeat, parse_heartbeat
from onec_outbox.contract.events import unstorable

from . import edges, metrics
from .errors import InfrastructureError
from .sql import Q
from .working_hours import DEFAULT_WORKING_HOURS, WorkingHours

log = logging.getLogger(__name__)


# A base heard from longer ago than this is "silent" on the console; the same figure as the
# BridgeOnecSilent alert and the notice's default (notify.silence_minutes), which also honour working hours.
SILENT_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class SourceHealth:
    """What one 1C base said after its sender's last run, and when the bridge heard it."""

    source: str
    received_at: datetime
    module_version: str
    platform_version: str
    pending: int
    oldest_pending_seconds: int
    rejected: int


async def receive(pool: asyncpg.Pool, beat: Heartbeat) -> datetime:
    """Keep ``beat`` as its source's latest; returns when the bridge received it (its own clock)."""
    return await pool.fetchval(Q.heartbeat_store, beat.source, beat.module_version, beat.platform_version,
                               beat.pending, beat.oldest_pending_seconds, beat.rejected)


async def latest(pool: asyncpg.Pool) -> list[SourceHealth]:
    """The latest heartbeat of every 1C base that ever posted one, by source."""
    return [SourceHealth(**dict(row)) for row in await pool.fetch(Q.heartbeat_latest)]


async def forget(pool: asyncpg.Pool, source: str) -> bool:
    """Drop a decommissioned base (its metrics and silence alerts stop); False when it was unknown."""
    return await pool.fetchval(Q.heartbeat_forget, source) is not None


def set_gauges(sources: list[SourceHealth]) -> None:
    """Export exactly these sources (a forgotten one disappears).  No await inside: a scrape served by the
    same event loop never sees the gauges half cleared."""
    for gauge in metrics.ONEC_GAUGES:
        gauge.clear()
    for s in sources:
        metrics.ONEC_PENDING.labels(s.source).set(s.pending)
        metrics.ONEC_OLDEST_PENDING.labels(s.source).set(s.oldest_pending_seconds)
        metrics.ONEC_REJECTED.labels(s.source).set(s.rejected)
        metrics.ONEC_LAST_HEARTBEAT.labels(s.source).set(s.received_at.timestamp())
        metrics.ONEC_SENDER_INFO.labels(s.source, s.module_version, s.platform_version).set(1)


async def refresh_gauges(pool: asyncpg.Pool, hours: WorkingHours | None = None) -> None:
    """Read the table and export it, with whether 1C must be posting now (the relay calls this with its
    outbox backlog gauges)."""
    set_gauges(await latest(pool))
    metrics.ONEC_WORKING_HOURS.set(int((hours or WorkingHours.parse(DEFAULT_WORKING_HOURS)).open_at(now())))


def now() -> datetime:
    return datetime.now(UTC)


# --- POST /v1/heartbeat (the route in bridge/ingest/app.py checks token, content type and size first) -----

MAX_BODY_BYTES = 16 * 1024  # a heartbeat is a few hundred bytes


async def accept(body: bytes, pool: asyncpg.Pool) -> tuple[int, dict]:
    """The answer (status, JSON) to a heartbeat body: ``200`` once stored, ``400`` naming each bad field,
    ``503`` (retry) when PostgreSQL is away.  1C never fails its run on this answer; it only logs it."""
    if not body.strip():
        return 400, {"error": "invalid_json", "message": "the body is empty: send one heartbeat object"}
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # (ValueError: an integer over 4,300 digits)
        return 400, {"error": "invalid_json", "message": f"the body is not UTF-8 JSON: {exc}"}
    if not isinstance(data, dict):
        return 400, {"error": "invalid_body", "message": "the body must be one heartbeat object"}
    # NUL or half a surrogate pair in a field it keeps (PostgreSQL could not store it): named at the field,
    # with every other field's error; unknown fields are ignored, whatever they hold
    errors = unstorable({k: v for k, v in data.items() if k in Heartbeat.model_fields})
    try:
        beat = parse_heartbeat(data)
    except ContractViolation as exc:
        errors += [e for e in exc.errors if e["path"] not in {p["path"] for p in errors}]
    if errors:
        fields = ", ".join(e["path"] for e in errors)
        return 400, {"error": "invalid_heartbeat", "message": f"bad fields: {fields}", "errors": errors}
    try:
        with edges.postgres("heartbeat", every_error=True):  # read-only, a timeout…: retried, as when away
            received_at = await receive(pool, beat)
    except InfrastructureError as exc:
        log.error("heartbeat not stored", extra={"action": "heartbeat.storage_error", "error": str(exc)})
        return 503, {"error": "storage_unavailable", "message": "the bridge cannot store it right now; retry"}
    log.info("heartbeat received", extra={"action": "heartbeat.receive", "source": beat.source,
                                          "pending": beat.pending, "rejected": beat.rejected})
    return 200, {"status": "ok", "source": beat.source, "received_at": received_at.isoformat()}
