"""The 1C base while people work in it: documents are written, posted, changed, marked for deletion.

Every change records a full snapshot of the entity (contract v1 payload) at a point on the run's clock.
Times are milliseconds of *working* time since the run started (``at``); the scenario turns them into
calendar time.  Each entity changes through one story only, and a story's clock only moves forward, so the
snapshots of one entity are recorded in time order and their versions grow.

Document numbers and dates are filled in later, in time order, the way 1C numbers documents as they are
first written.
"""

from __future__ import annotations

import bisect
import copy
import random
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from onec_outbox.simulator import data
from onec_outbox.simulator.world import Card, Organization, World, kopecks, money, new_id

MINUTE = 60_000
PAYMENT_KINDS = ("bank", "cash", "card")
CASH_LIMIT = Decimal(100_000)  # roubles of cash a company or ИП may pay under one contract
_VAT = {"22": Decimal(22), "20": Decimal(20), "10": Decimal(10), "7": Decimal(7), "5": Decimal(5)}


@dataclass
class Change:
    """One entity snapshot at working-time ``at`` (ms); ``seq`` keeps ties in recording order."""

    at: int
    seq: int
    entity: str
    entity_id: str
    payload: dict[str, Any]
    wall: datetime | None = None  # calendar time, set once the run is put in time order


class Clock:
    """A story's own clock: it only moves forward, at least a minute per step."""

    def __init__(self, rng: random.Random, minute: int) -> None:
        self.rng = rng
        self.minute = minute

    def now(self) -> int:
        return self.minute * MINUTE + self.rng.randrange(MINUTE)

    def later(self, low: int = 5, high: int = 120) -> int:
        self.minute += self.rng.randint(max(1, low), max(1, low, high))
        return self.now()


class Doc:
    """A 1C document (or catalog item) whose every write becomes a snapshot."""

    def __init__(self, office: Office, entity: str, payload: dict[str, Any], entity_id: str | None = None):
        self.office = office
        self.entity = entity
        self.id = entity_id or new_id(office.rng)
        self.payload = payload

    def write(self, at: int, **changes: Any) -> Doc:
        self.payload.update(changes)
        self.office.record(at, self.entity, self.id, self.payload)
        return self

    @property
    def amount(self) -> Decimal:
        return Decimal(self.payload["amount"])


def reprice(item: dict[str, Any], discount: Decimal) -> dict[str, Any]:
    """The same row with another discount: amount and VAT recomputed (prices include VAT)."""
    gross = Decimal(item["quantity"]) * Decimal(item["price"])
    amount = kopecks(gross * (100 - discount) / 100)
    rate = _VAT.get(item["vat_rate"])
    vat = kopecks(amount * rate / (100 + rate)) if rate else Decimal(0)
    return {**item, "discount_percent": money(discount), "vat_amount": money(vat), "amount": money(amount)}


def total(items: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(i["amount"]) for i in items), Decimal(0))


