"""Deal funnels: crm.category.list|get|add|update (entityTypeId 2) and the legacy
crm.dealcategory.list|get|add|update|delete|default.get|default.set.

Funnel 0 is the default and is not a row of the legacy lists (``default.get``/``default.set`` read and rename
it); a new funnel gets the eight stock stages as ``C{N}:…``, and a deleted one takes them with it.  The
legacy methods answer strings (``ID``, ``SORT``), ``IS_LOCKED`` "N" and ``CREATED_DATE``.
"""

from __future__ import annotations

from typing import Any

from .. import listing, seed, values
from ..errors import ApiError, invalid
from . import Call, Result, method

TABLE = "categories"
DEAL = 2
DEFAULT_NAME = "Общая"  # the RU portal's own name of funnel 0 (seeded)


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
    """Every funnel in one reply with ``total`` and no ``next``: the portal does not page this method (the
    recorded reply holds 52 funnels at once)."""
    _entity_type(call)
    rows = listing.apply_filter(call.store.rows(TABLE), call.param("filter"), lambda r, n: r.get(n), _kind)
    rows = listing.apply_order(rows, call.param("order") or {"sort": "ASC"}, lambda r, n: r.get(n), _kind)
    return Result({"categories": [render(r) for r in rows]}, len(rows))


@method("crm.category.get")
def get(call: Call) -> dict[str, Any]:
    _entity_type(call)
    row = call.store.get(TABLE, values.intval(call.param("id", default=-1), default=-1))
    if row is None:
        raise ApiError("NOT_FOUND", "Element not found", 400)
    return {"category": render(row)}


def create(call: Call, name: str, sort: Any, origin_id: Any = None, originator_id: Any = None) -> dict[str, Any]:
    """A new funnel with the stock stages (``C{N}:NEW`` … ``C{N}:APOLOGY``)."""
    row = {"name": name, "sort": values.intval(sort) or 500, "entityTypeId": DEAL, "isDefault": "N",
           "originId": values.text(origin_id), "originatorId": values.text(originator_id), "created": call.now()}
    category_id = call.store.insert(TABLE, row, key="id")
    for status_id, stage_name, stage_sort, semantics, color in seed.DEFAULT_STAGES:
        seed.add_status(call.store, f"DEAL_STAGE_{category_id}", f"C{category_id}:{status_id}", stage_name, stage_sort,
                        semantics=semantics, color=color, category_id=category_id, system="Y")
    return row


@method("crm.category.add")
def add(call: Call) -> dict[str, Any]:
    _entity_type(call)
    fields = call.fields("fields")
    name = values.text(fields.get("name")).strip()
    if not name:
        raise ApiError("FIELD_REQUIRED", 'Field "name" is required', 400)
    row = create(call, name, fields.get("sort", 500), fields.get("originId"), fields.get("originatorId"))
    return {"category": render(row)}


@method("crm.category.update")
def update(call: Call) -> dict[str, Any]:
    """``name``/``sort``/``originId``/``originatorId``; ``isDefault`` cannot change for deals (ignored)."""
    _entity_type(call)
    row = call.store.get(TABLE, values.intval(call.param("id", default=-1), default=-1))
    if row is None:
        raise ApiError("NOT_FOUND", "Element not found", 400)
    fields = call.fields("fields")
    if "name" in fields:
        name = values.text(fields.get("name")).strip()
        if not name:
            raise ApiError("FIELD_REQUIRED", 'Field "name" is required', 400)
        row["name"] = name
    if "sort" in fields:
        row["sort"] = values.intval(fields["sort"]) or row["sort"]
    for key in ("originId", "originatorId"):
        if key in fields and row["id"] != 0:
            row[key] = values.text(fields[key])
    return {"category": render(row)}


# ---- legacy crm.dealcategory.* ---------------------------------------------------------------------------

LEGACY_FIELDS = ("ID", "CREATED_DATE", "NAME", "IS_LOCKED", "SORT")


def render_legacy(row: dict[str, Any]) -> dict[str, Any]:
    return {"ID": str(row["id"]), "CREATED_DATE": row.get("created") or "", "NAME": row["name"], "IS_LOCKED": "N",
            "SORT": str(row["sort"])}


def _legacy_kind(name: str) -> str | None:
    return "int" if name in ("ID", "SORT") else "str" if name in LEGACY_FIELDS else None


def _legacy(call: Call) -> dict[str, Any]:
    category_id = call.id()
    row = call.store.get(TABLE, category_id)
    if row is None or category_id == 0:
        raise invalid("Not found")
    return row


@method("crm.dealcategory.list")
def legacy_list(call: Call) -> Result:
    rows = [render_legacy(r) for r in call.store.rows(TABLE) if r["id"] != 0]
    get = (lambda r, n: r.get(n))
    rows = listing.apply_filter(rows, call.array_param("filter"), get, _legacy_kind)
    rows = listing.apply_order(rows, call.array_param("order"), get, _legacy_kind)
    page = listing.paginate(rows, call.param("start"), call.config.page_size)
    select = [values.text(s) for s in listing.as_list(call.array_param("select", default=[])) if s]
    if select and "*" not in select:
        page.rows = [{k: v for k, v in r.items() if k in select or k == "ID"} for r in page.rows]
    return Result(page.rows, page.total, page.next)


@method("crm.dealcategory.get")
def legacy_get(call: Call) -> dict[str, Any]:
    return render_legacy(_legacy(call))


@method("crm.dealcategory.add")
def legacy_add(call: Call) -> int:
    fields = call.fields()
    name = values.text(fields.get("NAME")).strip()
    if not name:
        raise invalid('The "Name" field is required.')
    return create(call, name, fields.get("SORT", 500))["id"]


@method("crm.dealcategory.update")
def legacy_update(call: Call) -> bool:
    row = _legacy(call)
    fields = call.fields()
    if "NAME" in fields:
        name = values.text(fields["NAME"]).strip()
        if not name:
            raise invalid('The "Name" field is required.')
        row["name"] = name
    if "SORT" in fields:
        row["sort"] = values.intval(fields["SORT"]) or row["sort"]
    return True


@method("crm.dealcategory.delete")
def legacy_delete(call: Call) -> bool:
    """``true``; the funnel's stages go with it.  A funnel still holding deals stays (``DealCategory::delete``
    refuses; text as EN ``crm-category-delete.md`` gives it for deals)."""
    row = _legacy(call)
    if any(deal.get("CATEGORY_ID") == row["id"] for deal in call.store.rows("deals")):
        raise invalid(f"Deals related to the funnel {row['name']} found")
    for stage in [s for s in call.store.rows("statuses") if s["ENTITY_ID"] == f"DEAL_STAGE_{row['id']}"]:
        call.store.delete("statuses", stage["ID"])
    call.store.delete(TABLE, row["id"])
    return True


@method("crm.dealcategory.default.get")
def legacy_default_get(call: Call) -> dict[str, Any]:
    """Funnel 0 as ``{ID: 0, NAME}`` (EN ``crm-deal-category-default-get.md``: ID is the int 0)."""
    return {"ID": 0, "NAME": call.store.get(TABLE, 0)["name"]}


@method("crm.dealcategory.default.set")
def legacy_default_set(call: Call) -> bool:
    """Rename funnel 0 (``name``); an empty name puts the portal's own name back, as
    ``DealCategory::setDefaultCategoryName`` drops the option."""
    fields = call.array_param("fields", default={})
    name = call.param("name", "NAME", default=fields.get("NAME") if isinstance(fields, dict) else None)
    call.store.get(TABLE, 0)["name"] = values.text(name).strip() or DEFAULT_NAME
    return True
