"""crm.address.add|update|list|fields: addresses have no id of their own.

The key is the triple (TYPE_ID, ENTITY_TYPE_ID, ENTITY_ID) with ENTITY_TYPE_ID 8 = requisite; ``add`` of
an existing triple fails "TypeAddress exists", ``update`` of a missing one "TypeAddress not found" (``delete``:
"TypeAddress not found.", as its docs' example words it).
"""

from __future__ import annotations

from typing import Any

from .. import listing, values
from ..errors import invalid
from . import Call, Result, method
from .common import OWNER_REQUISITE

TABLE = "addresses"
TYPES = {1: "Фактический адрес", 4: "Адрес регистрации", 6: "Юридический адрес", 8: "Адрес для корреспонденции",
         9: "Адрес бенефициара", 11: "Адрес доставки"}
TEXT_FIELDS = ("ADDRESS_1", "ADDRESS_2", "CITY", "POSTAL_CODE", "REGION", "PROVINCE", "COUNTRY", "COUNTRY_CODE",
               "LOC_ADDR_ID")
ORDERED = ("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID", "ADDRESS_1", "ADDRESS_2", "CITY", "POSTAL_CODE", "REGION",
           "PROVINCE", "COUNTRY", "COUNTRY_CODE", "LOC_ADDR_ID", "ANCHOR_TYPE_ID", "ANCHOR_ID")
INT_FIELDS = {"TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID", "ANCHOR_TYPE_ID", "ANCHOR_ID", "LOC_ADDR_ID"}


def _key(call: Call, fields: dict[str, Any]) -> tuple[int, int, int]:
    type_id = values.intval(fields.get("TYPE_ID"))
    if type_id not in TYPES:
        raise invalid("TYPE_ID is not defined or invalid.")
    owner_type = values.intval(fields.get("ENTITY_TYPE_ID"))
    if owner_type != OWNER_REQUISITE:
        raise invalid("ENTITY_TYPE_ID is not defined or invalid.")
    owner = values.intval(fields.get("ENTITY_ID"))
    if owner <= 0 or call.store.get("requisites", owner) is None:
        raise invalid("ENTITY_ID is not defined or invalid.")
    return type_id, owner_type, owner


def _write(record: dict[str, Any], fields: dict[str, Any]) -> None:
    for name in TEXT_FIELDS:
        if name in fields and not isinstance(fields[name], (dict, list)):
            record[name] = values.text(fields[name]) if fields[name] is not None else None


@method("crm.address.add")
def add(call: Call) -> bool:
    fields = call.fields()
    key = _key(call, fields)
    if call.store.get(TABLE, key) is not None:
        raise invalid("TypeAddress exists")
    requisite = call.store.get("requisites", key[2])
    record: dict[str, Any] = {"TYPE_ID": key[0], "ENTITY_TYPE_ID": key[1], "ENTITY_ID": key[2],
                              **{name: None for name in TEXT_FIELDS},
                              "ANCHOR_TYPE_ID": requisite["ENTITY_TYPE_ID"], "ANCHOR_ID": requisite["ENTITY_ID"]}
    _write(record, fields)
    call.store.put(TABLE, key, record)
    return True


@method("crm.address.update")
def update(call: Call) -> bool:
    fields = call.fields()
    key = _key(call, fields)
    record = call.store.get(TABLE, key)
    if record is None:
        raise invalid("TypeAddress not found")
    _write(record, fields)
    return True


@method("crm.address.delete")
def delete(call: Call) -> bool:
    fields = call.fields()
    key = _key(call, fields)
    if call.store.get(TABLE, key) is None:
        # with the full stop: EN crm-address-delete.md's error-reply example has it (its table drops it, as the
        # tables drop the one of "ENTITY_ID is not defined or invalid." too); update's page shows no example
        raise invalid("TypeAddress not found.")
    call.store.delete(TABLE, key)
    return True


def render(record: dict[str, Any], select: set[str] | None = None) -> dict[str, Any]:
    return {name: (None if record.get(name) is None else values.text(record[name]))
            for name in ORDERED if select is None or name in select}


def _kind(name: str) -> str | None:
    if name in INT_FIELDS:
        return "int"
    return "str" if name in ORDERED else None


@method("crm.address.list")
def list_(call: Call) -> Result:
    rows = listing.candidates(call.store, TABLE, call.array_param("filter"), _kind)
    rows = listing.apply_filter(rows, call.array_param("filter"), lambda r, n: r.get(n), _kind)
    rows = listing.apply_order(rows, call.array_param("order"), lambda r, n: r.get(n), _kind, default="ENTITY_ID")
    page = listing.paginate(rows, call.param("start"), call.config.page_size, floor_start=False)
    select = [values.text(s) for s in listing.as_list(call.array_param("select", default=[])) if s]
    chosen = None if not select or "*" in select else set(select)
    return Result([render(r, chosen) for r in page.rows], page.total, page.next)


@method("crm.address.fields")
def fields_(call: Call) -> dict[str, Any]:
    return {name: {"type": "integer" if name in INT_FIELDS else "string",
                   "isRequired": name in ("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID"), "isReadOnly": False,
                   "isImmutable": name in ("TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID"), "isMultiple": False,
                   "isDynamic": False, "title": name} for name in ORDERED}
