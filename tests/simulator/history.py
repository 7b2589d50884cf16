"""A run's events grouped by entity, so tests can ask what happened to each one over time."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any


class History:
    def __init__(self, events: tuple[dict[str, Any], ...]) -> None:
        self.events = events
        self.position = {e["event_id"]: i for i, e in enumerate(events)}
        self.of: dict[str, list[dict[str, Any]]] = defaultdict(list)  # entity id → events in order
        self.entity: dict[str, str] = {}
        for event in events:
            self.of[event["entity_id"]].append(event)
            self.entity[event["entity_id"]] = event["event_type"].split(".")[0]

    def ids(self, entity: str) -> list[str]:
        return [i for i, e in self.entity.items() if e == entity]

    def payloads(self, entity_id: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in self.of[entity_id]]

    def final(self, entity_id: str) -> dict[str, Any]:
        return self.of[entity_id][-1]["payload"]

    def documents_of(self, order_id: str, entity: str) -> list[str]:
        """Ids of invoices / payments / shipments that ever referred to the order."""
        found = []
        for doc_id in self.ids(entity):
            for payload in self.payloads(doc_id):
                refs = {"invoice": lambda p: [p["order_id"]],
                        "payment": lambda p: [a["order_id"] for a in p["allocations"]],
                        "shipment": lambda p: p["order_ids"]}[entity](payload)
                if order_id in refs:
                    found.append(doc_id)
                    break
        return found

    def first_posted_at(self, entity_id: str) -> int | None:
        """Position in the timeline of the entity's first posted snapshot."""
        for event in self.of[entity_id]:
            if event["payload"]["posted"]:
                return self.position[event["event_id"]]
        return None

    @staticmethod
    def allocated(payment: dict[str, Any], order_id: str) -> Decimal:
        return sum((Decimal(a["amount"]) for a in payment["allocations"] if a["order_id"] == order_id),
                   Decimal(0))
