"""The simulated 1C base before the day starts: our organizations, managers, counterparties and products.

Pure and seeded: the same seed builds the same world, byte for byte.  Counterparty and product cards are
kept as contract v1 payloads (plain JSON dicts), because that is all anyone downstream sees of them; the
scenario copies a card before it changes it.  Our organizations and the managers are the same in every
world (their ids are name-based), as they are in a real base whatever its clients.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from onec_outbox.contract import checksums
from onec_outbox.simulator import data

# Name-based ids of what every simulated world shares (organizations, managers).
NAMESPACE = uuid.UUID("6f1c1a52-4b4e-4c31-9a63-1c0000000010")
CENT = Decimal("0.01")


def new_id(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``, so ids repeat with the seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def kopecks(value: Decimal) -> Decimal:
    """``value`` rounded to kopecks as 1C's ``Окр`` rounds: a half kopeck up (2288.265 → 2288.27)."""
    return value.quantize(CENT, ROUND_HALF_UP)


def money(value: Decimal) -> str:
    """A decimal string with kopecks, as the 1C module writes sums (``"12500.00"``)."""
    return str(kopecks(value))


@dataclass(frozen=True)
class Organization:
    """Our legal entity (Справочник.Организации); ``prefix`` starts its document numbers."""

    id: str
    name: str
    full_name: str
    inn: str
    kpp: str
    prefix: str

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "inn": self.inn}


@dataclass(frozen=True)
class Manager:
    """A 1C user who can be Ответственный on an order."""

    id: str
    login: str
    name: str
    email: str | None

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email}


@dataclass(frozen=True)
class Card:
    """A catalog item (Контрагент or Номенклатура) as first exported: its 1C id and payload."""

    id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class World:
    organizations: tuple[Organization, ...]
    managers: tuple[Manager, ...]
    counterparties: tuple[Card, ...]
    products: tuple[Card, ...]


def build_world(seed: int, *, counterparties: int = 30, products: int = 40) -> World:
    """A base with ``counterparties`` clients (companies, ИП, persons) and ``products`` goods and services."""
    rng = random.Random(f"world:{seed}")
    return World(
        organizations=our_organizations(),
        managers=tuple(
            Manager(str(uuid.uuid5(NAMESPACE, f"manager:{login}")), login, name, email)
            for login, name, email in data.MANAGERS
        ),
        counterparties=tuple(_Clients(rng).build(counterparties)),
        products=tuple(_products(rng, products)),
    )


def our_organizations() -> tuple[Organization, ...]:
    rng = random.Random("organizations")
    result = []
    for name, full_name, prefix in data.ORGANIZATIONS:
        inn = checksums.make_inn10(rng)
        result.append(Organization(str(uuid.uuid5(NAMESPACE, f"organization:{prefix}")), name, full_name,
                                   inn, checksums.make_kpp(rng, inn), prefix))
    return tuple(result)


# --- people, phones, addresses ---------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    last_name: str
    first_name: str
    middle_name: str
    female: bool

    @property
    def full(self) -> str:
        return f"{self.last_name} {self.first_name} {self.middle_name}"


def person(rng: random.Random) -> Person:
    female = rng.random() < 0.45
    surname = rng.choice(data.SURNAMES)
    _, son, daughter = rng.choice(data.PATRONYMICS)
    if female:
        return Person(data.female_surname(surname), rng.choice(data.FEMALE_FIRST_NAMES), daughter, True)
    return Person(surname, rng.choice(data.MALE_FIRST_NAMES), son, False)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def landline(rng: random.Random, area: str) -> str:
    return f"+7 ({area}) {rng.randint(200, 999)}-{_digits(rng, 2)}-{_digits(rng, 2)}"


def mobile(rng: random.Random) -> str:
    return f"+7 (9{_digits(rng, 2)}) {rng.randint(100, 999)}-{_digits(rng, 2)}-{_digits(rng, 2)}"


def address(rng: random.Random, city_row: tuple) -> dict[str, str]:
    """A Russian address by КЛАДР fields, its presentation composed the way UT 10.3 shows it."""
    city, region, prefixes, _ = city_row
    street_name, street_type = rng.choice(data.STREETS)
    fields = {
        "postal_code": rng.choice(prefixes) + _digits(rng, 3),
        "region": region,
        "city": city,
        "street": f"{street_name} {street_type}",
        "house": str(rng.randint(1, 160)) + rng.choice(("", "", "", "", "а", "/2")),
        "building": str(rng.randint(1, 6)) if rng.random() < 0.2 else None,
        "apartment": str(rng.randint(1, 420)) if rng.random() < 0.4 else None,
    }
    parts = (fields["postal_code"], region, f"{city} г", fields["street"], f"дом № {fields['house']}",
             fields["building"] and f"корпус {fields['building']}",
             fields["apartment"] and f"кв.{fields['apartment']}")
    return {"presentation": ", ".join(p for p in parts if p), **{k: v for k, v in fields.items() if v}}


