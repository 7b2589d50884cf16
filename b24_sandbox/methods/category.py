"""crm.category.list|add|get (deal funnels).  Funnel 0 is the default; a new funnel gets the stock stages."""

from __future__ import annotations

from typing import Any

from .. import listing, seed, values
from ..errors import ApiError
from . import Call, Result, method

TABLE = "categories"
DEAL = 2


def render(row: dict[str, Any]) -> dict[str, Any]:
    out = {"id": row["id"], "name": row["name"], "sort": row["sort"], "entityTypeId": row["entityTypeId"],
           "isDefault": row["isDefault"]}
    if row["id"] != 0:
        out["originId"] = row.get("originId", "")
        out["originatorId"] = row.get("originatorId", "")
    return out


def _entity_type(call: Call) -> int:
    entity_type = values.intval(call.param("entityTypeId", default=0))
    if entity_type != DEAL:
        raise ApiError("NOT_FOUND", "Smart process not found", 400)
    return entity_type


def _kind(name: str) -> str | None:
    return "int" if name in ("id", "sort", "entityTypeId") else "str" if name in ("name", "isDefault") else None


@method("crm.category.list")
def list_(call: Call) -> Result:
    _entity_type(call)
    rows = listing.apply_filter(call.store.rows(TABLE), call.param("filter"), lambda r, n: r.get(n), _kind)
    rows = listing.apply_order(rows, call.param("order") or {"sort": "ASC"}, lambda r, n: r.get(n), _kind)
    page = listing.paginate(rows, call.param("start"), call.config.page_size, floor_start=False)
    return Result({"categories": [render(r) for r in page.rows]}, page.total, page.next)


@method("crm.category.get")
def get(call: Call) -> dict[str, Any]:
    _entity_type(call)
    row = call.store.get(TABLE, values.intval(call.param("id", default=-1), default=-1))
    if row is None:
        raise ApiError("NOT_FOUND", "Element not found", 400)
    return {"category": render(row)}


@method("crm.category.add")
def add(call: Call) -> dict[str, Any]:
    _entity_type(call)
    fields = call.fields("fields")
    name = values.text(fields.get("name")).strip()
    if not name:
        raise ApiError("FIELD_REQUIRED", 'Field "name" is required', 400)
    row = {"name": name, "sort": values.intval(fields.get("sort", 500)) or 500, "entityTypeId": DEAL,
           "isDefault": "N", "originId": values.text(fields.get("originId")),
           "originatorId": values.text(fields.get("originatorId"))}
    category_id = call.store.insert(TABLE, row, key="id")
    for status_id, stage_name, sort, semantics, color in seed.DEFAULT_STAGES:
        seed.add_status(call.store, f"DEAL_STAGE_{category_id}", f"C{category_id}:{status_id}", stage_name, sort,
                        semantics=semantics, color=color, category_id=category_id, system="Y")
    return {"category": render(row)}
