"""Validate each event of a request and store the valid ones in the outbox, each one's fate its own.

:func:`validate` is pure CPU (the app runs it off the event loop); :func:`store_valid` writes.  An event
PostgreSQL still refuses after validation is ``rejected`` alone (``storage_refused``): the outbox retries
the batch event by event, so one poisonous event never keeps the others of its batch, or of the 1C queue
behind it, from being stored.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from onec_outbox.contract import ContractViolation, event_to_json, parse_event

from ..outbox import NewEvent, Outbox
from .decoding import dumps_exact

log = logging.getLogger(__name__)


@dataclass
class Result:
    event_id: Any
    status: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "status": self.status, "errors": self.errors}


Valid = list[tuple[int, NewEvent]]


def validate(items: list[Any], exact_numbers: bool = False,
             texts: list[str] | None = None) -> tuple[list[Result], Valid]:
    """One result per item (``rejected`` with field errors, or provisionally ``duplicate``) and the valid
    events to store with their index.  ``texts``: each item's JSON text as sent
    (:func:`~.decoding.decode_events`), stored as it is: validation reads an event once and nothing is
    encoded again.  Without them the validated event is written out, and ``exact_numbers`` (the body held
    non-integer numbers) keeps unknown fields' digits as sent (see :func:`~.decoding.dumps_exact`)."""
    results: list[Result] = []
    valid: Valid = []
    for position, item in enumerate(items):
        try:
            event = parse_event(item)
        except ContractViolation as exc:
            event_id = item.get("event_id") if isinstance(item, dict) else None
            echoed = isinstance(event_id, (str, int)) and not isinstance(event_id, bool)
            results.append(Result(event_id if echoed else None, "rejected", exc.errors))
            continue
        if texts is not None:
            body = texts[position]
        else:
            dumped = event_to_json(event)
            body = dumps_exact(dumped, item) if exact_numbers else dumps_exact(dumped, None)
        sent = item.get("event_id")  # echoed as sent (the 1C sender matches its queue on its own spelling)
        event_id = sent if isinstance(sent, str) else str(event.event_id)
        valid.append((len(results), NewEvent(
            event.event_id, event.event_type, event.entity, event.source, event.entity_id, event.version,
            event.occurred_at, body)))
        results.append(Result(event_id, "duplicate"))
    return results, valid


async def store_valid(results: list[Result], valid: Valid, outbox: Outbox) -> list[Result]:
    """Store the valid events; mark each ``accepted`` (stored now), ``duplicate`` or ``rejected``."""
    stored, refused = await outbox.store_isolated([e for _, e in valid])
    seen: set[uuid.UUID] = set()
    for position, (index, event) in enumerate(valid):
        if position in refused:
            log.warning("PostgreSQL refused a validated event", extra={
                "action": "ingest.storage_refused", "event_id": str(event.event_id), "error": refused[position]})
            results[index] = Result(results[index].event_id, "rejected", [{
                "path": "(событие)", "code": "storage_refused",
                "message": f"PostgreSQL не принял событие: {refused[position][:300]}; исправьте его в 1С "
                           "и сообщите администратору моста"}])
            continue
        if event.event_id in stored and event.event_id not in seen:
            results[index].status = "accepted"
        seen.add(event.event_id)
    return results


async def store_events(items: list[Any], outbox: Outbox) -> list[Result]:
    """Validate each decoded event and store the valid ones; say what happened to each."""
    results, valid = validate(items)
    return await store_valid(results, valid, outbox)
