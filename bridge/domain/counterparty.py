"""1C counterparty → the Bitrix24 objects that show it: pure functions, no I/O.

A ЮрЛицо or ИП becomes a **company**; a ФизЛицо becomes a **contact**.  Either gets one **requisite** with
the preset of its legal form (INN, KPP, names, OGRN), its legal (TYPE_ID 6) and actual (TYPE_ID 1)
**addresses** on that requisite, one **bank detail** per bank account, and (companies) one **contact** per
contact person, linked to the company.  Fields 1C leaves empty are not sent.

Bitrix24 keys (how the bridge finds what it made, even after a crash):
company/contact ``ORIGINATOR_ID`` + ``ORIGIN_ID`` (the 1C id); requisite ``XML_ID`` = counterparty id;
bank detail ``XML_ID`` = ``<counterparty id>/<account number>``; address = (TYPE_ID, 8, requisite id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ADDRESS_ACTUAL = 1  # Фактический
ADDRESS_LEGAL = 6  # Юридический
REQUISITE_OWNER_CONTACT = 3
REQUISITE_OWNER_COMPANY = 4


@dataclass(frozen=True)
class PersonState:
    """A Bitrix24 company or contact: scalar fields plus its multifields, and for a contact person the
    city, which Bitrix24 keeps in an address of an address-only requisite (contact ADDRESS_* fields are
    deprecated compatibility fields)."""

    fields: dict[str, str]
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    city: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"fields": self.fields, "PHONE": list(self.phones), "EMAIL": list(self.emails), "city": self.city}


@dataclass(frozen=True)
class CounterpartyState:
    """Everything Bitrix24 should show for one counterparty."""

    kind: str  # "company" or "contact"
    main: PersonState  # the company (TITLE…) or, for a ФизЛицо, the contact
    requisite: dict[str, str]  # without ENTITY_ID (known only once the owner exists)
    addresses: dict[int, dict[str, str]] = field(default_factory=dict)  # TYPE_ID → fields
    bank_details: dict[str, dict[str, str]] = field(default_factory=dict)  # account number → fields
    contacts: dict[str, PersonState] = field(default_factory=dict)  # 1C contact person id → contact
    deleted: bool = False


def _clean(values: dict[str, Any]) -> dict[str, str]:
    """Drop what 1C left empty; everything Bitrix24 gets is a string (its legacy API stores strings)."""
    return {k: str(v).strip() for k, v in values.items() if v is not None and str(v).strip() != ""}


def _strings(values: Any) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values or ():
        text = str(value).strip()
        if text and text not in seen:
            seen.append(text)
    return tuple(seen)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def address_fields(address: Any) -> dict[str, str]:
    """A 1C address (structured parts, or only its presentation) as crm.address fields."""
    street = _get(address, "street")
    house = _get(address, "house")
    building = _get(address, "building")
    line1 = ", ".join(p for p in (
        street, f"д. {house}" if house else None, f"корп. {building}" if building else None) if p)
    return _clean({
        "ADDRESS_1": line1 or _get(address, "presentation"),
        "ADDRESS_2": _get(address, "apartment"),
        "CITY": _get(address, "city") or _get(address, "settlement"),
        "POSTAL_CODE": _get(address, "postal_code"),
        "REGION": _get(address, "district"),
        "PROVINCE": _get(address, "region"),
        "COUNTRY": _get(address, "country"),
    })


def bank_detail_fields(account: Any, *, counterparty_id: str, originator: str) -> dict[str, str]:
    number = str(_get(account, "account"))
    bank = _get(account, "bank_name")
    return _clean({
        "NAME": f"{bank}, р/с {number}" if bank else f"р/с {number}",
        "XML_ID": f"{counterparty_id}/{number}",
        "ORIGINATOR_ID": originator,
        "RQ_BANK_NAME": bank,
        "RQ_BIK": _get(account, "bik"),
        "RQ_ACC_NUM": number,
        "RQ_COR_ACC_NUM": _get(account, "corr_account"),
        "RQ_ACC_CURRENCY": _get(account, "currency"),
        "SORT": "10" if _get(account, "is_main") else "20",
    })


def contact_person_state(person: Any, *, originator: str) -> PersonState:
    city = _get(person, "city")
    return PersonState(
        _clean({
            "NAME": _get(person, "first_name"),
            "LAST_NAME": _get(person, "last_name"),
            "SECOND_NAME": _get(person, "middle_name"),
            "POST": _get(person, "position"),
            "ORIGINATOR_ID": originator,
            "ORIGIN_ID": str(_get(person, "id")),
        }),
        _strings(_get(person, "phones")),
        _strings(_get(person, "emails")),
        str(city).strip() if city and str(city).strip() else None,
    )


def address_only_requisite(person_id: str, *, originator: str, presets: Any) -> dict[str, str]:
    """The requisite that carries a contact person's address (Bitrix24 keeps addresses on requisites)."""
    return {"PRESET_ID": str(presets.person), "NAME": "Адрес", "ADDRESS_ONLY": "Y", "XML_ID": person_id,
            "ORIGINATOR_ID": originator}


