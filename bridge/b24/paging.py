"""Paging helpers of :meth:`B24Client.iterate`: rows seen twice dropped, and the ``start=-1`` id window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .envelope import Page
from .limits import PAGE_SIZE


def fresh_rows(rows: list[Any], seen: set[Any], id_key: str) -> list[Any]:
    out = []
    for row in rows:
        key = row.get(id_key) if isinstance(row, Mapping) else None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(row)
    return out


async def iterate_fast(call_page: Callable[[str, Mapping[str, Any]], Awaitable[Page]], method: str,
                       base: dict[str, Any], id_key: str) -> AsyncIterator[Any]:
    """Every row in ``id_key`` order, one ``start=-1`` request per page and a ``>id_key`` window: no COUNT
    on the portal's side."""
    filters = dict(base.get("filter") or {})
    last: int | None = None
    while True:
        window = dict(filters)
        if last is not None:
            window[f">{id_key}"] = last
        page = await call_page(method, {**base, "filter": window, "order": {id_key: "ASC"}, "start": -1})
        rows = page.items
        for row in rows:
            yield row
        if len(rows) < PAGE_SIZE:
            return
        last = int(rows[-1][id_key])
