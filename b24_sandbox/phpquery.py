"""Request parameters as PHP sees them: ``http_build_query`` bracket syntax parsed into nested dicts/lists.

Bitrix24 is PHP, so ``fields[PHONE][0][VALUE]=…`` in a query string, a form body or a batch command becomes
a nested array.  This module reproduces ``parse_str``: ``+`` and ``%XX`` decoding, ``[]`` appends with the
next integer key, canonical integer keys (``"0"``, ``"12"``, not ``"01"``) are integers, the last duplicate
wins, and spaces or dots in the top-level name become ``_``.  A PHP array whose keys are exactly 0..n-1 is
returned as a Python list, any other as a dict with string keys — the same rule ``json_encode`` applies.
"""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import unquote_plus

_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")


def parse_query(query: str) -> dict[str, Any]:
    """Parse an ``application/x-www-form-urlencoded`` string the way PHP's ``parse_str`` does."""
    pairs: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return build(pairs)


def parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Parse a ``multipart/form-data`` body (field names in bracket syntax, file parts as their text)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    pairs: list[tuple[str, str]] = []
    if message.is_multipart():
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name is None:
                continue
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            pairs.append((str(name), payload.decode(charset, errors="replace")))
    return build(pairs)


def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Fold (bracket-name, value) pairs into nested containers, then turn 0..n-1 arrays into lists."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        path = _split_name(name)
        if path is None:
            continue
        _assign(root, path, value)
    return _listify(root)


def _split_name(name: str) -> list[str | None] | None:
    """``a[b][]`` → ``["a", "b", None]`` (None = append); PHP's quirks for the top-level name included."""
    name = name.lstrip(" ")
    first = name.find("[")
    if first <= 0 or "]" not in name[first:]:
        base = re.sub(r"[ .\[]", "_", name)
        return [base] if base else None
    base = re.sub(r"[ .]", "_", name[:first])
    path: list[str | None] = [base]
    rest = name[first:]
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            break
        key = rest[1:close]
        path.append(key if key != "" else None)
        rest = rest[close + 1:]
    return path


def _assign(node: dict[str, Any], path: list[str | None], value: Any) -> None:
    for i, key in enumerate(path):
        last = i == len(path) - 1
        if key is None:
            key = str(_next_index(node))
        elif _INT_KEY.match(key):
            key = str(int(key))
        if last:
            node[key] = value
        else:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child


def _next_index(node: dict[str, Any]) -> int:
    ints = [int(k) for k in node if _INT_KEY.match(k)]
    return max(ints) + 1 if ints else 0


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and list(converted) == [str(i) for i in range(len(converted))]:
            return list(converted.values())
        return converted
    return value


def is_php_list(keys: list[Any]) -> bool:
    """True when PHP would encode an array with these keys as a JSON list (keys exactly 0..n-1, in order)."""
    return [_canonical(k) for k in keys] == [str(i) for i in range(len(keys))]


def _canonical(key: Any) -> str:
    text = str(key)
    return str(int(text)) if _INT_KEY.match(text) else text
