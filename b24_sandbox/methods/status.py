"""crm.status.list|add|get|fields|entity.items and crm.dealcategory.stage.list: stages and other reference lists.

Funnel 0's stages live in ``DEAL_STAGE`` with bare ids; funnel N's in ``DEAL_STAGE_N`` with ids prefixed
``C{N}:`` (added by ``crm.status.add`` when missing).  SEMANTICS is null (in progress), "S" or "F".
"""

from __future__ import annotations

import re
from typing import Any

from .. import listing, seed, values
from ..errors import ID_INVALID, core, invalid
from ..store import Store
from . import Call, Result, method

TABLE = "statuses"
_STAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,22}$")


def stage_entity(category_id: int) -> str:
    return "DEAL_STAGE" if category_id == 0 else f"DEAL_STAGE_{category_id}"


def stages(store: Store, category_id: int) -> list[dict[str, Any]]:
    entity = stage_entity(category_id)
    return sorted((r for r in store.rows(TABLE) if r["ENTITY_ID"] == entity), key=lambda r: (r["SORT"], r["ID"]))


def stage(store: Store, category_id: int, status_id: str) -> dict[str, Any] | None:
    return next((r for r in stages(store, category_id) if r["STATUS_ID"] == status_id), None)


def items(store: Store, entity_id: str) -> list[dict[str, Any]]:
    """One list's items by SORT (then ID)."""
    return sorted((r for r in store.rows(TABLE) if r["ENTITY_ID"] == entity_id), key=lambda r: (r["SORT"], r["ID"]))


def first_status(store: Store, entity_id: str) -> str | None:
    """The list's first item by SORT: what ``add`` puts in a ``crm_status`` field left out ("by default, the
    first available …", RU crm-company-add.md, crm-contact-add.md, crm-deal-add.md)."""
    rows = items(store, entity_id)
    return rows[0]["STATUS_ID"] if rows else None


def semantic_id(row: dict[str, Any] | None) -> str:
    return {"S": "S", "F": "F"}.get((row or {}).get("SEMANTICS") or "", "P")


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    semantics = {"S": "success", "F": "failure"}.get(row["SEMANTICS"] or "", "process")
    if row["STATUS_ID"].endswith("APOLOGY"):
        semantics = "apology"
    return {"SEMANTICS": semantics, "COLOR": row["COLOR"]}


def render(row: dict[str, Any]) -> dict[str, Any]:
    out = {"ID": str(row["ID"]), "ENTITY_ID": row["ENTITY_ID"], "STATUS_ID": row["STATUS_ID"], "NAME": row["NAME"],
           "NAME_INIT": row["NAME_INIT"], "SORT": str(row["SORT"]), "SYSTEM": row["SYSTEM"],
           "CATEGORY_ID": None if row["CATEGORY_ID"] is None else str(row["CATEGORY_ID"]), "COLOR": row["COLOR"],
           "SEMANTICS": row["SEMANTICS"]}
    if row["ENTITY_ID"].startswith("DEAL_STAGE"):
        out["EXTRA"] = _extra(row)
    return out


def _kind(name: str) -> str | None:
    if name in ("ID", "SORT", "CATEGORY_ID"):
        return "int"
    return "str" if name in ("ENTITY_ID", "STATUS_ID", "NAME", "SYSTEM", "SEMANTICS", "COLOR") else None


@method("crm.status.list")
def list_(call: Call) -> Result:
    rows = listing.apply_filter(call.store.rows(TABLE), call.array_param("filter"), lambda r, n: r.get(n), _kind)
    order = call.array_param("order") or {"SORT": "ASC"}
    rows = listing.apply_order(rows, order, lambda r, n: r.get(n), _kind)
    return Result([render(r) for r in rows], len(rows))


def known_entity(store: Store, entity_id: str) -> int | None:
    """The funnel id for a stage list, -1 for other known lists, None for unknown ones."""
    if entity_id == "DEAL_STAGE":
        return 0
    match = re.fullmatch(r"DEAL_STAGE_(\d+)", entity_id)
    if match:
        category_id = int(match.group(1))
        return category_id if store.get("categories", category_id) is not None else None
    return -1 if entity_id in seed.STATUS_LISTS else None


