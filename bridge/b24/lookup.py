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

**Pre-read** (a bulk load: the first run at a client, a big backlog).  Even gathered 50 to a command,
the look-ups of 10,000 new products cost ~450 commands that a blind loader does not spend.  Once a
look-up has asked the portal about 10 keys (then 20, 40, …: the portal's highest id is asked
O(log keys) times), it weighs a pre-read: reading the portal costs ``max ID ÷ 50`` commands, the
look-ups so far cost about ``keys ÷ 25``.  When the first is at most the second (at once on the empty
portal of a client's first run) and the highest id is at most :attr:`Preread.max_rows`, the look-up
reads every record's key once instead — never spending much more on it than look-ups already cost:
``start=-1`` pages of 50 rows over ID windows of 50 (``>=ID a``, ``<ID a+50``: at most 50 rows, no
COUNT), 50 windows per ``batch`` request — about ``max ID ÷ 50`` commands, one for an empty portal —
selecting only what its look-ups select.  A key the index does not hold is
then answered "absent" without a call, so a new record costs its ``add`` alone.  Look-ups of the same
list by other fields (product matching by article and name) answer from that one read (``index_from``)
instead of pre-reading later, when the load has filled the portal with its own records.

What keeps it duplicate-free:

- the index answers "absent" **once per key**: a second question about the same key (the event's retry
  in this process after an ``add`` whose reply was lost, a second 1C base sending the same shared key)
  goes to the portal (``recheck_absent=False`` lifts this for look-ups whose later records never count:
  product matching by name and article, where anything the bridge made carries its key);
- it is trusted only for an event's **first delivery** (:data:`FIRST_DELIVERY`, set by the consumer):
  a redelivered or retried event may have created its record in another consumer process, whose
  creation this process's index cannot know, so its look-up asks the portal;
- it lives :attr:`Preread.ttl` seconds (then weighed again from 10 keys); handlers whose key is
  shared between 1C bases (shared catalogue, an ``originator_id`` without ``{source}``) switch it off.

The window left open: a record given the bridge's key by *someone else* (a manager typing
``1c-ut103-main-…`` into the external-code field, another integration) after the pre-read and within
the ttl is not seen, and the bridge makes its own record beside it.  Every other writer of these keys is
the bridge itself, covered above.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .envelope import items_of
from .protocol import B24

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # rows per list page on every portal
PREREAD_FIRST_CHECK = 10  # keys asked of the portal before a look-up first weighs a pre-read

#: True while a handler works on an event's first delivery (no earlier attempt of it can have created
#: its record).  Set by the consumer framework; False elsewhere, so the pre-read index is then never
#: trusted to say "absent".
FIRST_DELIVERY: contextvars.ContextVar[bool] = contextvars.ContextVar("b24_lookup_first_delivery", default=False)


@dataclass(frozen=True)
class Preread:
    """When a look-up reads the portal's keys once (see the module doc).  ``max_rows`` bounds the
    portal's highest record id (hence the commands, ``max_rows ÷ 50``, and the memory, a few hundred
    bytes a row); 0 switches the pre-read off.  ``ttl``: seconds an index is trusted."""

    max_rows: int = 50_000
    ttl: float = 600.0

    @property
    def enabled(self) -> bool:
        return self.max_rows > 0


_PREREAD = Preread()


def configure(preread: Preread) -> None:
    """The process's pre-read policy (``b24_preread_max_rows``/``b24_preread_ttl`` settings; the consumer
    sets it at start).  Look-ups made afterwards use it."""
    global _PREREAD
    _PREREAD = preread


class KeyIndex:
    """Every record of one look-up as the pre-read saw it, by key."""

    def __init__(self, rows: list[dict[str, Any]], key: str, read_at: float) -> None:
        self.read_at = read_at
        self.rows = len(rows)
        self._all = rows
        self._by_key = _group(rows, key)
        self._by_other: dict[str, KeyIndex] = {key: self}

    def find(self, value: str) -> list[dict[str, Any]]:
        return list(self._by_key.get(_fold(value), []))

    def by(self, key: str) -> KeyIndex:
        """The same records by another selected field (grouped once): a sibling look-up's index."""
        if key not in self._by_other:
            self._by_other[key] = KeyIndex(self._all, key, self.read_at)
        return self._by_other[key]


