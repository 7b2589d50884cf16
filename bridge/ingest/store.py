"""Validate each event of a request and store the valid ones in the outbox, in one transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from onec_outbox.contract import ContractViolation, event_to_json, parse_event

from ..outbox import NewEvent, Outbox


@dataclass
class Result:
    event_id: Any
    status: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "status": self.status, "errors": self.errors}


async def store_events(items: list[Any], outbox: Outbox) -> list[Result]:
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
