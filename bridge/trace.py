"""Where is a 1C object or event on its way to Bitrix24, and if it is not there, why?

Outbox (received and stored, published) → each consumer's outcomes with their times and the Bitrix24 calls
they made (``event_outcomes``, :mod:`bridge.outcomes`) → links (what it made, with the card's address) →
for orders, the projection; dead letters still in the broker.  An order waiting for a dependency says
which one, since when, and where that one is.

Look-up: an event id, a 1C object's UUID, a 1C document number (orders, invoices, payments, shipments;
``source``/``date`` pick one when several share it) or a Bitrix24 object (``deal:123``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date as Date
from typing import Any

import asyncpg

from . import dlq
from .b24.urls import entity_url
from .sql import Q

B24_ENTITIES = ("deal", "company", "contact", "product")
_B24_REF = re.compile(r"^(?P<type>[a-z]+):(?P<id>\d+)$")
DOCUMENTS = ("customer_order", "invoice", "payment", "shipment")
MAX_OUTCOMES = 2000  # newest outcome rows read per trace (a message waiting a day writes ~1500)
# dependency kinds in DependencyMissing.missing ("counterparty/<uuid>") → their onec_type in entity_links
DEPENDENCY_TYPES = {"counterparty": "counterparty", "product": "product"}


class NotFound(ValueError):
    """The identifier is well-formed but names nothing the bridge knows."""


class Ambiguous(ValueError):
    """Several documents match: ``candidates`` lists them (source, entity, entity_id, number, date)."""

    def __init__(self, message: str, candidates: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.candidates = candidates


@dataclass
class Trace:
    query: str
    object: dict[str, Any] | None = None  # {entity, entity_id, source, number, date}
    events: list[dict[str, Any]] = field(default_factory=list)  # newest first, each with its "outcomes"
    links: list[dict[str, Any]] = field(default_factory=list)  # with "url" when the object has a card
    order_documents: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)  # what a waiting event waits for, and where it is
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.events or self.links or self.order_documents or self.dead_letters)

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "object": self.object, "events": self.events, "links": self.links,
                "order_documents": self.order_documents, "waiting": self.waiting, "dead_letters": self.dead_letters}


async def trace(pool: asyncpg.Pool, ident: str, limit: int = 20, *,
                source: str | None = None, on_date: Date | None = None, portal: str | None = None,
                iblock_id: int | None = None) -> Trace:
    """Everything known about ``ident``; ``portal`` (``https://host``) turns links into card addresses.
    Raises ValueError (NotFound, Ambiguous) when ``ident`` names nothing or several things."""
    ident = ident.strip()
    async with pool.acquire() as conn:
        entity_id, event = await _resolve(conn, ident, source, on_date)
        result = Trace(ident)
        key = uuid.UUID(entity_id)
        events = [dict(r) for r in await conn.fetch(Q.trace_events, key, limit)]
        if event is not None and event["event_id"] not in {e["event_id"] for e in events}:
            events.insert(0, event)
        rows = await conn.fetch(Q.trace_outcomes, [uuid.UUID(e["event_id"]) for e in events], key, MAX_OUTCOMES)
        result.events = _with_outcomes(events, [dict(r) for r in rows])
        first = next(iter(result.events), {})
        result.object = {"entity": first.get("entity"), "entity_id": entity_id, "source": first.get("source"),
                         "number": first.get("number"), "date": first.get("date")}
        owners = [entity_id]
        if first.get("entity") in DOCUMENTS[1:]:
            owners += [r["order_id"] for r in await conn.fetch(Q.trace_document_orders, key)]
        for owner in owners:
            for link in await conn.fetch(Q.trace_links, owner):
                result.links.append({**dict(link), "url": entity_url(portal, link["b24_type"], link["b24_id"], iblock_id)})
        for owner in owners:
            if first.get("entity") in (None, "customer_order") or owner != entity_id:
                result.order_documents += [dict(r) for r in await conn.fetch(Q.trace_order_documents, uuid.UUID(owner))]
        result.waiting = await _waiting(conn, result.events)
    asked = str(event["event_id"]) if event is not None else (ident if _is_uuid(ident) else None)
    result.dead_letters = await _dead_letters(pool, entity_id, asked, limit)
    return result


async def _resolve(conn, ident: str, source: str | None, on_date: Date | None) -> tuple[str, dict | None]:
    """(the 1C object's UUID, the event when ``ident`` is an event id)."""
    ref = _B24_REF.match(ident.lower())
    if ref:
        return await _by_b24(conn, ref["type"], int(ref["id"]), source), None
    try:
        key = uuid.UUID(ident)
    except ValueError:
        return await _by_number(conn, ident, source, on_date), None
    row = await conn.fetchrow(Q.trace_event, key)
    if row is not None:
        return row["entity_id"], dict(row)
    known = await conn.fetchrow(Q.trace_outcome_event, key)
    if known is not None:  # the outbox row is purged; the outcomes remember the object
        return known["entity_id"], None
    return str(key), None


async def _by_b24(conn, b24_type: str, b24_id: int, source: str | None) -> str:
    if b24_type not in B24_ENTITIES:
        raise ValueError(f"{b24_type}:{b24_id}: unknown Bitrix24 object type {b24_type!r} "
                         f"(give one of {', '.join(t + ':ID' for t in B24_ENTITIES)})")
    rows = [r for r in await conn.fetch(Q.trace_by_b24, b24_type, b24_id) if source in (None, r["source"])]
    objects = sorted({r["onec_id"].split("/")[0] for r in rows})
    if not objects:
        raise NotFound(f"no 1C object is linked to {b24_type} {b24_id}: the bridge did not make it "
                       "(made by hand in Bitrix24, or by another installation)")
    if len(objects) > 1:
        raise Ambiguous(f"{b24_type} {b24_id} is linked to {len(objects)} 1C objects",
                        [{"source": r["source"], "entity": r["onec_type"], "entity_id": r["onec_id"]} for r in rows])
    return objects[0]


async def _by_number(conn, number: str, source: str | None, on_date: Date | None) -> str:
    rows = [dict(r) for r in await conn.fetch(Q.trace_by_number, number, source,
                                              on_date.isoformat() if on_date else None)]
    if not rows:
        narrowed = "".join([f" from {source}" if source else "", f" dated {on_date}" if on_date else ""])
        raise NotFound(f"{number!r} is neither a UUID, a Bitrix24 object (deal:123) nor the number of an order, "
                       f"invoice, payment or shipment the bridge received{narrowed}")
    if len(rows) > 1:
        raise Ambiguous(f"{len(rows)} documents are numbered {number!r}; pick one with --source and --date, "
                        "or trace its id", rows)
    return rows[0]["entity_id"]


def _with_outcomes(events: list[dict], outcomes: list[dict]) -> list[dict]:
    """Each event with its outcomes (oldest first); events known only from outcomes are added."""
    by_event: dict[str, list[dict]] = {}
    for row in outcomes:
        row.pop("id", None)
        by_event.setdefault(row.pop("event_id"), []).append(row)
    known = {e["event_id"] for e in events}
    for event_id, rows in by_event.items():
        if event_id not in known:  # outbox row purged (or sent by another installation's relay)
            events.append({"event_id": event_id, "event_type": None, "source": None, "entity": rows[0]["entity"],
                           "entity_id": rows[0]["entity_id"], "version": None, "occurred_at": None,
                           "received_at": None, "published_at": None, "replays": 0, "number": None, "date": None,
                           "applied_by": []})
    for e in events:
        e["outcomes"] = [{k: v for k, v in row.items() if k not in ("entity", "entity_id")}
                         for row in by_event.get(e["event_id"], [])]
    return events


async def _waiting(conn, events: list[dict]) -> list[dict]:
    """For each consumer whose latest outcome of an event is ``waiting``: each missing object, since when,
    and where it is now (in Bitrix24 already, never sent by 1C, or its own event's latest outcome)."""
    found = []
    for e in events:
        latest: dict[str, dict] = {}
        for row in e["outcomes"]:
            latest[row["consumer"]] = row
        for consumer, row in latest.items():
            if row["outcome"] != "waiting":
                continue
            for item in row["missing"] or []:
                kind, _, dep_id = item.partition("/")
                entry = {"event_id": e["event_id"], "consumer": consumer, "kind": kind, "id": dep_id,
                         "since": row["waiting_since"], "last_try": row["at"], "error": row["error"]}
                onec_type = DEPENDENCY_TYPES.get(kind)
                try:
                    dep_key = uuid.UUID(dep_id)
                except ValueError:
                    dep_key = None
                if onec_type and dep_key:
                    status = await conn.fetchrow(Q.trace_dependency, onec_type, dep_key)
                    entry.update({"in_b24": list(status["in_b24"] or []), "dependency_event": status["event_id"],
                                  "dependency_received_at": status["received_at"],
                                  "dependency_outcome": status["outcome"], "dependency_outcome_at": status["at"],
                                  "dependency_reason": status["reason"], "dependency_error": status["error"]})
                found.append(entry)
    return found


async def _dead_letters(pool: asyncpg.Pool, entity_id: str, event_id: str | None, limit: int) -> list[dict]:
    """The object's dead letters from the table (replayed and purged ones too), and the asked event's own
    (a dead letter may be all the bridge knows of an event whose outbox row is gone)."""
    table = dlq.DeadLetterTable(pool)
    found = await table.select(dlq.Selector(entity_id=entity_id, state="all"), limit)
    if event_id is not None:
        found += [letter for letter in await table.select(
                      dlq.Selector(event_ids=frozenset({event_id}), state="all"))
                  if letter.id not in {f.id for f in found}]
    return [letter.summary() for letter in found]


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
