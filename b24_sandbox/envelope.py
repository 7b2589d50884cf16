"""Reply envelopes: the ``time`` block, PHP's array-to-JSON rule, success and error bodies."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .operating import WINDOW, Usage
from .phpquery import is_php_list


def time_block(start: float, finish: float, tz: timezone, usage: Usage | None = None) -> dict[str, Any]:
    """The ``time`` object every reply carries, keys in the order a cloud portal sends them.

    ``operating`` is the running operating-time sum of the method for this caller (0 when not counted, as
    for the outer ``batch``) and ``operating_reset_at`` when its oldest bucket drops out.
    """
    operating: float | int = 0
    reset_at = int(start + WINDOW)
    if usage is not None:
        operating = usage.operating or 0
        reset_at = usage.reset_at
    return {
        "start": start,
        "finish": finish,
        "duration": finish - start,
        "processing": finish - start,
        "date_start": iso(start, tz),
        "date_finish": iso(finish, tz),
        "operating_reset_at": reset_at,
        "operating": operating,
    }


def iso(ts: float, tz: timezone) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def php_array(mapping: dict[Any, Any]) -> Any:
    """What ``json_encode`` makes of a PHP array: ``[]`` when empty, a list for keys 0..n-1, else an object."""
    if not mapping:
        return []
    if is_php_list(list(mapping)):
        return list(mapping.values())
    return {str(k): v for k, v in mapping.items()}


def success(result: Any, time_: dict[str, Any], total: int | None = None, next_: int | None = None) -> dict:
    body: dict[str, Any] = {"result": result}
    if next_ is not None:
        body["next"] = next_
    if total is not None:
        body["total"] = total
    body["time"] = time_
    return body
