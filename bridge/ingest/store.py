"""Validate each event of a request and store the valid ones in the outbox, each one's fate its own.

:func:`validate` is pure CPU (the app runs it off the event loop); :func:`store_valid` writes;
:func:`validate_and_store` overlaps the two part by part.  An event
PostgreSQL still refuses after validation is ``rejected`` alone (``storage_refused``): the outbox retries
the batch event by event, so one poisonous event never keeps the others of its batch, or of the 1C queue
behind it, from being stored.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from onec_outbox.contract import ContractViolation, event_to_json, parse_event

from ..outbox import NewEvent, Outbox
from .decoding import dumps_exact

log = logging.getLogger(__name__)

PART = 125  # events validated while the part before them is inserted (validate_and_store)


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
        event_id = str(event.event_id)
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
            results[index] = Result(str(event.event_id), "rejected", [{
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


async def validate_and_store(items: list[Any], outbox: Outbox, *, exact_numbers: bool = False,
                             texts: list[str] | None = None, part: int = PART) -> list[Result]:
    """:func:`validate` and :func:`store_valid`, ``part`` events at a time, overlapped: part k+1 is
    validated (in a thread: CPU work, off the event loop) while PostgreSQL inserts part k, so one sender's
    request costs about the longer of the two instead of their sum (~95 + 50 ms for 500 events).  Each
    event's fate is its own, so the parts are independent; they are inserted in order."""
    results: list[Result] = []
    storing: asyncio.Task[list[Result]] | None = None
    try:
        for start in range(0, len(items), part):
            chunk_texts = texts[start:start + part] if texts is not None else None
            part_results, valid = await asyncio.to_thread(validate, items[start:start + part], exact_numbers,
                                                          chunk_texts)
            if storing is not None:
                results += await storing
            storing = asyncio.create_task(store_valid(part_results, valid, outbox))
        if storing is not None:
            results += await storing
            storing = None
    finally:
        if storing is not None and not storing.done():  # the request failed or was cancelled meanwhile
            storing.cancel()
            await asyncio.gather(storing, return_exceptions=True)
    return results
