"""user.get / user.current: a few pre-made portal users (see :mod:`b24_sandbox.seed`)."""

from __future__ import annotations

from typing import Any

from .. import listing, values
from . import Call, Result, method

FIELDS = ("ID", "XML_ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "LAST_LOGIN", "DATE_REGISTER",
          "IS_ONLINE", "TIME_ZONE", "PERSONAL_GENDER", "WORK_POSITION", "UF_DEPARTMENT", "USER_TYPE")


def render(row: dict[str, Any]) -> dict[str, Any]:
    return {name: (str(row[name]) if name == "ID" else row.get(name)) for name in FIELDS}


def _kind(name: str) -> str | None:
    return "int" if name == "ID" else "str" if name in FIELDS else None


def _get(row: dict[str, Any], name: str) -> Any:
    if name == "ACTIVE":
        return "Y" if row["ACTIVE"] else "N"
    return row.get(name)


@method("user.get")
def get(call: Call) -> Result:
    filter_ = call.param("filter", "FILTER", "FIELDS")
    if not isinstance(filter_, dict):
        filter_ = {k: v for k, v in call.params.items() if k.lstrip("!><=%@").upper() in FIELDS}
    if "ACTIVE" in filter_:
        filter_ = {**filter_, "ACTIVE": "Y" if values.truthy(filter_["ACTIVE"]) else "N"}
    rows = listing.apply_filter(call.store.rows("users"), filter_, _get, _kind)
    sort = values.text(call.param("sort", "SORT", default="ID")) or "ID"
    desc = values.text(call.param("order", "ORDER", default="ASC")).upper() == "DESC"
    rows = listing.apply_order(rows, {sort: "DESC" if desc else "ASC"}, _get, _kind)
    page = listing.paginate(rows, call.param("start"), call.config.page_size)
    return Result([render(r) for r in page.rows], page.total, page.next)


@method("user.current")
def current(call: Call) -> dict[str, Any]:
    row = call.store.get("users", call.user_id)
    return render(row) if row else {"ID": str(call.user_id)}
