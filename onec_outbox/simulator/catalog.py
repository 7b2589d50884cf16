"""Catalog changes during the run: the initial export, edits of counterparty cards, new prices, deletion marks.

The initial export comes first (every counterparty, then every product, a few ms apart, as the 1C sender
job drains a freshly filled outbox).  Then some counterparties get edited (a new phone, a phone gone, a
bank account or contact person added…), some products get a new price (УстановкаЦенНоменклатуры), and
one counterparty and one product that no order uses are marked for deletion.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from onec_outbox.simulator import data
from onec_outbox.simulator.office import MINUTE, Doc, Office
from onec_outbox.simulator.world import (
    Card,
    address,
    bank_account,
    contact_person,
    kopecks,
    landline,
    mobile,
    money,
)

EXPORT_WINDOW = 5 * MINUTE  # the initial export fits in the first five minutes


def _city_row(payload: dict[str, Any]) -> tuple:
    return next((row for row in data.CITIES if row[0] == payload.get("city")), data.CITIES[0])


def _domain(payload: dict[str, Any]) -> str:
    for email in (*payload["emails"], *(e for p in payload["contact_persons"] for e in p["emails"])):
        return email.split("@", 1)[1]
    return f"{data.translit(payload['name'].split()[0])}.example"


# Each edit changes a card in place; ``applies`` says whether it makes sense for this card.
def _new_phone(office: Office, p: dict) -> None:
    p["phones"].append(landline(office.rng, _city_row(p)[3]) if p["legal_form"] == "company" else mobile(office.rng))


def _phone_removed(office: Office, p: dict) -> None:
    p["phones"].pop(office.rng.randrange(len(p["phones"])))


def _phone_replaced(office: Office, p: dict) -> None:
    p["phones"][office.rng.randrange(len(p["phones"]))] = mobile(office.rng)


def _bank_account_added(office: Office, p: dict) -> None:
    prefix = {"company": "40702", "individual_entrepreneur": "40802"}.get(p["legal_form"], "40817")
    p["bank_accounts"].append(bank_account(office.rng, prefix, main=not p["bank_accounts"]))


def _email_added(office: Office, p: dict) -> None:
    box = office.rng.choice(("sales", "zakupki", "manager", "dir", "client"))
    email = f"{box}{office.rng.randint(1, 99)}@{_domain(p)}"
    if email not in p["emails"]:
        p["emails"].append(email)


def _contact_added(office: Office, p: dict) -> None:
    p["contact_persons"].append(contact_person(office.rng, _domain(p), p["city"]))


def _contact_phone_changed(office: Office, p: dict) -> None:
    office.rng.choice(p["contact_persons"])["phones"] = [mobile(office.rng)]


def _address_changed(office: Office, p: dict) -> None:
    p["actual_address"] = address(office.rng, _city_row(p))


EDITS: dict[str, tuple[Callable[[Office, dict], None], Callable[[dict], bool]]] = {
    "new_phone": (_new_phone, lambda p: True),
    "phone_removed": (_phone_removed, lambda p: bool(p["phones"])),
    "bank_account_added": (_bank_account_added, lambda p: len(p["bank_accounts"]) < 3),
    "email_added": (_email_added, lambda p: True),
    "contact_added": (_contact_added, lambda p: p["legal_form"] != "person" and len(p["contact_persons"]) < 3),
    "phone_replaced": (_phone_replaced, lambda p: bool(p["phones"])),
    "contact_phone_changed": (_contact_phone_changed, lambda p: bool(p["contact_persons"])),
    "address_changed": (_address_changed, lambda p: True),
}


def reserve(office: Office) -> tuple[Card | None, Card | None]:
    """Take one counterparty and one product out of trade: they will be marked for deletion."""
    counterparty = office.buyers.pop() if len(office.buyers) >= 6 else None
    product = office.goods.pop() if len(office.goods) >= 8 else None
    return counterparty, product


def export(office: Office) -> None:
    """Every card once, at the very start, in catalog order; prices start from the cards' prices."""
    cards = [("counterparty", c) for c in office.world.counterparties] + [
        ("product", p) for p in office.world.products]
    step = max(1, min(40, EXPORT_WINDOW // max(1, len(cards))))
    for index, (entity, card) in enumerate(cards):
        office.record(index * step, entity, card.id, card.payload)
        if entity == "product":
            office.set_price(card.id, 0, Decimal(card.payload["sale_price"]["amount"]))


def edit_counterparties(office: Office, span: int, retired: Card | None) -> None:
    """About a quarter of the buyers get one or two edits; the retired card is marked for deletion."""
    rng = office.rng
    first_kinds = list(EDITS)  # the first edits cover every kind once, where it applies
    chosen = rng.sample(office.buyers, max(1, len(office.buyers) // 4)) if office.buyers else []
    for card in chosen:
        doc = Doc(office, "counterparty", copy.deepcopy(card.payload), card.id)
        for minute in sorted(rng.sample(range(20, span), rng.choice((1, 1, 2)))):
            usable = [k for k, (_, applies) in EDITS.items() if applies(doc.payload)]
            kind = next((k for k in first_kinds if k in usable), None) or rng.choice(usable)
            if kind in first_kinds:
                first_kinds.remove(kind)
            EDITS[kind][0](office, doc.payload)
            doc.write(minute * MINUTE + rng.randrange(MINUTE))
    if retired is not None:
        Doc(office, "counterparty", copy.deepcopy(retired.payload), retired.id).write(
            rng.randrange(20, span) * MINUTE, deleted=True)


def reprice_products(office: Office, span: int, retired: Card | None) -> None:
    """About a fifth of the products get one or two new prices; the retired product is marked for deletion."""
    rng = office.rng
    products = [p for p in office.world.products if p is not retired]
    for card in rng.sample(products, max(1, len(products) // 5)) if products else []:
        doc = Doc(office, "product", copy.deepcopy(card.payload), card.id)
        for minute in sorted(rng.sample(range(15, span), rng.choice((1, 1, 2)))):
            at = minute * MINUTE + rng.randrange(MINUTE)
            sale = Decimal(doc.payload["sale_price"]["amount"]) * Decimal(rng.choice((90, 95, 105, 110, 115))) / 100
            sale = kopecks(sale)
            doc.payload["sale_price"] = {**doc.payload["sale_price"], "amount": money(sale)}
            if doc.payload["purchase_price"] is not None and rng.random() < 0.5:
                purchase = Decimal(doc.payload["purchase_price"]["amount"]) * Decimal("1.05")
                doc.payload["purchase_price"] = {**doc.payload["purchase_price"], "amount": money(purchase)}
            office.set_price(card.id, at, sale)
            doc.write(at)
    if retired is not None:
        Doc(office, "product", copy.deepcopy(retired.payload), retired.id).write(
            rng.randrange(15, span) * MINUTE, deleted=True)