def desired_state(payload: Any, *, entity_id: str, originator: str, presets: Any) -> CounterpartyState:
    """What Bitrix24 should show for this counterparty snapshot."""
    form = str(_get(payload, "legal_form"))
    name = _get(payload, "name")
    if form == "person":
        kind = "contact"
        main = PersonState(
            _clean({
                "NAME": _get(payload, "first_name") or (None if _get(payload, "last_name") else name),
                "LAST_NAME": _get(payload, "last_name"),
                "SECOND_NAME": _get(payload, "middle_name"),
                "ORIGINATOR_ID": originator,
                "ORIGIN_ID": entity_id,
            }),
            _strings(_get(payload, "phones")),
            _strings(_get(payload, "emails")),
        )
        requisite = _clean({
            "PRESET_ID": presets.person,
            "NAME": name,
            "XML_ID": entity_id,
            "ORIGINATOR_ID": originator,
            "RQ_INN": _get(payload, "inn"),
            "RQ_NAME": name,
            "RQ_LAST_NAME": _get(payload, "last_name"),
            "RQ_FIRST_NAME": _get(payload, "first_name"),
            "RQ_SECOND_NAME": _get(payload, "middle_name"),
        })
    else:
        kind = "company"
        main = PersonState(
            _clean({"TITLE": name, "ORIGINATOR_ID": originator, "ORIGIN_ID": entity_id}),
            _strings(_get(payload, "phones")),
            _strings(_get(payload, "emails")),
        )
        entrepreneur = form == "individual_entrepreneur"
        requisite = _clean({
            "PRESET_ID": presets.individual_entrepreneur if entrepreneur else presets.company,
            "NAME": name,
            "XML_ID": entity_id,
            "ORIGINATOR_ID": originator,
            "RQ_INN": _get(payload, "inn"),
            "RQ_KPP": None if entrepreneur else _get(payload, "kpp"),
            "RQ_COMPANY_NAME": name,
            "RQ_COMPANY_FULL_NAME": _get(payload, "full_name"),
            "RQ_OGRNIP" if entrepreneur else "RQ_OGRN": _get(payload, "ogrn"),
        })

    addresses: dict[int, dict[str, str]] = {}
    for type_id, attr in ((ADDRESS_LEGAL, "legal_address"), (ADDRESS_ACTUAL, "actual_address")):
        address = _get(payload, attr)
        if address is not None:
            fields = address_fields(address)
            if fields:
                addresses[type_id] = fields
    city = _get(payload, "city")
    if city and not addresses:
        addresses[ADDRESS_ACTUAL] = {"CITY": str(city).strip()}  # the city has to live somewhere: an address

    bank_details = {
        str(_get(a, "account")): bank_detail_fields(a, counterparty_id=entity_id, originator=originator)
        for a in _get(payload, "bank_accounts") or ()
    }
    contacts = {}
    if kind == "company":
        contacts = {str(_get(p, "id")): contact_person_state(p, originator=originator)
                    for p in _get(payload, "contact_persons") or ()}
    return CounterpartyState(kind, main, requisite, addresses, bank_details, contacts,
                             bool(_get(payload, "deleted", False)))
