"""Many concurrent "which record has key X?" questions answered by one list command.

Consumers find a record by its 1C id before creating it (that look-up is what makes a redelivered
event harmless).  During an initial load hundreds of them ask at once, each for another id; one call per
question would spend a third of the portal's capacity on look-ups.  A :class:`KeyLookup` gathers the
keys asked within ``linger`` seconds (or until ``max_keys`` are waiting) and asks once, with an IN
filter, then hands every caller the rows that carry its key.  How a method spells IN differs: crm
lists take the ``@`` prefix (``@ORIGIN_ID: [...]``), the catalog takes a plain array (``xmlId: [...]``,
"for IN searches, pass multiple values as an array"); ``in_prefix`` says which.

Correctness does not depend on the page: when the reply says there is more (``next``), or filled a whole
page, the keys it did not answer are asked again one by one, so a key is never reported absent because
its row fell on a later page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from .envelope import items_of
from .protocol import B24

PAGE_SIZE = 50  # rows per list page on every portal


class KeyLookup:
    """``await lookup.find("1c-id")`` → the rows whose ``key`` equals it, oldest first (``[]`` if none)."""

    def __init__(self, b24: B24, method: str, *, key: str, select: list[str],
                 base_filter: Mapping[str, Any] | None = None, order: Mapping[str, str] | None = None,
                 id_field: str = "id", in_prefix: str = "@", linger: float = 0.02,
                 max_keys: int = PAGE_SIZE) -> None:
        if not 1 <= max_keys <= PAGE_SIZE:
            raise ValueError(f"max_keys must be from 1 to {PAGE_SIZE} (one page)")
        self._b24 = b24
        self._method = method
        self._key = key
        self._select = list(dict.fromkeys([*select, id_field, key]))
        self._filter = dict(base_filter or {})
        self._order = dict(order or {id_field: "ASC"})
        self._in_prefix = in_prefix
        self._linger = linger
        self._max_keys = max_keys
        self._waiting: dict[str, list[asyncio.Future]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self.requests = 0  # list commands sent (for tests and benchmarks)

    async def find(self, value: str) -> list[dict[str, Any]]:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(value, []).append(future)
        if len(self._waiting) >= self._max_keys:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiting:
            keys = list(self._waiting)[: self._max_keys]
            asked = {k: self._waiting.pop(k) for k in keys}
            task = asyncio.get_running_loop().create_task(self._ask(asked))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _ask(self, asked: dict[str, list[asyncio.Future]]) -> None:
        try:
            found = await self._rows(list(asked))
        except BaseException as exc:  # every waiter gets the failure of the request it rode in
            for futures in asked.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for key, futures in asked.items():
            for future in futures:
                if not future.done():
                    future.set_result(list(found.get(_fold(key), [])))

    async def _rows(self, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
        wanted = {f"{self._in_prefix}{self._key}": keys} if len(keys) > 1 else {self._key: keys[0]}
        page = await self._list({**self._filter, **wanted})
        rows = items_of(page.result, self._method)
        if len(keys) == 1:  # the portal's own match (its collation may ignore case): every row is the key's
            return {_fold(keys[0]): rows} if rows else {}
        found = _group(rows, self._key)
        if page.next is not None or len(rows) >= PAGE_SIZE:
            # rows come in id order, so a key seen on this page has its oldest row here; a key not seen
            # may sit on a later page: ask for it on its own
            missing = [k for k in keys if _fold(k) not in found]
            for part in await asyncio.gather(*(self._rows([k]) for k in missing)):
                found.update(part)
        return found

    async def _list(self, filter_: dict[str, Any]):
        self.requests += 1
        return await self._b24.call_page(self._method, {"select": self._select, "filter": filter_,
                                                        "order": self._order})


def _fold(value: Any) -> str:
    """Keys compared as the portal's MySQL collation compares them: case and edge blanks ignored."""
    return str(value).strip().casefold()


def _group(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        value = row.get(key)
        if value is not None:
            grouped.setdefault(_fold(value), []).append(row)
    return grouped

