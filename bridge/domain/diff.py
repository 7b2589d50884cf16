"""Send only what 1C changed: three-way diffs between what 1C has now (desired), what the bridge pushed
last time (pushed) and, for multifields, what Bitrix24 holds now (current).

A manager's edit in Bitrix24 survives a replayed or older event: a field is sent only when 1C's value
differs from the one the bridge pushed before, and a phone is removed only when 1C removed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_NOT_DIGITS = re.compile(r"\D+")


def field_changes(desired: dict[str, str], pushed: dict[str, str] | None) -> dict[str, str]:
    """Fields to send: those 1C changed since the last push (all when nothing was pushed yet); a field 1C
    emptied since the last push is sent empty so Bitrix24 clears it too."""
    if pushed is None:
        return dict(desired)
    changes = {k: v for k, v in desired.items() if pushed.get(k) != v}
    changes.update({k: "" for k in pushed if k not in desired})
    return changes


def unconfirmed(pushed: dict[str, Any] | None, pending: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The diff base after a push that died half-way (Bitrix24 may hold ``pushed``, ``pending`` — what the
    failed push meant to write — or a mix): every desired field differs from it (all are sent again) and
    a field only they have is still sent empty."""
    if pushed is None and pending is None:
        return None
    return {k: None for k in {**(pushed or {}), **(pending or {})}}


def normalize(kind: str, value: str) -> str:
    """The comparable form of a phone (digits, 8XXXXXXXXXX → 7XXXXXXXXXX) or an e-mail (lower case)."""
    value = value.strip()
    if kind == "PHONE":
        digits = _NOT_DIGITS.sub("", value)
        if len(digits) == 11 and digits.startswith("8"):
            digits = "7" + digits[1:]
        return digits or value
    return value.casefold()


def multifield_changes(kind: str, current: Iterable[dict[str, Any]], pushed: Iterable[str] | None,
                       desired: Iterable[str], value_type: str = "WORK") -> list[dict[str, str]]:
    """Items for an item-by-item multifield update (Bitrix24 never replaces a multifield wholesale).

    ``{ID, DELETE: "Y"}`` for values 1C removed since the last push; ``{VALUE, VALUE_TYPE}`` for values 1C
    has that Bitrix24 lacks.  Values nobody pushed (a manager's additions) are left alone.
    """
    current = list(current or ())
    desired_keys = {normalize(kind, v) for v in desired}
    removed = {normalize(kind, v) for v in (pushed or ())} - desired_keys
    present = {normalize(kind, str(item.get("VALUE", ""))) for item in current}
    ops: list[dict[str, str]] = [
        {"ID": str(item["ID"]), "DELETE": "Y"}
        for item in current
        if normalize(kind, str(item.get("VALUE", ""))) in removed and item.get("ID") is not None
    ]
    added: set[str] = set()
    for value in desired:
        key = normalize(kind, value)
        if key not in present and key not in added:
            ops.append({"VALUE": value, "VALUE_TYPE": value_type})
            added.add(key)
    return ops
