"""PHP ``http_build_query`` for ``batch`` commands, and the JSON encoding of direct calls.

A batch command is ``method?query``; the portal reads the query with PHP ``parse_str``.  So the encoder
follows PHP: nested mappings and sequences become bracket keys (``fields[PHONE][0][VALUE]=…``),
``True``/``False`` become ``1``/``0``, ``None`` is left out (PHP drops nulls too; the legacy crm.* methods
read a JSON ``null`` as "not set" as well — send ``""`` to clear a field), and every key segment and
value is URL-encoded exactly once (``%20`` for a space, ``$result[c1]`` survives because parse_str
decodes before the portal substitutes references).

What PHP's query form cannot carry raises :class:`Unencodable` instead of silently changing meaning:
an empty list or mapping (``rows: []`` clears product rows in JSON but vanishes from a query), a key
containing a bracket, a NaN.  The coalescer sends such calls directly as JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

# percent-encoding as ``urllib.parse.quote(text, safe="")`` writes it (RFC 3986 unreserved bytes kept), a
# byte at a time through a table: urllib's own loop is Python, per byte, and a Cyrillic name is all %XX
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_PERCENT = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))


class Unencodable(ValueError):
    """The parameters have no faithful PHP query-string form; the message names the key and why."""


def quote(text: str) -> str:
    """``text`` percent-encoded as UTF-8, every byte but the unreserved ones (``quote(text, safe="")``)."""
    raw = text.encode("utf-8")
    if not raw.rstrip(_UNRESERVED):  # nothing to encode (most keys, numbers, codes): the text as a plain str
        return text if type(text) is str else raw.decode("ascii")  # (a str Enum key formats as E.A)
    return "".join(map(_PERCENT.__getitem__, raw))


def scalar_text(value: Any, where: str = "value") -> str:
    """The text PHP would receive for one scalar (shared by the query encoder and the JSON encoder)."""
    if type(value) is str:  # the usual case first (a str Enum is not of type str: it goes below)
        return value
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise Unencodable(f"{where} is {value!r}, which Bitrix24 cannot store")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise Unencodable(f"{where} is {value!r}, which Bitrix24 cannot store")
        return format(value, "f")
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{where} has type {type(value).__name__}, which has no Bitrix24 form")


_SEGMENTS: dict[str, str] = {}  # key → its encoded segment: keys are the methods' field names, a few hundred


def _segment(key: Any, where: str) -> str:
    known = _SEGMENTS.get(key) if type(key) is str else None
    if known is not None:
        return known
    text = scalar_text(key, f"a key under {where}") if not isinstance(key, str) else key
    if "[" in text or "]" in text:
        raise Unencodable(f"key {text!r} under {where} contains a bracket, which PHP parse_str splits on")
    if text == "":
        raise Unencodable(f"an empty key under {where} would turn into a PHP list append")
    segment = quote(text)
    if type(key) is str and len(_SEGMENTS) < 4096:  # bounded: a caller's data used as keys cannot grow it
        _SEGMENTS[key] = segment
    return segment


def _walk(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    kind = type(value)
    if kind is str:  # a leaf, the usual case: no isinstance chain
        out.append(f"{name}={quote(value)}")
        return
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        if not value:
            raise Unencodable(f"{name} is an empty mapping, which a query string cannot carry")
        for key, item in value.items():
            _walk(f"{name}[{_segment(key, name)}]", item, out)
    elif isinstance(value, (list, tuple)):
        if not value:
            raise Unencodable(f"{name} is an empty list, which a query string cannot carry")
        for index, item in enumerate(value):
            _walk(f"{name}[{index}]", item, out)
    else:
        out.append(f"{name}={quote(scalar_text(value, name))}")


def query_pairs(params: Mapping[str, Any]) -> list[str]:
    """The ``key=value`` pieces of ``params``, in order (their count is PHP's input-variable count)."""
    out: list[str] = []
    for key, value in params.items():
        _walk(_segment(key, "the top level"), value, out)
    return out


def build_query(params: Mapping[str, Any]) -> str:
    """``http_build_query(params)`` as PHP would write it, keys' brackets left readable."""
    return "&".join(query_pairs(params))


def build_command(method: str, params: Mapping[str, Any] | None, *, max_vars: int | None = None) -> str:
    """One ``batch`` command string, ``method?query``; :class:`Unencodable` if it cannot be one."""
    pairs = query_pairs(params or {})
    if max_vars is not None and len(pairs) > max_vars:
        raise Unencodable(
            f"{method} has {len(pairs)} query variables, more than PHP max_input_vars ({max_vars}) lets through"
        )
    return f"{method}?{'&'.join(pairs)}" if pairs else method


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return scalar_text(value)
    if isinstance(value, (datetime, date, time, UUID, Enum)):
        return scalar_text(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"a parameter of type {type(value).__name__} has no JSON form")


def json_body(params: Mapping[str, Any]) -> bytes:
    """The JSON body of a direct call (dates as ISO-8601, decimals as exact strings)."""
    return json.dumps(params, default=_json_default, ensure_ascii=False, allow_nan=False).encode("utf-8")
