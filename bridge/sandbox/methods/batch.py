"""``batch``: up to 50 ``method?query`` commands run in order within ONE HTTP request.

Each command's params are parsed with PHP bracket syntax, then ``$result[key]…``, ``$next[key]``,
``$total[key]``, ``$time[key]`` and ``$error[key]`` placeholders are resolved against the commands run so
far (an unknown key leaves the placeholder as it is; a path that breaks off deeper gives the partial
value).  The reply always carries the five buckets, encoded the PHP way: empty = ``[]``, keys 0..n-1 = a
JSON list.  ``halt`` stops after the first failing command; nothing is rolled back.
"""

from __future__ import annotations

import re
from typing import Any

from .. import values
from ..envelope import php_array
from ..phpquery import parse_query
from . import Call, method

_PLACEHOLDER = re.compile(r"^\$(result|next|total|time|error)((?:\[[^\]]*\])+)", re.IGNORECASE)
_SEGMENT = re.compile(r"\[([^\]]*)\]")


def _commands(raw: Any) -> list[tuple[str, Any]]:
    if isinstance(raw, list):
        return [(str(i), v) for i, v in enumerate(raw)]
    if isinstance(raw, dict):
        return [(str(k), v) for k, v in raw.items()]
    return []


def resolve(value: Any, buckets: dict[str, dict[str, Any]]) -> Any:
    """Replace batch placeholders in every string of ``value`` (nested dicts/lists walked)."""
    if isinstance(value, dict):
        return {k: resolve(v, buckets) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, buckets) for v in value]
    if not isinstance(value, str):
        return value
    match = _PLACEHOLDER.match(value)
    if not match:
        return value
    path = _SEGMENT.findall(match.group(2))
    node: Any = buckets[match.group(1).lower()]
    if not path or path[0] not in node:
        return value
    node = node[path[0]]
    for key in path[1:]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            break
    return node


@method("batch")
def batch(call: Call) -> dict[str, Any]:
    halt = values.truthy(call.param("halt", "HALT", default=0))
    buckets: dict[str, dict[str, Any]] = {"result": {}, "error": {}, "total": {}, "next": {}, "time": {}}
    for n, (key, command) in enumerate(_commands(call.param("cmd", "CMD"))):
        if n >= call.config.batch_limit:
            buckets["error"][key] = {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                     "error_description": "Max batch length exceeded"}
            continue
        name, _, query = values.text(command).strip().partition("?")
        name = name.strip().lower()
        name = name.removesuffix(".json")
        params = resolve(parse_query(query), buckets)
        outcome = call.sandbox.execute(name, params, call.user_id, nested=True)
        if outcome.error is not None:
            buckets["error"][key] = outcome.error.body()
            if halt:
                break
            continue
        buckets["result"][key] = outcome.result.value
        if outcome.result.total is not None:
            buckets["total"][key] = outcome.result.total
        if outcome.result.next is not None:
            buckets["next"][key] = outcome.result.next
        buckets["time"][key] = outcome.time
    return {
        "result": php_array(buckets["result"]),
        "result_error": php_array(buckets["error"]),
        "result_total": php_array(buckets["total"]),
        "result_next": php_array(buckets["next"]),
        "result_time": php_array(buckets["time"]),
    }
