"""Send only what 1C changed: three-way diffs between what 1C has now (desired), what the bridge pushed
last time (pushed) and, for multifields, what Bitrix24 holds now (current).

A manager's edit in Bitrix24 survives a replayed or older event: a field is sent only when 1C's value
differs from the one the bridge pushed before, and a phone is removed only when 1C removed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
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


# --- field ownership (docs/ownership.md) ------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ].*)?$")
_MONEY = re.compile(r"^(-?\d+(?:\.\d+)?)\|([A-Z]{3})$")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def owned_changes(desired: dict[str, Any], pushed: dict[str, Any] | None, create_only: frozenset[str] = frozenset(),
                  *, three_way: frozenset[str] = frozenset(), clear: Iterable[str] = ()) -> dict[str, Any]:
    """Fields to send to a record that exists: every field 1C owns (so a manager's edit of one is put back
    to 1C's value), ``""`` for an owned field 1C emptied since the last push or one of ``clear`` (fields the
    bridge fills, like the deal's UF fields) 1C has no value for; never a create-only field.  Fields in
    ``three_way`` (a list Bitrix24 does not show back, like CONTACT_IDS) are sent only when 1C changed them.

    Empty when 1C changed none of the record's fields since the last push: the record is not touched.  A
    change of a create-only field alone still sends the owned ones (the update that used to carry it is
    how the bridge learns a record was deleted by hand, and it costs no more than before)."""
    changed = field_changes(desired, pushed)
    if not changed:
        return {}
    out = {k: v for k, v in desired.items() if k not in create_only and k not in three_way}
    out.update({k: v for k, v in changed.items() if k in three_way})
    out.update({k: "" for k in changed if k not in desired and k not in create_only})
    out.update({k: "" for k in clear if k not in desired and k not in create_only})
    return out


def comparable(value: Any) -> Any:
    """A field value as Bitrix24 shows it and as the bridge sends it, in one comparable form: empty is
    ``""`` (None, "", []), numbers as Decimals
    (``1500`` = ``"1500.00"``), money ``"300|RUB"`` by amount and currency, dates by their day
    (``"2024-05-01"`` = ``"2024-05-01T00:00:00+03:00"``), lists as sorted tuples."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, (list, tuple)):
        return tuple(sorted(str(comparable(v)) for v in value))
    if isinstance(value, (int, float)):
        return Decimal(str(value)).normalize()
    text = str(value).strip()
    money = _MONEY.match(text)
    if money:
        return (Decimal(money.group(1)).normalize(), money.group(2))
    if _NUMBER.match(text):
        return Decimal(text).normalize()
    if _DATE.match(text):
        return text[:10]
    return text


def same_value(a: Any, b: Any, name: str = "") -> bool:
    """Equal once comparable; an id field's ``0`` (Bitrix24's "none") counts as empty."""
    def form(value: Any) -> Any:
        c = comparable(value)
        return "" if name.endswith("_ID") and c == 0 and not isinstance(c, str) else c
    return form(a) == form(b)


def overwritten(current: dict[str, Any], pushed: dict[str, Any] | None, sent: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Manual edits this update overwrites: field → (what Bitrix24 held, what 1C says), for each sent
    field Bitrix24 showed (``current``) with a value neither 1C's nor the one the bridge pushed last.
    Nothing when the last push is unknown (never pushed, or a push died half-way: ``None`` values)."""
    if pushed is None:
        return {}
    out: dict[str, tuple[Any, Any]] = {}
    for name, new in sent.items():
        if name not in current or same_value(current[name], new, name):
            continue
        before = pushed.get(name, "")
        if before is None or same_value(current[name], before, name):
            continue
        out[name] = (current[name], new)
    return out
