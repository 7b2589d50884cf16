"""The Bitrix24 state a run must end in, derived from the 1C facts alone: the truth the bridge is checked against.

Pure.  Input: the events of a run, in any order and with any repetition (only the highest version of each
entity counts, plus, for orders, whether any version was posted).  Output: neutral JSON (no Bitrix24
field names), documented in ``docs/simulator.md``.  The deal rules are implemented here independently of
the bridge, from the contract's meaning of the documents:

* a document is *valid* when it is posted and not marked for deletion;
* an order has a deal once any version of it was posted (even if later unposted or deleted);
* stage: order deleted → ``cancelled``; order not posted → ``new``; else ``paid`` when paid, else
  ``shipped_unpaid`` when a valid shipment lists the order, else ``invoiced`` when a valid invoice is for
  it, else ``new``;
* amount and product rows come from the valid invoices when there are any, else from the order;
* paid amount = the allocations to the order from valid payments; paid when it covers the amount
  (rule ``full``) or when it is above zero (rule ``any``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from onec_outbox.simulator.world import money

FORMAT = "onec-b24-bridge/expected-state/v1"
PAID_RULES = ("full", "any")
STAGES = ("new", "invoiced", "shipped_unpaid", "paid", "cancelled")


def expected_state(events: Iterable[dict[str, Any]], *, paid_rule: str = "full") -> dict[str, Any]:
    if paid_rule not in PAID_RULES:
        raise ValueError(f"paid_rule must be one of {', '.join(PAID_RULES)}, not {paid_rule!r}")
    facts = Facts.of(events)
    return {
        "format": FORMAT,
        "paid_rule": paid_rule,
        "counterparties": {i: counterparty(p) for i, p in sorted(facts.latest["counterparty"].items())},
        "products": {i: product(p) for i, p in sorted(facts.latest["product"].items())},
        "deals": {i: facts.deal(i, paid_rule) for i in sorted(facts.latest["customer_order"])
                  if i in facts.ever_posted},
    }


class Facts:
    """The latest snapshot of every entity, and the documents of each order."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self._versions: dict[tuple[str, str], int] = {}
        self.ever_posted: set[str] = set()

    @classmethod
    def of(cls, events: Iterable[dict[str, Any]]) -> Facts:
        facts = cls()
        for event in events:
            entity = event["event_type"].split(".", 1)[0]
            key = (entity, event["entity_id"])
            if entity == "customer_order" and event["payload"]["posted"]:
                facts.ever_posted.add(event["entity_id"])
            if facts._versions.get(key, -1) < event["version"]:
                facts._versions[key] = event["version"]
                facts.latest[entity][event["entity_id"]] = event["payload"]
        facts._index()
        return facts

    def _index(self) -> None:
        self.invoices: dict[str, list[dict]] = defaultdict(list)
        self.shipments: dict[str, list[dict]] = defaultdict(list)
        self.payments: dict[str, list[tuple[dict, Decimal]]] = defaultdict(list)
        for invoice in filter(valid, self.latest["invoice"].values()):
            if invoice.get("order_id"):
                self.invoices[invoice["order_id"]].append(invoice)
        for shipment in filter(valid, self.latest["shipment"].values()):
            for order_id in set(shipment["order_ids"]):
                self.shipments[order_id].append(shipment)
        for payment in filter(valid, self.latest["payment"].values()):
            paid: dict[str, Decimal] = defaultdict(Decimal)
            for allocation in payment["allocations"]:
                if allocation.get("order_id"):
                    paid[allocation["order_id"]] += Decimal(allocation["amount"])
            for order_id, amount in paid.items():
                self.payments[order_id].append((payment, amount))

    def deal(self, order_id: str, paid_rule: str) -> dict[str, Any]:
        order = self.latest["customer_order"][order_id]
        invoices = sorted(self.invoices[order_id], key=_when)
        shipments = sorted(self.shipments[order_id], key=_when)
        payments = [(p, a) for p, a in self.payments[order_id] if a > 0]
        amount = sum((Decimal(i["amount"]) for i in invoices), Decimal(0)) if invoices else Decimal(order["amount"])
        paid_amount = sum((a for _, a in payments), Decimal(0))
        is_paid = paid_amount >= amount > 0 if paid_rule == "full" else paid_amount > 0
        if order["deleted"]:
            stage = "cancelled"
        elif not order["posted"]:
            stage = "new"
        elif is_paid:
            stage = "paid"
        elif shipments:
            stage = "shipped_unpaid"
        elif invoices:
            stage = "invoiced"
        else:
            stage = "new"
        rows = [row for i in invoices for row in i["items"]] if invoices else order["items"]
        invoice = invoices[-1] if invoices else None
        shipment = shipments[-1] if shipments else None
        responsible = order.get("responsible") or {}
        return {
            "stage": stage,
            "order_number": order["number"],
            "order_date": order["date"],
            "amount": money(amount),
            "currency": order["currency"],
            "counterparty_id": order["counterparty_id"],
            "contact_person_id": order.get("contact_person_id"),
            "responsible_id": responsible.get("id"),
            "responsible_email": responsible.get("email"),
            "product_rows": [{"product_id": r["product_id"], "quantity": r["quantity"], "price": r["price"],
                              "discount_percent": r.get("discount_percent")} for r in rows],
            "invoice_number": invoice["number"] if invoice else None,
            "invoice_date": invoice["date"] if invoice else None,
            "paid_amount": money(paid_amount),
            "payment_date": max(p["date"] for p, _ in payments) if payments else None,
            "shipment_number": shipment["number"] if shipment else None,
            "shipment_date": shipment["date"] if shipment else None,
            "shipment_amount": money(sum((Decimal(s["amount"]) for s in shipments), Decimal(0))),
            "legal_entity": shipment["organization"]["name"] if shipment else None,
            "paid_notification": stage == "paid",
        }