def bank_account(rng: random.Random, prefix: str, *, main: bool) -> dict[str, Any]:
    bank_name, bik, corr = rng.choice(data.BANKS)
    return {"account": checksums.make_account(rng, bik, prefix=prefix), "bank_name": bank_name, "bik": bik,
            "corr_account": corr, "currency": "RUB", "is_main": main}


def contact_person(rng: random.Random, domain: str, city: str) -> dict[str, Any]:
    who = person(rng)
    phones = [mobile(rng) for _ in range(rng.choice((0, 1, 1, 1, 2)))]
    login = f"{data.translit(who.first_name)[0]}.{data.translit(who.last_name)}"
    emails = [f"{login}@{domain}"] if rng.random() < 0.7 else []
    return {"id": new_id(rng), "last_name": who.last_name, "first_name": who.first_name,
            "middle_name": who.middle_name, "position": rng.choice(data.POSITIONS), "phones": phones,
            "emails": emails, "city": city}


# --- counterparties --------------------------------------------------------------------------------


class _Clients:
    """Builds counterparty cards with unique names; the first three are one of each legal form."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.companies: list[Card] = []

    def build(self, count: int):
        forms = ["company", "individual_entrepreneur", "person"]
        for index in range(count):
            form = forms[index] if index < 3 else self.rng.choices(forms, (60, 25, 15))[0]
            heads = [c for c in self.companies if c.payload["inn"]]
            if form == "company" and heads and self.rng.random() < 0.05:
                yield self.branch(self.rng.choice(heads))
            else:
                yield getattr(self, form)()

    def _unique(self, make) -> str:
        """A name not used yet; when the word lists run out (bases of thousands of clients), a numbered
        one, as 1C users number their own look-alikes ("Ромашка-2")."""
        for _ in range(1000):
            name = make()
            if name not in self.names:
                self.names.add(name)
                return name
        base = make()
        for number in range(2, 1_000_000):
            name = base.replace("|", f"-{number}|", 1) if "|" in base else f"{base}-{number}"
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("ran out of unique names; add words to onec_outbox/simulator/data.py")

    def _root(self) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            return rng.choice(data.COMPANY_WORDS)
        return rng.choice(data.COMPANY_PREFIXES) + rng.choice(data.COMPANY_SUFFIXES)

    def _contacts(self, payload: dict, city_row: tuple, domain: str, emails: list[str], most: int) -> None:
        rng = self.rng
        payload["phones"] = [landline(rng, city_row[3]) for _ in range(rng.choice((0, 1, 1, 2)))]
        if rng.random() < 0.3:
            payload["phones"].append(mobile(rng))
        payload["emails"] = emails
        payload["contact_persons"] = [contact_person(rng, domain, city_row[0])
                                      for _ in range(rng.randint(0, most))]

    def company(self) -> Card:
        rng = self.rng
        form, form_full = rng.choice(data.LEGAL_FORMS)
        root = self._unique(lambda: f"{self._root()}|{form}").split("|")[0]
        domain = f"{data.translit(root)}.example"
        city_row = rng.choice(data.CITIES)
        inn = checksums.make_inn10(rng) if rng.random() < 0.95 else None  # a half-filled card has none
        legal = address(rng, city_row) if rng.random() < 0.95 else None
        payload: dict[str, Any] = {
            "name": f"{root} {form}", "full_name": f'{form_full} "{root}"', "legal_form": "company",
            "inn": inn, "kpp": checksums.make_kpp(rng, inn) if inn else None,
            "ogrn": checksums.make_ogrn(rng) if inn and rng.random() < 0.7 else None,
            "city": city_row[0],
            "legal_address": legal,
            "actual_address": address(rng, city_row) if rng.random() < 0.4 else None,
        }
        emails = [f"{box}@{domain}" for box in rng.sample(("info", "zakaz", "buh", "office", "snab"),
                                                          rng.choice((0, 1, 1, 2)))]
        self._contacts(payload, city_row, domain, emails, 3)
        payload["bank_accounts"] = [bank_account(rng, "40702", main=i == 0) for i in range(rng.randint(0, 3))]
        payload["deleted"] = False
        card = Card(new_id(self.rng), payload)
        self.companies.append(card)
        return card

    def branch(self, head: Card) -> Card:
        """A branch: the same ИНН as its head, its own КПП (real bases have such duplicates)."""
        rng = self.rng
        city_row = rng.choice(data.CITIES)
        payload = copy.deepcopy(head.payload)
        payload["name"] = self._unique(lambda: f"{head.payload['name']} филиал {city_row[0]}")
        payload["kpp"] = f"{rng.randint(1000, 9999)}43{rng.randint(1, 5):03d}"  # 43: a branch
        payload["ogrn"] = head.payload["ogrn"]
        payload["city"] = city_row[0]
        payload["actual_address"] = address(rng, city_row)
        payload["phones"] = [landline(rng, city_row[3])]
        payload["contact_persons"] = []
        payload["bank_accounts"] = [bank_account(rng, "40702", main=True)]
        return Card(new_id(rng), payload)

    def individual_entrepreneur(self) -> Card:
        rng = self.rng
        who = person(rng)
        full = who.full
        city_row = rng.choice(data.CITIES)
        domain = rng.choice(("mail.example", "inbox.example", "post.example"))
        login = f"{data.translit(who.last_name)}.{data.translit(who.first_name)}"
        payload: dict[str, Any] = {
            "name": f"ИП {full}", "full_name": f"Индивидуальный предприниматель {full}",
            "legal_form": "individual_entrepreneur", "inn": checksums.make_inn12(rng), "kpp": None,
            "ogrn": checksums.make_ogrnip(rng) if rng.random() < 0.8 else None,
            "city": city_row[0],
            "legal_address": address(rng, city_row) if rng.random() < 0.8 else None,
            "actual_address": None,
        }
        self._contacts(payload, city_row, domain, [f"{login}@{domain}"] if rng.random() < 0.7 else [], 1)
        payload["phones"].append(mobile(rng))
        payload["bank_accounts"] = [bank_account(rng, "40802", main=i == 0) for i in range(rng.randint(0, 2))]
        payload["deleted"] = False
        return Card(new_id(rng), payload)

    def person(self) -> Card:
        rng = self.rng
        who = person(rng)
        city_row = rng.choice(data.CITIES)
        domain = rng.choice(("mail.example", "inbox.example", "post.example"))
        login = f"{data.translit(who.first_name)}.{data.translit(who.last_name)}{rng.randint(1, 99)}"
        payload: dict[str, Any] = {
            "name": who.full, "full_name": who.full, "legal_form": "person",
            "inn": checksums.make_inn12(rng) if rng.random() < 0.4 else None, "kpp": None, "ogrn": None,
            "phones": [mobile(rng)], "emails": [f"{login}@{domain}"] if rng.random() < 0.6 else [],
            "city": city_row[0],
            "legal_address": None,
            "actual_address": address(rng, city_row) if rng.random() < 0.5 else None,
            "bank_accounts": [bank_account(rng, "40817", main=True)] if rng.random() < 0.2 else [],
            "contact_persons": [],
            "last_name": who.last_name, "first_name": who.first_name, "middle_name": who.middle_name,
            "deleted": False,
        }
        return Card(new_id(rng), payload)


# --- products --------------------------------------------------------------------------------------


def _price(rng: random.Random, low: int, high: int) -> Decimal:
    value = Decimal(rng.uniform(low, high)).quantize(Decimal(1) if high > 1000 else Decimal("0.1"))
    return value.quantize(CENT)


def _products(rng: random.Random, count: int):
    goods = [(base, variant, unit, vat, prices, article)
             for base, variants, unit, vat, prices, article in data.GOODS for variant in variants]
    rng.shuffle(goods)
    services = list(data.SERVICES)
    for index in range(count):
        code = f"{index + 1:011d}"
        if index % 10 == 9 and services:  # every tenth card is a service, while there are any
            name, (low, high) = services.pop(0)
            payload = {"code": code, "article": None, "name": name, "full_name": name, "is_service": True,
                       "unit": None, "vat_rate": "20",
                       "sale_price": {"amount": money(_price(rng, low, high)), "currency": "RUB",
                                      "price_type": data.SALE_PRICE_TYPE},
                       "purchase_price": None, "deleted": False}
            yield Card(new_id(rng), payload)
            continue
        base, variant, unit, vat, (low, high), article = goods[index % len(goods)]
        lot = index // len(goods)  # a second pass over the list: another lot of the same goods
        name = f"{base} {variant}" + (f" (партия {lot + 1})" if lot else "")
        sale = _price(rng, low, high)
        purchase = (sale * Decimal(rng.uniform(0.55, 0.85))).quantize(CENT) if rng.random() < 0.8 else None
        payload = {
            "code": code,
            "article": f"{article}-{rng.randint(100, 9999)}" if article else None,
            "name": name, "full_name": name,
            "is_service": False,
            "unit": {"code": unit, "name": data.UNITS[unit]},
            "vat_rate": vat,
            "sale_price": {"amount": money(sale), "currency": "RUB", "price_type": data.SALE_PRICE_TYPE},
            "purchase_price": {"amount": money(purchase), "currency": "RUB"} if purchase is not None else None,
            "deleted": False,
        }
        yield Card(new_id(rng), payload)
