"""The sandbox's in-memory state: one table per entity (id → record), id counters, and look-up indexes.

Knows nothing about HTTP or about Bitrix24's wire format; methods read and write records here, and
:mod:`.seed` fills in what a fresh cloud portal already has (presets, the default funnel and its stages,
users, the product catalog and the base price type).

The fields a client looks records up by (external keys, owner ids, INN/KPP) have hash indexes, so a
``list`` by key costs the same on a portal of 50,000 records as on one of 50 — long benchmarks then
measure the client, not the emulator.  An index is built the first time it is used and kept up to date
by ``insert``/``put``/``delete``; a method that changes an indexed field in place calls ``reindex``.
``scanned`` counts the records each table handed out (a full scan counts the whole table), which is how
tests check that a look-up used its index.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# table → the fields it is looked up by (equality or IN filters, owner look-ups)
INDEXED: dict[str, tuple[str, ...]] = {
    "companies": ("ORIGIN_ID", "ORIGINATOR_ID"),
    "contacts": ("ORIGIN_ID", "ORIGINATOR_ID"),
    "deals": ("ORIGIN_ID", "ORIGINATOR_ID"),
    "requisites": ("ENTITY_ID", "XML_ID", "RQ_INN", "RQ_KPP"),
    "bank_details": ("ENTITY_ID", "XML_ID"),
    "addresses": ("ENTITY_ID",),
    "products": ("xmlId", "code"),
    "prices": ("productId",),
    "product_rows": ("OWNER_ID",),
    "contact_company": ("CONTACT_ID", "COMPANY_ID"),
    "notifications": ("TAG",),
    "timeline_comments": ("ENTITY_ID",),
}


# (table, index name) → the keys a record is filed under, for indexes on something other than one field's
# value (e.g. every normalised phone number of a contact); registered by the method module that reads it
DERIVED: dict[tuple[str, str], Callable[[dict[str, Any]], Iterable[Any]]] = {}


def index_key(value: Any) -> Any:
    """What a stored value is filed under: the value itself, with unset (None or "") as None.

    Equal numbers hash alike (``5 == Decimal(5)``), so an int column is found by a Decimal filter value
    just as ``listing`` compares them."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, dict)):
        return repr(value)
    return value


class Store:
    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, dict[str, Any]]] = defaultdict(dict)
        self._counters: dict[str, int] = defaultdict(int)
        self._indexes: dict[tuple[str, str], dict[Any, set[Any]]] = {}
        self._filed: dict[tuple[str, str], dict[Any, tuple[Any, ...]]] = {}  # (table, field) → key → filed under
        self.scanned: Counter[str] = Counter()
        self.use_indexes = True  # False: every look-up scans its table (the benchmark's "before")

    def clear(self) -> None:
        """Forget everything: tables empty, ids start from 1 again."""
        self.tables.clear()
        self._counters.clear()
        self._indexes.clear()
        self._filed.clear()

    def next_id(self, counter: str) -> int:
        self._counters[counter] += 1
        return self._counters[counter]

    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def bump_counter(self, counter: str, at_least: int) -> None:
        """Make sure the next id of ``counter`` is above ``at_least`` (used when seeding fixed ids)."""
        self._counters[counter] = max(self._counters[counter], at_least)

    def insert(self, table: str, record: dict[str, Any], *, key: str = "ID", counter: str | None = None) -> int:
        """Store ``record`` under a fresh id (written into ``record[key]``) and return that id."""
        new_id = self.next_id(counter or table)
        record[key] = new_id
        self.tables[table][new_id] = record
        self._file(table, new_id, record)
        return new_id

    def put(self, table: str, key: Any, record: dict[str, Any]) -> None:
        self._unfile(table, key)
        self.tables[table][key] = record
        self._file(table, key, record)

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        return self.tables[table].get(key)

    def delete(self, table: str, key: Any) -> None:
        self._unfile(table, key)
        self.tables[table].pop(key, None)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every record of ``table`` (a full scan)."""
        rows = list(self.tables[table].values())
        self.scanned[table] += len(rows)
        return rows

    # ---- indexes -------------------------------------------------------------------------------------

    def indexed(self, table: str, field: str) -> bool:
        return self.use_indexes and (field in INDEXED.get(table, ()) or (table, field) in DERIVED)

    def matches(self, table: str, field: str, wanted: Iterable[Any]) -> int:
        """How many records ``lookup`` would hand out, without handing them out (to pick the narrowest)."""
        index = self._index(table, field)
        return sum(len(index.get(k, ())) for k in {index_key(v) for v in wanted})

    def lookup(self, table: str, field: str, wanted: Iterable[Any]) -> list[dict[str, Any]]:
        """Records whose ``field`` is one of ``wanted`` (already normalised as filters normalise), by key."""
        index = self._index(table, field)
        keys: set[Any] = set()
        for value in {index_key(v) for v in wanted}:
            keys |= index.get(value, set())
        rows = self.tables[table]
        found = [rows[k] for k in sorted(keys)]
        self.scanned[table] += len(found)
        return found

    def where(self, table: str, field: str, value: Any) -> list[dict[str, Any]]:
        """Records whose ``field`` equals ``value`` (or are filed under ``value`` by a derived index)."""
        if self.indexed(table, field):
            return self.lookup(table, field, [value])
        derive = DERIVED.get((table, field))
        if derive is not None:
            return [r for r in self.rows(table) if index_key(value) in {index_key(k) for k in derive(r)}]
        return [r for r in self.rows(table) if r.get(field) == value]

    def reindex(self, table: str, key: Any) -> None:
        """Re-file one record after its indexed fields were changed in place."""
        self._unfile(table, key)
        record = self.tables[table].get(key)
        if record is not None:
            self._file(table, key, record)

    def _index(self, table: str, field: str) -> dict[Any, set[Any]]:
        index = self._indexes.get((table, field))
        if index is None:
            index, filed = defaultdict(set), {}
            for key, record in self.tables[table].items():
                filed[key] = values = _filed_under(table, field, record)
                for value in values:
                    index[value].add(key)
            self._indexes[(table, field)] = index
            self._filed[(table, field)] = filed
        return index

    def _names(self, table: str) -> list[str]:
        return [*INDEXED.get(table, ()), *(name for t, name in DERIVED if t == table)]

    def _file(self, table: str, key: Any, record: dict[str, Any]) -> None:
        for field in self._names(table):
            index = self._indexes.get((table, field))
            if index is not None:
                self._filed[(table, field)][key] = values = _filed_under(table, field, record)
                for value in values:
                    index[value].add(key)

    def _unfile(self, table: str, key: Any) -> None:
        for field in self._names(table):
            index = self._indexes.get((table, field))
            if index is None:
                continue
            for value in self._filed[(table, field)].pop(key, ()):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {name: copy.deepcopy(list(rows.values())) for name, rows in self.tables.items()}


def _filed_under(table: str, field: str, record: dict[str, Any]) -> tuple[Any, ...]:
    derive = DERIVED.get((table, field))
    if derive is None:
        return (index_key(record.get(field)),)
    return tuple({index_key(k) for k in derive(record)})