class KeyLookup:
    """``await lookup.find("1c-id")`` → the rows whose ``key`` equals it, oldest first (``[]`` if none)."""

    def __init__(self, b24: B24, method: str, *, key: str, select: list[str],
                 base_filter: Mapping[str, Any] | None = None, order: Mapping[str, str] | None = None,
                 id_field: str = "id", in_prefix: str = "@", linger: float = 0.02,
                 max_keys: int = PAGE_SIZE, preread: bool = True, index_from: KeyLookup | None = None,
                 recheck_absent: bool = True) -> None:
        """``index_from``: a look-up over the same list and filter whose pre-read also selects this one's
        fields (products: the key look-up reads names and articles too); while it holds a current index,
        this look-up answers from it instead of pre-reading the portal again, later and fuller.
        ``recheck_absent=False``: a value the index said absent before is answered absent again (not asked
        of the portal): for look-ups whose later records never count, as matching's by name, where
        every record made since carries the bridge's key and is no candidate (names repeat in a catalogue)."""
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
        self._id_field = id_field
        self._preread = preread
        self._index: KeyIndex | None = None
        self._index_task: asyncio.Task | None = None
        self._too_big_until = 0.0
        self._asked = 0  # keys asked of the portal since the last pre-read
        self._next_check = PREREAD_FIRST_CHECK
        self.prereads = 0  # pre-reads done (for tests and benchmarks)
        self._absent: dict[str, float] = {}  # keys answered "absent" (by the index or the portal), when
        shares = (index_from is not None and index_from._method == method and index_from._filter == self._filter
                  and set(self._select) <= set(index_from._select))
        self._index_from = index_from if shares else None
        self._recheck_absent = recheck_absent

    def _said_absent_before(self, value: str) -> bool:
        """Whether this look-up already answered "absent" about ``value`` (and remember that it does now):
        the record may exist since (made after that answer, its event then failed), so ask the portal."""
        folded = _fold(value)
        if folded in self._absent:
            return True
        self._note_absent([folded])
        return False

    def _note_absent(self, folded: Iterable[str]) -> None:
        now = time.monotonic()
        if len(self._absent) > 4 * _PREREAD.max_rows + 10_000:  # memory bound: forget answers older than a ttl
            self._absent = {k: t for k, t in self._absent.items() if now - t < _PREREAD.ttl}
        for key in folded:
            self._absent[key] = now

    def _current(self) -> KeyIndex | None:
        index = self._index
        if index is not None and time.monotonic() - index.read_at > _PREREAD.ttl:
            self._index = index = None
        return index

    async def _indexed(self) -> KeyIndex | None:
        """The index to answer from: the current one, the one being read, or one read now if this
        look-up has asked enough keys to make it worth it; ``None``: ask the portal."""
        if not (self._preread and _PREREAD.enabled and FIRST_DELIVERY.get()):
            return None
        shared = self._index_from._current() if self._index_from is not None else None
        if shared is not None:
            return shared.by(self._key)
        index = self._current()
        if index is not None:
            return index
        if self._index_task is None:
            if self._asked + len(self._waiting) < self._next_check or time.monotonic() < self._too_big_until:
                return None
            self._next_check = 2 * max(self._next_check, self._asked)  # the top id is asked O(log keys) times
            self._index_task = asyncio.get_running_loop().create_task(self._read_index())
        task = self._index_task
        try:
            return await asyncio.shield(task)
        except Exception:  # noqa: BLE001 - a failed pre-read: answer by look-ups, as without one
            return None

    async def _read_index(self) -> KeyIndex | None:
        try:
            started = time.monotonic()
            top = await self._b24.call_page(self._method, {
                "select": self._select, "filter": self._filter, "order": {self._id_field: "DESC"},
                "start": -1})
            self.requests += 1
            last = items_of(top.result, self._method)
            max_id = int(last[0][self._id_field]) if last else 0
            if max_id > _PREREAD.max_rows:
                self._too_big_until = time.monotonic() + _PREREAD.ttl
                log.info("too many records to pre-read; looking keys up one page at a time", extra={
                    "action": "b24.preread_skipped", "method": self._method, "max_id": max_id})
                return None
            if max_id > 2 * (self._asked + len(self._waiting)):
                # reading max_id ÷ 50 pages costs more than the ~asked ÷ 25 look-up commands spent so far:
                # not yet (weighed again when the keys asked have doubled)
                return None
            windows = [(lo, lo + PAGE_SIZE) for lo in range(1, max_id + 1, PAGE_SIZE)]
            rows: list[dict[str, Any]] = []
            for part in range(0, len(windows), PAGE_SIZE):
                chunk = windows[part:part + PAGE_SIZE]
                commands = {f"w{lo}": (self._method, {
                    "select": self._select, "order": {self._id_field: "ASC"}, "start": -1,
                    "filter": {**self._filter, f">={self._id_field}": lo, f"<{self._id_field}": hi}})
                    for lo, hi in chunk}
                self.requests += len(commands)
                result = await self._b24.batch(commands)
                for key in commands:
                    rows.extend(items_of(result.page(key).result, self._method))
            index = KeyIndex(rows, self._key, time.monotonic())
            self._index = index
            self._asked, self._next_check = 0, PREREAD_FIRST_CHECK
            self.prereads += 1
            log.info("portal keys pre-read", extra={
                "action": "b24.preread", "method": self._method, "rows": len(rows), "commands": len(windows) + 1,
                "seconds": round(time.monotonic() - started, 3)})
            return index
        except Exception:
            self._too_big_until = time.monotonic() + _PREREAD.ttl  # not again before the ttl
            log.warning("pre-read of the portal's keys failed; looking keys up one page at a time",
                        exc_info=True, extra={"action": "b24.preread_failed", "method": self._method})
            raise
        finally:
            self._index_task = None

    async def find(self, value: str, *, exact: bool = False) -> list[dict[str, Any]]:
        """The rows whose key equals ``value``; ``exact=True`` always asks the portal (never the index)."""
        if not exact:
            index = await self._indexed()
            if index is not None:
                rows = index.find(value)
                if rows or not self._recheck_absent or not self._said_absent_before(value):
                    return rows
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
            self._asked += len(asked)
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
        self._note_absent(_fold(k) for k in asked if _fold(k) not in found)
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

