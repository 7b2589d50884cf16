"""Contract v1 events of an order's lifecycle, built from the contract samples with fresh ids."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field

from tests.contract.samples import ORG, PAYLOADS, event

RESPONSIBLE = PAYLOADS["customer_order"]["responsible"]


def item(product_id: str, quantity: str, price: str, amount: str, vat: str, name: str = "Товар") -> dict:
    return {"product_id": product_id, "name": name, "quantity": quantity, "unit": {"code": "796", "name": "шт"},
            "price": price, "discount_percent": "0.00", "vat_rate": "20", "vat_amount": vat, "amount": amount}


@dataclass
class Lifecycle:
    """Builds events for one order; every document gets its own id and growing versions."""

    counterparty_id: str
    product_id: str
    order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "ut103-main"
    _versions: dict = field(default_factory=dict)

    def _event(self, entity: str, entity_id: str, payload: dict, version: int | None = None) -> dict:
        v = version if version is not None else self._versions.get(entity_id, 0) + 1
        self._versions[entity_id] = max(v, self._versions.get(entity_id, 0))
        return event(entity, event_id=str(uuid.uuid4()), entity_id=entity_id, version=v, source=self.source,
                     payload=payload)

    def items(self, amount: str = "1200.00") -> list[dict]:
        return [item(self.product_id, "10.000", "120.0000", amount, "200.00")]

    def order(self, *, posted=True, deleted=False, amount="1200.00", version=None, **extra) -> dict:
        p = copy.deepcopy(PAYLOADS["customer_order"])
        p.update(number="ТД-" + self.order_id[:4], posted=posted, deleted=deleted, amount=amount,
                 counterparty_id=self.counterparty_id, contact_person_id=None, items=self.items(amount), **extra)
        return self._event("customer_order", self.order_id, p, version)

    def invoice(self, doc_id=None, *, amount="1200.00", posted=True, deleted=False, number="СЧ-1",
                date="2026-11-28", version=None) -> dict:
        p = copy.deepcopy(PAYLOADS["invoice"])
        p.update(number=number, date=date, order_id=self.order_id, amount=amount, posted=posted, deleted=deleted,
                 items=self.items(amount))
        return self._event("invoice", doc_id or str(uuid.uuid4()), p, version)

    def payment(self, doc_id=None, *, amount="1200.00", kind="bank", posted=True, deleted=False, number="ПП-1",
                date="2026-11-29", orders=None, version=None) -> dict:
        p = copy.deepcopy(PAYLOADS["payment"])
        allocations = orders or [(self.order_id, amount)]
        total = sum(float(a) for _, a in allocations)
        p.update(number=number, date=date, kind=kind, posted=posted, deleted=deleted, amount=f"{total:.2f}",
                 counterparty_id=self.counterparty_id,
                 allocations=[{"order_id": o, "amount": a} for o, a in allocations])
        return self._event("payment", doc_id or str(uuid.uuid4()), p, version)

    def shipment(self, doc_id=None, *, amount="1200.00", posted=True, deleted=False, number="РТ-1",
                 date="2026-11-30", version=None) -> dict:
        p = copy.deepcopy(PAYLOADS["shipment"])
        p.update(number=number, date=date, posted=posted, deleted=deleted, amount=amount,
                 counterparty_id=self.counterparty_id, order_ids=[self.order_id], organization=ORG,
                 items=self.items(amount))
        return self._event("shipment", doc_id or str(uuid.uuid4()), p, version)
