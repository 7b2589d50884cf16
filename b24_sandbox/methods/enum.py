"""crm.enum.addresstype and crm.enum.ownertype: the fixed lists a portal answers (RU docs' examples).

Clients read the address ``TYPE_ID``\\s and the entity type ids from them instead of hard-coding them.  The
owner types are those of a RU portal without smart processes of its own (the docs' ``DYNAMIC_N`` rows are
one portal's).  Neither method takes parameters or answers an error.
"""

from __future__ import annotations

from typing import Any

from . import Call, method
from .address import TYPES

ADDRESS_ORDER = (11, 1, 6, 4, 8, 9)  # as the docs list them; the names are the ones crm.address.* keys by
OWNER_TYPES = ((1, "Лид", "LEAD", "L"), (2, "Сделка", "DEAL", "D"), (3, "Контакт", "CONTACT", "C"),
               (4, "Компания", "COMPANY", "CO"), (5, "Счёт (старая версия)", "INVOICE", "I"),
               (31, "Счёт", "SMART_INVOICE", "SI"), (7, "Предложение", "QUOTE", "Q"),
               (8, "Реквизиты", "REQUISITE", "RQ"), (36, "Документ", "SMART_DOCUMENT", "DO"),
               (39, "Документ компании", "SMART_B2E_DOC", "SBD"))


def _row(type_id: int, name: str, code: str | None = None, short: str | None = None) -> dict[str, Any]:
    return {"ID": type_id, "NAME": name, "SYMBOL_CODE": code, "SYMBOL_CODE_SHORT": short}


@method("crm.enum.addresstype")
def address_types(call: Call) -> list[dict[str, Any]]:
    """Int ids, no symbol codes (RU ``crm-enum-address-type.md``), in the portal's order."""
    return [_row(type_id, TYPES[type_id]) for type_id in ADDRESS_ORDER]


@method("crm.enum.ownertype")
def owner_types(call: Call) -> list[dict[str, Any]]:
    """Int ids with symbol codes (RU ``crm-enum-owner-type.md``)."""
    return [_row(*t) for t in OWNER_TYPES]
