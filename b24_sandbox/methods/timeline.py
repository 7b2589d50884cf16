"""crm.timeline.comment.add|list: comments on a CRM record's timeline (only lower-case ``fields``)."""

from __future__ import annotations

from typing import Any

from .. import listing, values
from ..errors import ApiError
from ..store import Store
from . import Call, Result, method

TABLE = "timeline_comments"
OWNERS = {"lead": (1, None), "deal": (2, "deals"), "contact": (3, "contacts"), "company": (4, "companies")}


@method("crm.timeline.comment.add")
def add(call: Call) -> int:
    fields = call.params.get("fields")
    if not isinstance(fields, dict):
        raise ApiError(100, "Could not find value for parameter {fields}", 400)
    entity_type = values.text(fields.get("ENTITY_TYPE")).strip().lower()
    entity_id = values.intval(fields.get("ENTITY_ID"))
    owner = OWNERS.get(entity_type)
    if owner is None or entity_id <= 0 or owner[1] is None or call.store.get(owner[1], entity_id) is None:
        raise ApiError("OWNER_NOT_FOUND", "Owner entity not found.", 400)
    comment = values.text(fields.get("COMMENT")).strip()
    if not comment:
        raise ApiError("INVALID_ARG_VALUE", "Empty comment message.", 400)
    record: dict[str, Any] = {"ENTITY_TYPE": entity_type, "ENTITY_TYPE_ID": owner[0], "ENTITY_ID": entity_id,
                              "COMMENT": comment, "AUTHOR_ID": call.user_id, "CREATED": call.now(), "FILES": []}
    return call.store.insert(TABLE, record, counter="timeline")


def delete_timeline(store: Store, entity_type: str, entity_id: int) -> None:
    """A deleted record takes its timeline with it."""
    for row in [r for r in store.where(TABLE, "ENTITY_ID", entity_id) if r["ENTITY_TYPE"] == entity_type]:
        store.delete(TABLE, row["ID"])


def render(row: dict[str, Any]) -> dict[str, Any]:
    return {"ID": str(row["ID"]), "CREATED": row["CREATED"], "ENTITY_ID": str(row["ENTITY_ID"]),
            "ENTITY_TYPE": row["ENTITY_TYPE"], "AUTHOR_ID": str(row["AUTHOR_ID"]), "COMMENT": row["COMMENT"],
            "FILES": row["FILES"]}


@method("crm.timeline.comment.list")
def list_(call: Call) -> Result:
    rows = listing.apply_filter(call.store.rows(TABLE), call.param("filter"), lambda r, n: r.get(n),
                                lambda n: "int" if n in ("ID", "ENTITY_ID") else "str" if n in ("ENTITY_TYPE",) else None)
    page = listing.paginate(rows, call.param("start"), call.config.page_size)
    return Result([render(r) for r in page.rows], page.total, page.next)