class Office:
    """The shared state of the run: the world, current prices, who may buy what, and every change."""

    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.world = world
        self.changes: list[Change] = []
        self.buyers: list[Card] = list(world.counterparties)
        self.goods: list[Card] = [p for p in world.products if not p.payload["is_service"]]
        self.services: list[Card] = [p for p in world.products if p.payload["is_service"]]
        self.patterns: dict[str, str] = {}
        self.cards: dict[str, Card] = {c.id: c for c in (*world.counterparties, *world.products)}
        self._prices: dict[str, tuple[list[int], list[Decimal]]] = {}
        self._first_kinds = list(PAYMENT_KINDS)  # the first payments use each kind once
        self._turns: dict[str, int] = {}
        self.organization_of: dict[str, str] = {}  # document id → organization id, where the payload lacks it

    def turn(self, name: str) -> int:
        """How many times ``name`` was asked before: lifecycles take their branches in turn, so the
        first occurrences cover every branch and a default run shows them all."""
        count = self._turns.get(name, 0)
        self._turns[name] = count + 1
        return count

    def record(self, at: int, entity: str, entity_id: str, payload: dict[str, Any]) -> None:
        self.changes.append(Change(at, len(self.changes), entity, entity_id, copy.deepcopy(payload)))

    # --- prices ------------------------------------------------------------------------------------

    def set_price(self, product_id: str, at: int, price: Decimal) -> None:
        times, prices = self._prices.setdefault(product_id, ([], []))
        times.append(at)
        prices.append(price)

    def price_at(self, product: Card, at: int) -> Decimal:
        times, prices = self._prices[product.id]
        return prices[max(0, bisect.bisect_right(times, at) - 1)]

    # --- rows --------------------------------------------------------------------------------------

    def quantity(self, product: Card) -> Decimal:
        rng = self.rng
        unit = (product.payload["unit"] or {}).get("code")
        if product.payload["is_service"]:
            return Decimal(rng.randint(10, 120)) if "км" in product.payload["name"] else Decimal(1)
        if unit == "166":
            return Decimal(rng.randint(2, 400)) / 2
        if unit == "112":
            return Decimal(rng.randint(1, 60)) / 2
        if unit == "055":
            return Decimal(rng.randint(50, 3000)) / 10
        if unit == "006":
            return Decimal(rng.choice((10, 25, 50, 100, 150, 200, 500)))
        return Decimal(rng.choice((1, 2, 3, 5, 10, 12, 20, 24, 50, 100)))

    def item(self, product: Card, at: int, quantity: Decimal | None = None) -> dict[str, Any]:
        p = product.payload
        discount = Decimal(self.rng.choice((3, 5, 7))) if self.rng.random() < 0.15 else Decimal(0)
        row = {"product_id": product.id, "name": p["name"],
               "quantity": f"{quantity if quantity is not None else self.quantity(product):.3f}",
               "unit": copy.deepcopy(p["unit"]), "price": money(self.price_at(product, at)),
               "vat_rate": p["vat_rate"] or "none"}
        return reprice(row, discount)

    def items(self, at: int) -> list[dict[str, Any]]:
        count = min(len(self.goods), self.rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6)))
        rows = [self.item(p, at) for p in self.rng.sample(self.goods, count)]
        if self.services and self.rng.random() < 0.25:
            rows.append(self.item(self.rng.choice(self.services), at))
        return rows

    # --- documents ---------------------------------------------------------------------------------

    def organization(self) -> Organization:
        orgs = self.world.organizations
        return orgs[0] if len(orgs) == 1 or self.rng.random() < 0.75 else self.rng.choice(orgs[1:])

    def order(self, clock: Clock, buyer: Card | None = None, org: Organization | None = None, *,
              draft: bool = False) -> Doc:
        """ЗаказПокупателя: written and posted; sometimes saved first and posted a little later."""
        rng = self.rng
        buyer = buyer or rng.choice(self.buyers)
        contacts = buyer.payload["contact_persons"]
        at = clock.now()
        items = self.items(at)
        payload = {
            "number": None, "date": None, "posted": True, "deleted": False,
            "organization": (org or self.organization()).ref(),
            "counterparty_id": buyer.id,
            "contact_person_id": rng.choice(contacts)["id"] if contacts and rng.random() < 0.6 else None,
            "responsible": rng.choice(self.world.managers).ref(),
            "currency": "RUB", "amount": money(total(items)),
            "comment": rng.choice(data.ORDER_COMMENTS), "items": items,
        }
        doc = Doc(self, "customer_order", payload)
        if draft:
            return doc.write(at, posted=False)
        if rng.random() < 0.2:
            doc.write(at, posted=False)
            at = clock.later(2, 30)
        return doc.write(at, posted=True)

    def change_items(self, clock: Clock, order: Doc) -> Doc:
        """The client changed the order: one row's quantity, plus a row added or one removed; re-posted."""
        rng = self.rng
        at = clock.later(10, 180)
        items = copy.deepcopy(order.payload["items"])
        row = rng.randrange(len(items))
        product = self.cards[items[row]["product_id"]]
        items[row] = reprice({**items[row], "quantity": f"{self.quantity(product) + 1:.3f}"},
                             Decimal(items[row]["discount_percent"]))
        used = {i["product_id"] for i in items}
        spare = [p for p in self.goods if p.id not in used]
        if len(items) > 1 and rng.random() < 0.4:
            items.pop(rng.randrange(len(items)))
        elif spare:
            items.append(self.item(rng.choice(spare), at))
        return order.write(at, posted=True, items=items, amount=money(total(items)))

    def invoice(self, clock: Clock, order: Doc, discount: Decimal | None = None) -> Doc:
        """СчетНаОплатуПокупателю from the order (written, so ``posted`` is true); ``discount``: percentage
        points more off every row than the order gives (a re-issued invoice is never dearer than the order)."""
        items = copy.deepcopy(order.payload["items"])
        if discount is not None:
            items = [reprice(i, Decimal(i["discount_percent"]) + discount) for i in items]
        payload = {"number": None, "date": None, "posted": True, "deleted": False, "order_id": order.id,
                   "currency": "RUB", "amount": money(total(items)), "items": items}
        doc = Doc(self, "invoice", payload)
        self.organization_of[doc.id] = order.payload["organization"]["id"]  # not in the invoice payload
        return doc.write(clock.later(5, 90))

    def payment_kind(self, buyer_id: str, amount: Decimal) -> str:
        form = self.cards[buyer_id].payload["legal_form"]
        # cash between an organisation and a company or ИП: at most 100,000 ₽ under one contract (Указание
        # Банка России 5348-У, п. 6); over it such a buyer pays by bank (the first cash payment waits)
        no_cash = form != "person" and amount > CASH_LIMIT
        if self._first_kinds and not (no_cash and self._first_kinds[0] == "cash"):
            return self._first_kinds.pop(0)
        weights = (10, 45, 45) if form == "person" else (80, 12, 8)
        kind = self.rng.choices(PAYMENT_KINDS, weights)[0]
        return "bank" if no_cash and kind == "cash" else kind

    def pay(self, clock: Clock, allocations: list[tuple[Doc | None, Decimal]], order: Doc) -> Doc:
        """A payment from ``order``'s buyer to its organization, split over orders (None: no order)."""
        rng = self.rng
        buyer_id = order.payload["counterparty_id"]
        kind = self.payment_kind(buyer_id, sum((a for _, a in allocations), Decimal(0)))
        payload = {
            # a bank payment carries the payer's own number; 1C numbers cash and card receipts itself
            "number": str(rng.randint(1, 9999)) if kind == "bank" else None,
            "date": None, "posted": True, "deleted": False, "kind": kind,
            "counterparty_id": buyer_id, "organization": copy.deepcopy(order.payload["organization"]),
            "currency": "RUB", "amount": money(sum((a for _, a in allocations), Decimal(0))),
            "allocations": [{"order_id": o.id if o is not None else None, "amount": money(a)}
                            for o, a in allocations],
        }
        doc = Doc(self, "payment", payload)
        at = clock.later(20, 480)
        if kind == "bank" and rng.random() < 0.3:  # imported from the statement, Оплачено ticked later
            doc.write(at, posted=False)
            at = clock.later(1, 30)
        return doc.write(at, posted=True)

    def ship(self, clock: Clock, orders: list[Doc]) -> Doc:
        """РеализацияТоваровУслуг of these orders' rows (each row knows its order)."""
        first = orders[0].payload
        items = [copy.deepcopy(i) for o in orders for i in o.payload["items"]]
        payload = {"number": None, "date": None, "posted": True, "deleted": False,
                   "organization": copy.deepcopy(first["organization"]),
                   "counterparty_id": first["counterparty_id"], "currency": "RUB",
                   "amount": money(total(items)), "order_ids": [o.id for o in orders], "items": items}
        return Doc(self, "shipment", payload).write(clock.later(15, 360))

    def part(self, amount: Decimal) -> Decimal:
        """A partial payment: a round share of the amount, strictly between zero and it."""
        share = amount * Decimal(self.rng.choice((30, 40, 50, 60, 70))) / 100
        rounded = (share / 100).to_integral_value() * 100
        return rounded if 0 < rounded < amount else kopecks(amount / 2)

