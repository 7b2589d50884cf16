"""Legacy crm.* entities described as data: which fields exist, their kinds, which are read-only.

One :class:`Entity` per record type (company, contact, deal, requisite, …).  From it come the two
conversions every legacy method needs: *internalize* (request ``fields`` → stored values: unknown and
read-only keys dropped silently, values coerced the PHP way) and *externalize* (stored record → the reply,
where almost every scalar is a string and unset values are ``null``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone
from decimal import Decimal
from typing import Any

from . import multifield, values
from .store import Store


@dataclass(frozen=True)
class Field:
    """``kind``: str, int, money, decimal, flag, date, datetime, ids (a list of ints) or file (always null:
    files are not emulated, but the key is in every reply, as on a portal).

    The rest only shapes the ``*.fields`` descriptor: ``type`` when it is not the kind's own (``crm_status``,
    ``crm_currency``, ``user``, ``crm_company``…), ``status_type`` (the crm.status list of a ``crm_status``
    field), ``required``, ``immutable``, ``deprecated`` and ``parent`` (``settings.parentEntityTypeId``).
    """

    kind: str = "str"
    readonly: bool = False
    writeonly: bool = False
    type: str | None = None
    status_type: str | None = None
    required: bool = False
    immutable: bool = False
    deprecated: bool = False
    parent: int | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    table: str
    fields: dict[str, Field]
    multifields: tuple[str, ...] = ()
    uf_entity: str | None = None
    not_found: Callable[[int], str] = field(default=lambda _id: "Not found")
    floor_start: bool = True
    touch_on_create: bool = True
    titles: dict[str, str] = field(default_factory=dict)  # ``*.fields`` titles; the code where none is given
    # an ORM ``getList`` behind ``list`` (requisites, bank details, presets): a ``select`` gives exactly the named
    # fields in the named order, ID only when named (EN crm-requisite-list.md, crm-requisite-bank-detail-list.md);
    # the legacy lists (companies, contacts, deals) always send ID and keep the entity's field order
    orm_select: bool = False

    def writable(self, name: str) -> bool:
        spec = self.fields.get(name)
        return spec is not None and not spec.readonly


def uf_definitions(store: Store, uf_entity: str | None) -> list[dict[str, Any]]:
    if not uf_entity:
        return []
    return [uf for uf in store.rows("userfields") if uf["ENTITY_ID"] == uf_entity]


def coerce(kind: str, value: Any, tz: timezone) -> Any:
    if kind == "file":
        return None
    if kind == "int":
        return None if value is None or value == "" else values.intval(value)
    if kind in ("money", "decimal"):
        return None if value is None or value == "" else values.decimal(value)
    if kind == "flag":
        return values.flag(value)
    if kind == "date":
        return values.parse_date(value)
    if kind == "datetime":
        return values.parse_datetime(value, tz)
    if kind == "ids":
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        return [values.intval(v) for v in items if values.intval(v) > 0]
    if value is None or isinstance(value, (dict, list)):
        return None  # a JSON null is PHP null: not a value (an empty string is one)
    return values.text(value)


def internalize(entity: Entity, raw: dict[str, Any], store: Store, tz: timezone,
                unlocked: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Keep only writable fields (standard, ``unlocked`` read-only ones and defined ``UF_*``), coerced; everything
    else is dropped."""
    ufs = {uf["FIELD_NAME"]: uf for uf in uf_definitions(store, entity.uf_entity)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if entity.writable(key) or (key in unlocked and key in entity.fields):
            out[key] = coerce(entity.fields[key].kind, value, tz)
        elif key in ufs:
            out[key] = uf_value(ufs[key], value)
    return out


def uf_value(definition: dict[str, Any], value: Any) -> Any:
    """User-field values are kept as the portal returns them: strings, lists for MULTIPLE fields."""
    if definition.get("MULTIPLE") == "Y":
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        return [values.text(v) for v in items if values.text(v) != ""]
    if isinstance(value, (dict, list)):
        return None
    if definition.get("USER_TYPE_ID") == "boolean":
        return "1" if values.truthy(value) else "0"
    return values.text(value)


def externalize_value(kind: str, value: Any, tz: timezone) -> Any:
    if kind == "date":
        return values.date_as_datetime(value, tz)
    if kind == "datetime":
        return value or ""
    if value is None:
        return None
    if kind == "money":
        return values.money(value)
    if kind == "ids":
        return [str(v) for v in value]
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return values.text(value) if not isinstance(value, (list, dict)) else value


def externalize(
    entity: Entity,
    record: dict[str, Any],
    store: Store,
    tz: timezone,
    select: Selection | None = None,
) -> dict[str, Any]:
    """The reply form of ``record``: strings and nulls, only the selected fields (all for ``get``)."""
    if select is not None and select.order is not None:
        return _externalize_in_order(entity, record, store, tz, select.order)
    out: dict[str, Any] = {}
    for name, spec in entity.fields.items():
        if spec.writeonly:
            continue
        if select is None or name in select.fields or name == "ID":
            out[name] = externalize_value(spec.kind, record.get(name), tz)
    for uf in uf_definitions(store, entity.uf_entity):
        name = uf["FIELD_NAME"]
        if select is None or name in select.fields:
            out[name] = _uf_out(uf, record.get(name))
    for kind in entity.multifields:
        if select is None or kind in select.multifields:
            items = multifield.externalize(record, kind)
            if items:
                out[kind] = items
    return out


def _uf_out(uf: dict[str, Any], value: Any) -> Any:
    if value is None and uf.get("MULTIPLE") == "Y":
        value = []
    return value if value not in (None, "") else (False if uf.get("USER_TYPE_ID") == "boolean" else None)


def _externalize_in_order(entity: Entity, record: dict[str, Any], store: Store, tz: timezone,
                          order: list[str]) -> dict[str, Any]:
    ufs = {uf["FIELD_NAME"]: uf for uf in uf_definitions(store, entity.uf_entity)}
    out: dict[str, Any] = {}
    for name in order:
        if name in ufs:
            out[name] = _uf_out(ufs[name], record.get(name))
        else:
            out[name] = externalize_value(entity.fields[name].kind, record.get(name), tz)
    return out


@dataclass
class Selection:
    fields: set[str]
    multifields: set[str]
    order: list[str] | None = None  # ORM lists: exactly these fields in this order (see ``Entity.orm_select``)


def selection(entity: Entity, store: Store, select: Any) -> Selection:
    """``select`` semantics of legacy lists: empty = ``*`` + ``UF_*``; ``*`` leaves out UF and multifields."""
    names = select if isinstance(select, list) else list(select.values()) if isinstance(select, dict) else []
    names = [values.text(n) for n in names if values.text(n)]
    standard = {n for n, spec in entity.fields.items() if not spec.writeonly}
    ufs = {uf["FIELD_NAME"] for uf in uf_definitions(store, entity.uf_entity)}
    if not names:
        return Selection(standard | ufs, set())
    if entity.orm_select:
        order: dict[str, None] = {}
        for name in names:
            if name == "*":
                order.update(dict.fromkeys(n for n in entity.fields if n in standard))
            elif name == "UF_*":
                order.update(dict.fromkeys(uf["FIELD_NAME"] for uf in uf_definitions(store, entity.uf_entity)))
            elif name in standard or name in ufs:
                order[name] = None
        return Selection(set(order), set(), list(order))
    chosen: set[str] = set()
    multis: set[str] = set()
    for name in names:
        if name == "*":
            chosen |= standard
        elif name == "UF_*":
            chosen |= ufs
        elif name in entity.multifields:
            multis.add(name)
        elif name in standard or name in ufs:
            chosen.add(name)
    return Selection(chosen, multis)
