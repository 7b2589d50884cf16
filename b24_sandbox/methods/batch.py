"""``batch``: up to 50 ``method?query`` commands run in order within ONE HTTP request.

Each command's params are parsed with PHP bracket syntax, then placeholders are replaced the way the
portal's ``CRestUtil::processBatchElement`` does it: every ``$result[...]``, ``$next[...]``, ``$total[...]``,
``$time[...]`` or ``$error[...]`` in a value walks that bucket key by key and stops where a key is missing
(the partial value is what is left).  A value that *is* the placeholder becomes the value found, whatever
its type (so ``$result[list][0][ID]`` gives the row's ID and a path that breaks off gives the whole list);
a placeholder inside a longer text is replaced only by a number or a string and otherwise left as is.

The reply always carries the five buckets, encoded the PHP way: empty = ``[]``, keys 0..n-1 = a JSON list.
``halt`` (PHP truthiness: only ``""``/``"0"``/0/false are false) stops after the first failing command,
``ERROR_BATCH_LENGTH_EXCEEDED`` included; nothing is rolled back.  A command that is not a string is
skipped but still counts towards the 50.
"""

from __future__ import annotations

import re
from typing import Any

from .. import values
from ..envelope import php_array
from ..phpquery import parse_query
from . import Call, method

_PLACEHOLDER = re.compile(r"\$(result|next|total|time|error)([^\s]*)", re.IGNORECASE)
_SEGMENT = re.compile(r"\[([^\]]+)\]")
_INT_KEY = re.compile(r"^(0|[1-9][0-9]*)$")
_MISSING = object()


def _commands(raw: Any) -> list[tuple[str, Any]]:
    if isinstance(raw, list):
        return [(str(i), v) for i, v in enumerate(raw)]
    if isinstance(raw, dict):
        return [(str(k), v) for k, v in raw.items()]
    return []


def _child(node: Any, key: str) -> Any:
    """PHP ``isset($node[$key]) ? $node[$key] : missing`` (null values count as missing)."""
    if isinstance(node, dict):
        value = node.get(key, _MISSING)
    elif isinstance(node, list) and _INT_KEY.match(key) and int(key) < len(node):
        value = node[int(key)]
    else:
        return _MISSING
    return _MISSING if value is None else value


def resolve(value: Any, buckets: dict[str, dict[str, Any]]) -> Any:
    """Replace batch placeholders in every string of ``value`` (nested dicts/lists walked)."""
    if isinstance(value, dict):
        return {k: resolve(v, buckets) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, buckets) for v in value]
    if not isinstance(value, str):
        return value
    query: Any = value
    for match in _PLACEHOLDER.finditer(value):
        path = _SEGMENT.findall(match.group(2))
        if not path:
            continue
        node: Any = buckets[match.group(1).lower()]
        for key in path:
            child = _child(node, key)
            if child is _MISSING:
                break
            node = child
        if match.group(0) == query:
            query = node
        elif isinstance(query, str):
            if isinstance(node, (int, float)) and not isinstance(node, bool):
                node = values.text(node)
            if isinstance(node, str):
                query = query.replace(match.group(0), node)
    return query


@method("batch")
def batch(call: Call) -> dict[str, Any]:
    params_upper = {str(k).upper(): v for k, v in call.params.items()}  # array_change_key_case(CASE_UPPER)
    halt = values.php_bool(params_upper.get("HALT", False))
    buckets: dict[str, dict[str, Any]] = {"result": {}, "error": {}, "total": {}, "next": {}, "time": {}}
    for n, (key, command) in enumerate(_commands(params_upper.get("CMD"))):
        if n >= call.config.batch_limit:
            buckets["error"][key] = {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                     "error_description": "Max batch length exceeded"}
            if halt:
                break
            continue
        if not isinstance(command, str):
            continue
        name, _, query = command.strip().partition("?")
        name = name.strip().lower().removesuffix(".json")
        params = resolve(parse_query(query), buckets)
        outcome = call.sandbox.execute(name, params, call.user_id, nested=True, caller=call.caller,
                                       scope=call.scope)
        if outcome.error is not None:
            buckets["error"][key] = outcome.error.body()
            if halt:
                break
            continue
        assert outcome.result is not None
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
