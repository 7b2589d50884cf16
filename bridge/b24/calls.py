"""Which Bitrix24 calls an event caused: a per-task call log the client appends to, the consumer reads.

The consumer opens a log around one message (:func:`capture`); :class:`~bridge.b24.client.B24Client`
notes each call at the caller's level (``call``, each step of ``call_chain``, each command of ``batch``),
so a call that shared a coalesced ``batch`` request is still the caller's own.  A note keeps the method,
the ids it addressed or made, the portal's error code and the time taken: never params, field values,
the webhook URL or a token.  Outside :func:`capture` (CLI tools, tests) nothing is kept.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

MAX_CALLS = 200  # per attempt: an event that iterates a large list keeps its first calls, and says so
_ID_PARAMS = ("id", "ID", "entityTypeId", "ownerTypeId", "ownerId", "productId", "iblockId")
_ID_FILTERS = ("ID", "ORIGIN_ID", "XML_ID", "xmlId", "ENTITY_ID", "ENTITY_TYPE_ID", "COMPANY_ID", "CONTACT_ID",
               "productId", "iblockId")

_current: contextvars.ContextVar[CallLog | None] = contextvars.ContextVar("b24_call_log", default=None)
# Priority classes of callers sharing the portal's rate limit (bridge.b24.coalescer._take): what a user is
# waiting for first, bulk catalogue traffic last.
URGENT, NORMAL, BULK = 0, 1, 2
_priority: contextvars.ContextVar[int] = contextvars.ContextVar("b24_priority", default=NORMAL)


@contextmanager
def priority(level: int) -> Iterator[None]:
    """The Bitrix24 calls of this task (and tasks it starts) queue in class ``level`` until the block ends."""
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> int:
    return _priority.get()


# awaited before each Bitrix24 call of this task: a consumer's unit of work sets it while it holds a
# PostgreSQL connection, to give the connection back first (bridge.links: never held across a call)
_before: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "b24_before_call", default=None)


def set_before_call(callback: Callable[[], Awaitable[None]] | None) -> contextvars.Token:
    """Have ``callback`` awaited before this task's next Bitrix24 calls (None: nothing); returns the token
    for :func:`reset_before_call`."""
    return _before.set(callback)


def reset_before_call(token: contextvars.Token) -> None:
    try:
        _before.reset(token)
    except ValueError:  # set in another context (a task the caller started): leave that one's value
        _before.set(None)


async def before_call() -> None:
    """Run this task's before-call callback, if any (the client calls it before every request it makes
    for the caller: ``call``, ``call_chain``, ``batch``)."""
    callback = _before.get()
    if callback is not None:
        await callback()


class CallLog:
    """The calls of one attempt at one event, in the order they finished."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.dropped = 0

    def take(self) -> list[dict[str, Any]]:
        """The calls so far (with a marker if some were dropped), leaving the log empty for the next attempt."""
        calls, self.calls = self.calls, []
        if self.dropped:
            calls.append({"method": "…", "dropped": self.dropped})
            self.dropped = 0
        return calls


@contextmanager
def capture() -> Iterator[CallLog]:
    """Log the Bitrix24 calls made in this task (and tasks it starts) until the block ends."""
    log = CallLog()
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def started() -> float | None:
    """A start time for :func:`note` when a log is open, else None (nothing to measure)."""
    return time.monotonic() if _current.get() is not None else None


def note(method: str, params: Mapping[str, Any] | None, *, result: Any = None, code: str | None = None,
         status: int | None = None, since: float | None = None) -> None:
    """Record one finished call in the open log, if any."""
    log = _current.get()
    if log is None:
        return
    if len(log.calls) >= MAX_CALLS:
        log.dropped += 1
        return
    entry: dict[str, Any] = {"method": method}
    ids = call_ids(params, result)
    if ids:
        entry["ids"] = ids
    if isinstance(result, list):
        entry["rows"] = len(result)
    if code is not None:
        entry["code"] = code if code != "" else '""'
        if status is not None:
            entry["status"] = status
    if since is not None:
        entry["ms"] = round((time.monotonic() - since) * 1000)
    log.calls.append(entry)


def call_ids(params: Mapping[str, Any] | None, result: Any = None) -> dict[str, Any]:
    """The ids a call addressed (``id``, filter keys such as ``ORIGIN_ID``) and the id it returned."""
    ids: dict[str, Any] = {}
    for key in _ID_PARAMS:
        value = (params or {}).get(key)
        if _scalar(value):
            ids[key] = value
    flt = (params or {}).get("filter")
    if isinstance(flt, Mapping):
        for key, value in flt.items():
            if key.lstrip("=<>!@%") in _ID_FILTERS and (_scalar(value) or _short_list(value)):
                ids[f"filter.{key}"] = value
    made = _result_id(result)
    if made is not None:
        ids["result"] = made
    return ids


def _result_id(result: Any) -> Any:
    """The id a write returned: ``result: 123`` (``*.add``) or ``{item|element: {id: …}}`` (crm.item, catalog)."""
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    if isinstance(result, str) and result.isdigit():
        return int(result)
    if isinstance(result, Mapping):
        for key in ("item", "element"):
            inner = result.get(key)
            if isinstance(inner, Mapping) and _scalar(inner.get("id")):
                return inner["id"]
    return None


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool) and len(str(value)) <= 64


def _short_list(value: Any) -> bool:
    return isinstance(value, list) and 0 < len(value) <= 10 and all(_scalar(v) for v in value)


def take() -> list[dict[str, Any]]:
    """The calls noted in the open log since the last take (empty outside :func:`capture`)."""
    log = _current.get()
    return log.take() if log is not None else []
