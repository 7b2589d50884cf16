"""crm.duplicate.findbycomm: ids of contacts and companies (leads are not emulated) holding a phone or e-mail.

As the portal's ``CCrmDuplicateRestProxy`` does: ``type`` PHONE or EMAIL, ``values`` a list (non-strings and
empty strings skipped, duplicates after normalisation once, at most 20 looked up), ``entity_type``
LEAD/CONTACT/COMPANY or none for all.  Each value finds at most 20 records, leads before contacts before
companies, so a value shared by 20 contacts hides the companies.  Phones are compared as
``DuplicateCommunicationCriterion::normalizePhone`` files them (digits only, a leading 8 of a 10+-digit
number read as 7, ``00``/``011`` international prefixes and extensions after ``#``/``;`` dropped); e-mails
trimmed and lower-cased.  Reply ``{"CONTACT": [ints], "COMPANY": [ints]}``, ``[]`` when nothing matched.
The look-up goes through an index of every stored number and address, so it costs the same on a full portal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .. import multifield, values
from ..errors import invalid
from ..store import DERIVED
from . import Call, method

LIMIT = 20
TYPES = {"LEAD": 1, "CONTACT": 3, "COMPANY": 4}
TABLES = (("CONTACT", "contacts"), ("COMPANY", "companies"))  # by entity type id: lead 1 (none), contact 3, company 4


def normalize_phone(value: str) -> str:
    """Bitrix's ``NormalizePhone($value, 1)`` followed by cutting the extension off, as the criterion does."""
    number = value
    if len(number) >= 10 and number.startswith("+8"):
        number = "00" + number[1:]
    number = re.sub(r"[^0-9#*]", "", number)
    if len(number) >= 10:
        if number[:2] in ("80", "81", "82"):
            pass
        elif number.startswith("00"):
            number = number[2:]
        elif number.startswith("011"):
            number = number[3:]
        elif number.startswith("8"):
            number = "7" + number[1:]
        elif number.startswith("0"):
            number = number[1:]
    if not number:
        number = re.sub(r"[^0-9#*,;]", "", value)
    return re.sub(r"(\d+)([;#]*)([\d,]*)", r"\1", number)


def normalize(kind: str, value: str) -> str:
    return normalize_phone(value) if kind == "PHONE" else value.strip().lower()


def _codes(kind: str) -> Any:
    def derive(record: dict[str, Any]) -> Iterable[str]:
        return [code for v in multifield.values_of(record, kind) if isinstance(v, str) and v
                and (code := normalize(kind, v))]
    return derive


for _table in ("contacts", "companies"):
    for _kind in ("PHONE", "EMAIL"):
        DERIVED[(_table, f"comm:{_kind}")] = _codes(_kind)


def _param(call: Call, *names: str) -> Any:
    for name in names:
        if call.params.get(name) not in (None, ""):
            return call.params[name]
    return None


@method("crm.duplicate.findbycomm")
def find_by_comm(call: Call) -> Any:
    kind = values.text(_param(call, "TYPE", "type") or "").strip().upper()
    if kind not in ("PHONE", "EMAIL"):
        raise invalid("Communication type is not defined." if not kind
                      else f"Communication type '{kind}' is not supported in current context.")
    raw = _param(call, "VALUES", "values")
    items = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    if not items:
        raise invalid("Communication values is not defined.")
    entity_name = values.text(_param(call, "ENTITY_TYPE", "entityType", "entity_type") or "").strip().upper()
    if entity_name == "DEAL":
        raise invalid("Deal is not supported in current context.")
    wanted_type = TYPES.get(entity_name)  # unknown or none: every type
    found: dict[str, list[int]] = {}
    seen: list[str] = []
    for item in items:
        if not isinstance(item, str) or item == "":
            continue
        code = normalize(kind, item)
        if code in seen:
            continue
        seen.append(code)
        hits: list[tuple[str, int]] = []
        for name, table in TABLES:
            if wanted_type in (None, TYPES[name]):
                hits += [(name, r["ID"]) for r in call.store.where(table, f"comm:{kind}", code)]
        for name, record_id in hits[:LIMIT]:
            ids = found.setdefault(name, [])
            if record_id not in ids:
                ids.append(record_id)
        if len(seen) >= LIMIT:
            break
    return found or []