def valid(document: dict[str, Any]) -> bool:
    """A document counts when it is posted and not marked for deletion."""
    return bool(document["posted"]) and not document["deleted"]


def _when(document: dict[str, Any]) -> tuple[str, str]:
    return document["date"], document["number"]


def counterparty(p: dict[str, Any]) -> dict[str, Any]:
    person = p["legal_form"] == "person"
    return {
        "kind": "contact" if person else "company",
        "legal_form": p["legal_form"],
        "title": p["name"],
        "last_name": p.get("last_name") if person else None,
        "first_name": p.get("first_name") if person else None,
        "middle_name": p.get("middle_name") if person else None,
        "inn": p.get("inn"),
        "kpp": p.get("kpp"),
        "ogrn": p.get("ogrn"),
        "phones": sorted(set(p["phones"])),
        "emails": sorted(set(p["emails"])),
        "bank_accounts": sorted({a["account"] for a in p["bank_accounts"]}),
        "city": p.get("city"),
        "legal_city": _city(p.get("legal_address")),
        "actual_city": _city(p.get("actual_address")),
        "contact_persons": {} if person else {
            c["id"]: {"last_name": c.get("last_name"), "first_name": c.get("first_name"),
                      "phones": sorted(set(c["phones"])), "emails": sorted(set(c["emails"]))}
            for c in p["contact_persons"]},
        "deleted": p["deleted"],
    }


def _city(address: dict[str, Any] | None) -> str | None:
    if not address:
        return None
    return address.get("city") or address.get("settlement")


def product(p: dict[str, Any]) -> dict[str, Any]:
    sale, purchase, unit = p.get("sale_price"), p.get("purchase_price"), p.get("unit")
    return {
        "name": p["name"],
        "code": p["code"],
        "is_service": p["is_service"],
        "sale_price": sale["amount"] if sale else None,
        "currency": sale["currency"] if sale else None,
        "purchase_price": purchase["amount"] if purchase else None,
        "vat_rate": p.get("vat_rate"),
        "unit_code": unit["code"] if unit else None,
        "unit_name": unit["name"] if unit else None,
        "deleted": p["deleted"],
    }
