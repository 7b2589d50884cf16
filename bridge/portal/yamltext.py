"""The resulting mapping as YAML text: the input file with setup's changes written in place, comments kept.

Each change replaces the value on its key's line, keeping the comment after it; a key inside a flow mapping
(``paid: {id: B24B_PAID, name: "…"}``) rewrites that flow mapping.  The result is parsed back and compared
with the intended data.  When editing in place cannot express a change (the key is not in the file, a layout
this line editor does not follow), the whole mapping is written afresh under a header comment instead.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

from .plan import MappingChange

HEADER = (
    "# onec-b24-bridge mapping file, written by `b24bridge portal setup` from {origin}.\n"
    "# Every key is explained in the bridge's default mapping (bridge/defaults/mapping.yaml);\n"
    "# verify it against the portal with `b24bridge portal check`.\n"
)

_KEY_LINE = re.compile(r"""^(?P<indent> *)(?P<key>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s#'"-][^:#]*?)[ \t]*:(?:[ \t]+(?P<rest>.*))?$""")


def render(text: str, changes: Sequence[MappingChange], origin: str) -> str:
    """``text`` (a mapping file) with ``changes`` applied; comments kept where the layout allows."""
    data = yaml.safe_load(text) or {}
    desired = copy.deepcopy(data)
    for change in changes:
        _set(desired, change.path, change.new)
    if desired == data:
        return text
    patched: str | None = text
    for change in changes:
        patched = _patch(patched, change.path, desired) if patched is not None else None
    try:
        if patched is not None and yaml.safe_load(patched) == desired:
            return patched
    except yaml.YAMLError:
        pass
    return fresh(desired, origin)


def fresh(data: dict[str, Any], origin: str) -> str:
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=110)
    return HEADER.format(origin=origin) + "\n" + body


def scalar(value: Any) -> str:
    """``value`` as a YAML flow value on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for part in path:
        node = node[part]
    return node


def _patch(text: str, path: tuple[str, ...], desired: dict[str, Any]) -> str | None:
    lines = text.splitlines(keepends=True)
    for depth in range(len(path), 0, -1):
        found = _find(lines, path[:depth])
        if found is None:
            continue
        index, match = found
        rest = match.group("rest")
        if rest is None or (depth < len(path) and not rest.lstrip().startswith("{")):
            return None  # a block mapping without the key, or a value this editor cannot rewrite
        lines[index] = _replace_value(lines[index], match, scalar(_get(desired, path[:depth])))
        return "".join(lines)
    return None


def _find(lines: list[str], target: tuple[str, ...]) -> tuple[int, re.Match[str]] | None:
    stack: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEY_LINE.match(line.rstrip("\r\n"))
        if match is None:
            continue
        indent, key = len(match.group("indent")), match.group("key")
        if key[:1] in "\"'":
            key = yaml.safe_load(key)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if tuple(k for _, k in stack) == target:
            return index, match
    return None


def _replace_value(line: str, match: re.Match[str], new: str) -> str:
    ending = line[len(line.rstrip("\r\n")):]
    start = match.start("rest")
    rest = match.group("rest")
    cut = _comment_start(rest)
    if cut is None:
        return line[:start] + new + ending
    value_area, comment = rest[:cut], rest[cut:]
    pad = len(value_area) - len(new)  # keep the comment in its column, or else its distance from the value
    if pad < 1:
        pad = len(value_area) - len(value_area.rstrip(" \t"))
    return line[:start] + new + " " * pad + comment + ending


def _comment_start(rest: str) -> int | None:
    """Where a ``# comment`` starts in a value, outside quotes (``#`` must follow a blank)."""
    quote: str | None = None
    for i, ch in enumerate(rest):
        if quote:
            if ch == quote and (quote == "'" or rest[i - 1] != "\\"):
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and i > 0 and rest[i - 1] in " \t":
            return i
    return None
