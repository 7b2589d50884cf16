"""``*.list`` mechanics: filter operators, ``order``, and paging by 50 with ``start``/``next``/``total``.

Filter keys carry an operator prefix: ``>= > <= < @ !@ % !% =% %= !=% !%= = != !`` (none = ``=``).  Plain
equality is exact (so ``ORIGINATOR_ID``/``ORIGIN_ID``/``XML_ID`` match exactly), an array value means IN
(NOT IN after ``!``/``!=``), and multifields (``PHONE``, ``EMAIL``…) match by exact value only.  Unknown
filter fields are ignored, as the portal's SQL builder does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import values

if TYPE_CHECKING:
    from .store import Store

_OPERATORS = ("!=%", "!%=", ">=", "<=", "!=", "!@", "=%", "%=", "!%", "@", ">", "<", "=", "%", "!")
_NUMERIC = {"int", "money", "decimal", "number"}


@dataclass
class Page:
    rows: list[Any]
    total: int | None
    next: int | None


def split_key(key: str) -> tuple[str, str]:
    for op in _OPERATORS:
        if key.startswith(op):
            return op, key[len(op):]
    return "", key


def as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def _norm(value: Any, kind: str) -> Any:
    if value is None or value == "":
        return None
    if kind in _NUMERIC:
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            return value  # ints and Decimals compare with each other as they are
        return values.decimal(value)
    if kind == "date":
        return values.parse_date(value)
    return values.text(value) if not isinstance(value, Decimal) else str(value)


def _like(pattern: str, candidate: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, candidate, re.IGNORECASE | re.DOTALL) is not None


def _membership(op: str, wanted: Any) -> str | None:
    """"IN" or "NOT IN" when the condition tests a set: ``@``/``!@``, or an array given to ``=``/``!``/``!=``
    (the portal builds IN / NOT IN from an array value, so ``!ID: [1, 2]`` is ``!@ID``); None otherwise."""
    if op == "@" or (op in ("", "=") and isinstance(wanted, (list, dict))):
        return "IN"
    if op == "!@" or (op in ("!", "!=") and isinstance(wanted, (list, dict))):
        return "NOT IN"
    return None


def matches(actual: Any, op: str, wanted: Any, kind: str) -> bool:
    """One filter condition; ``actual`` is the stored value, or a list of values for multifields."""
    if isinstance(actual, list) and kind == "multi":
        hits = [matches(v, "=", wanted, "str") for v in actual] if op in ("", "=", "%", "=%", "%=", "@") else []
        if op in ("!", "!=", "!%", "!@"):
            return not any(matches(v, "=", wanted, "str") for v in actual)
        return any(hits)
    membership = _membership(op, wanted)
    if membership is not None:
        options = {_norm(v, kind) for v in as_list(wanted)}
        inside = _norm(actual, kind) in options
        return inside if membership == "IN" else not inside
    a, w = _norm(actual, kind), _norm(wanted, kind)
    if op in ("", "="):
        return a == w
    if op in ("!", "!="):
        return a != w
    if op in ("%", "!%"):
        found = a is not None and w is not None and str(w).lower() in str(a).lower()
        return not found if op == "!%" else found
    if op in ("=%", "%=", "!=%", "!%="):
        found = a is not None and w is not None and _like(str(w), str(a))
        return not found if op.startswith("!") else found
    if a is None or w is None:
        return False
    try:
        if op == ">":
            return a > w
        if op == ">=":
            return a >= w
        if op == "<":
            return a < w
        if op == "<=":
            return a <= w
    except TypeError:
        return False
    return False


Getter = Callable[[Any, str], Any]
KindOf = Callable[[str], "str | None"]


def _predicate(op: str, wanted: Any, kind: str) -> Callable[[Any], bool]:
    """One condition as a function of the stored value; the wanted side is normalised once, not per row
    (a look-up of 50 ids over a 10,000-product catalog would otherwise normalise 500,000 values)."""
    if kind != "multi":
        membership = _membership(op, wanted)
        if membership is not None:
            options = {_norm(v, kind) for v in as_list(wanted)}
            if membership == "NOT IN":
                return lambda actual: _norm(actual, kind) not in options
            return lambda actual: _norm(actual, kind) in options
        if op in ("", "="):
            target = _norm(wanted, kind)
            return lambda actual: _norm(actual, kind) == target
    return lambda actual: matches(actual, op, wanted, kind)


def candidates(store: Store, table: str, filter_: Any, kind_of: KindOf) -> list[Any]:
    """The rows a filter can match: through an index when it has an equality or IN condition on an indexed
    field (the smallest such set), else the whole table.  ``apply_filter`` still checks every condition,
    so this only ever narrows the search, it never decides a match."""
    by_id = _by_id(store, table, filter_, kind_of)
    if by_id is not None:  # ``ID`` equal to one or a few values: the primary key, as on the portal
        return by_id
    window = _id_window(store, table, filter_)
    if window is not None:  # a primary-key range, as the portal's index serves it (start=-1 exports)
        return window
    best: tuple[int, str, set[Any]] | None = None
    if isinstance(filter_, dict):
        for key, wanted in filter_.items():
            op, name = split_key(str(key))
            kind = kind_of(name)
            if kind in (None, "multi") or not store.indexed(table, name):
                continue
            if op == "@" or (op in ("", "=") and isinstance(wanted, (list, dict))):
                keys = {_norm(v, kind) for v in as_list(wanted)}
            elif op in ("", "="):
                keys = {_norm(wanted, kind)}
            else:
                continue
            size = store.matches(table, name, keys)
            if best is None or size < best[0]:
                best = (size, name, keys)
    return store.rows(table) if best is None else store.lookup(table, best[1], best[2])


def _by_id(store: Store, table: str, filter_: Any, kind_of: KindOf) -> list[Any] | None:
    """The rows an ``ID`` (``id``) equality or IN condition names, read by key; None without one (or when
    the method does not know that spelling: the filter then ignores it, and so does this)."""
    if not isinstance(filter_, dict) or not store.use_indexes:
        return None
    for key, wanted in filter_.items():
        op, name = split_key(str(key))
        if name not in ("ID", "id") or op not in ("", "=", "@") or kind_of(name) not in _NUMERIC:
            continue
        try:
            ids = {int(values.text(v)) for v in as_list(wanted)}
        except (TypeError, ValueError):
            return None  # not a number: let the filter say what it matches
        rows = store.tables[table]
        if not ids or not isinstance(next(iter(rows), 0), int):
            return None  # an empty IN, or a table keyed otherwise (links, addresses): scan
        found = [rows[k] for k in sorted(ids) if k in rows]
        store.scanned[table] += len(found)
        return found
    return None


def _id_window(store: Store, table: str, filter_: Any) -> list[Any] | None:
    """The rows of a bounded ``>ID``/``>=ID`` … ``<ID``/``<=ID`` window (``id`` for catalog tables), read by key
    instead of scanning the table when the window is narrower than the table; None otherwise."""
    if not isinstance(filter_, dict) or not store.use_indexes:
        return None
    low = high = None
    for key, wanted in filter_.items():
        op, name = split_key(str(key))
        if name not in ("ID", "id") or op not in (">", ">=", "<", "<="):
            continue
        try:
            bound = int(values.text(wanted))
        except (TypeError, ValueError):
            return None
        if op in (">", ">="):
            bound += op == ">"
            low = bound if low is None else max(low, bound)
        else:
            bound -= op == "<"
            high = bound if high is None else min(high, bound)
    rows = store.tables[table]
    if low is None or high is None or high - low + 1 >= len(rows):
        return None
    found = [rows[k] for k in range(low, high + 1) if k in rows]
    store.scanned[table] += len(found)
    return found


def apply_filter(rows: Iterable[Any], filter_: Any, get: Getter, kind_of: KindOf) -> list[Any]:
    conditions = []
    if isinstance(filter_, dict):
        for key, wanted in filter_.items():
            op, name = split_key(str(key))
            kind = kind_of(name)
            if kind is not None:
                conditions.append((name, _predicate(op, wanted, kind)))
    if not conditions:
        return list(rows)
    return [row for row in rows if all(test(get(row, name)) for name, test in conditions)]


def apply_order(rows: list[Any], order: Any, get: Getter, kind_of: KindOf, default: str = "ID") -> list[Any]:
    keys: list[tuple[str, bool]] = []
    if isinstance(order, dict):
        for name, direction in order.items():
            if kind_of(str(name)) is not None:
                keys.append((str(name), values.text(direction).strip().upper() == "DESC"))
    if not keys:
        keys = [(default, False)]
    result = list(rows)
    for name, desc in reversed(keys):
        kind = kind_of(name) or "str"

        def sort_key(row: Any, name: str = name, kind: str = kind) -> tuple:
            value = _norm(get(row, name), kind)
            return (value is not None, value if value is not None else 0)

        result.sort(key=sort_key, reverse=desc)
    return result


def paginate(rows: list[Any], start: Any, page_size: int, floor_start: bool = True) -> Page:
    """Legacy lists floor ``start`` to a page; ORM lists use it as an offset; ``start=-1`` skips the count."""
    raw = values.intval(start) if start not in (None, "") else 0
    if raw == -1:
        return Page(rows[:page_size], 0, None)
    raw = max(raw, 0)
    offset = (raw // page_size) * page_size if floor_start else raw
    chunk = rows[offset:offset + page_size]
    more = offset + page_size < len(rows)
    return Page(chunk, len(rows), offset + page_size if more else None)