@method("crm.status.add")
def add(call: Call) -> int:
    fields = call.fields()
    entity_id = values.text(fields.get("ENTITY_ID")).strip()
    status_id = values.text(fields.get("STATUS_ID")).strip()
    name = values.text(fields.get("NAME")).strip()
    category_id = known_entity(call.store, entity_id)
    if category_id is None:
        raise invalid("Specified entity type is not supported.")
    if not status_id or not name:
        raise invalid("The 'STATUS_ID' and 'NAME' fields are required.")
    if category_id >= 0:
        prefix = f"C{category_id}:" if category_id > 0 else ""
        bare = status_id[len(prefix):] if prefix and status_id.startswith(prefix) else status_id
        if not _STAGE_ID.match(bare):
            raise core("The status ID may contain only Latin letters, digits, '_' and '-', 22 characters at most.")
        status_id = prefix + bare
    if any(r["ENTITY_ID"] == entity_id and r["STATUS_ID"] == status_id for r in call.store.rows(TABLE)):
        raise core("The specified status ID already exists.")
    semantics = values.text(fields.get("SEMANTICS")).strip().upper() or None
    row = seed.add_status(call.store, entity_id, status_id, name, values.intval(fields.get("SORT", 10)) or 10,
                          semantics=semantics if semantics in ("S", "F") else None,
                          color=values.text(fields.get("COLOR")) or None,
                          category_id=category_id if category_id >= 0 else None)
    return row["ID"]


@method("crm.dealcategory.stage.list")
def dealcategory_stage_list(call: Call) -> list[dict[str, Any]]:
    category_id = values.intval(call.param("id", "ID", default=0))
    return [{"NAME": r["NAME"], "SORT": r["SORT"], "STATUS_ID": r["STATUS_ID"]} for r in stages(call.store, category_id)]


@method("crm.status.entity.items")
def entity_items(call: Call) -> list[dict[str, Any]]:
    """Every item of one list by SORT as ``{NAME, SORT (int), STATUS_ID}``, no total (EN
    crm-status-entity-items.md; the recorded fast_bitrix24 batch ``call_batch`` reads STATUS and SOURCE this
    way: ``result_total`` stays ``[]``).  A list the portal does not hold is empty."""
    entity_id = values.text(call.param("entityId")).strip()
    if not entity_id:
        raise invalid("The parameter entityId is not defined or invalid.")
    return [{"NAME": r["NAME"], "SORT": r["SORT"], "STATUS_ID": r["STATUS_ID"]} for r in items(call.store, entity_id)]


@method("crm.status.get")
def get(call: Call) -> dict[str, Any]:
    """One item as ``list`` renders it; a missing one → 400 ``""`` "Status is not found." (EN crm-status-get.md)."""
    raw = call.param("id", "ID")
    if not values.is_positive_id(raw):
        raise invalid(ID_INVALID)
    row = call.store.get(TABLE, values.intval(raw))
    if row is None:
        raise invalid("Status is not found.")
    return render(row)


# RU crm-status-fields.md (reply example): the flags and a Russian portal's titles
_FIELDS = (
    ("ID", "integer", False, True, False, "ID"),
    ("ENTITY_ID", "string", True, False, True, "ID элемента сущности"),
    ("STATUS_ID", "string", True, False, True, "Статус"),
    ("SORT", "integer", False, False, False, "Сортировка"),
    ("NAME", "string", True, False, False, "Название"),
    ("NAME_INIT", "string", False, True, False, "Название по умолчанию"),
    ("SYSTEM", "char", False, True, False, "Системный"),
    ("CATEGORY_ID", "integer", False, False, True, "CATEGORY_ID"),
    ("COLOR", "string", False, False, False, "COLOR"),
    ("SEMANTICS", "char", False, False, True, "SEMANTICS"),
    ("EXTRA", "crm_status_extra", False, False, False, "Дополнительные поля"),
)


@method("crm.status.fields")
def fields_(call: Call) -> dict[str, Any]:
    return {name: {"type": type_, "isRequired": required, "isReadOnly": readonly, "isImmutable": immutable,
                   "isMultiple": False, "isDynamic": False, "title": title}
            for name, type_, required, readonly, immutable, title in _FIELDS}
