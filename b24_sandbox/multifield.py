"""PHONE / EMAIL / WEB / IM multifields: written as ``[{VALUE, VALUE_TYPE}]``, updated item by item.

On update an item without ``ID`` is appended; ``{ID, DELETE:"Y"}``, ``{ID, VALUE:""}`` and a bare ``{ID}``
delete; ``{ID, VALUE, VALUE_TYPE}`` edits.  The list is never replaced wholesale.  Read adds the item's
``ID`` (a string) and ``TYPE_ID``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import values
from .errors import core

KINDS = ("PHONE", "EMAIL", "WEB", "IM")
DEFAULT_VALUE_TYPE = {"PHONE": "WORK", "EMAIL": "WORK", "WEB": "WORK", "IM": "OTHER"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _items(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, dict):
        raw = list(raw.values())
    if not isinstance(raw, list):
        return []
    return [item for item in raw if isinstance(item, dict)]


def validate(kinds: tuple[str, ...], raw_fields: dict[str, Any]) -> None:
    """E-mail values must look like e-mail addresses (``ERROR_CORE`` otherwise), as on a real portal."""
    if "EMAIL" not in kinds:
        return
    for item in _items(raw_fields.get("EMAIL")):
        value = values.text(item.get("VALUE")).strip()
        if value and not _EMAIL.match(value):
            raise core(f'Invalid value "{value}" in field "E-mail".')


def apply(
    record: dict[str, Any],
    kinds: tuple[str, ...],
    raw_fields: dict[str, Any],
    next_id: Callable[[], int],
) -> None:
    """Apply the multifield items in ``raw_fields`` to ``record`` (add and update share the rules)."""
    store = record.setdefault("_fm", {})
    for kind in kinds:
        if kind not in raw_fields:
            continue
        current: list[dict[str, Any]] = store.setdefault(kind, [])
        for item in _items(raw_fields[kind]):
            item_id = values.intval(item.get("ID")) if item.get("ID") not in (None, "") else 0
            value = values.text(item.get("VALUE")).strip()
            value_type = values.text(item.get("VALUE_TYPE")).strip().upper()
            if item_id:
                existing = next((x for x in current if x["ID"] == item_id), None)
                if existing is None:
                    continue
                if values.flag(item.get("DELETE", "N")) == "Y" or "VALUE" not in item or value == "":
                    current.remove(existing)
                else:
                    existing["VALUE"] = value
                    if value_type:
                        existing["VALUE_TYPE"] = value_type
            elif value:
                current.append(
                    {"ID": next_id(), "VALUE_TYPE": value_type or DEFAULT_VALUE_TYPE[kind], "VALUE": value}
                )
    for kind in kinds:
        if kind in ("PHONE", "EMAIL") and f"HAS_{kind}" in record:
            record[f"HAS_{kind}"] = "Y" if store.get(kind) else "N"
    if "HAS_IMOL" in record:
        record["HAS_IMOL"] = "Y" if any(x["VALUE_TYPE"] in ("IMOL", "OPENLINE") for x in store.get("IM", [])) else "N"


def externalize(record: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        {"ID": str(x["ID"]), "VALUE_TYPE": x["VALUE_TYPE"], "VALUE": x["VALUE"], "TYPE_ID": kind}
        for x in record.get("_fm", {}).get(kind, [])
    ]


def values_of(record: dict[str, Any], kind: str) -> list[str]:
    return [x["VALUE"] for x in record.get("_fm", {}).get(kind, [])]
