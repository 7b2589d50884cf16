"""The sandbox's in-memory state: one table per entity (id → record) and id counters.

Knows nothing about HTTP or about Bitrix24's wire format; methods read and write records here, and
:mod:`.seed` fills in what a fresh cloud portal already has (presets, the default funnel and its stages,
users, the product catalog and the base price type).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator
from typing import Any


class Store:
    def __init__(self) -> None:
        self.tables: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        self._counters: dict[str, int] = defaultdict(int)

    def clear(self) -> None:
        """Forget everything: tables empty, ids start from 1 again."""
        self.tables.clear()
        self._counters.clear()

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
        return new_id

    def put(self, table: str, key: Any, record: dict[str, Any]) -> None:
        self.tables[table][key] = record

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        return self.tables[table].get(key)

    def delete(self, table: str, key: Any) -> None:
        self.tables[table].pop(key, None)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return list(self.tables[table].values())

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {name: copy.deepcopy(list(rows.values())) for name, rows in self.tables.items()}
