"""The ``.xml`` transport: a reply as ``CRestServer::outputXml`` writes it (EN
``settings/how-to-call-rest-api/general-principles.md`` shows the shape; code REST-NEW ``rest.php``).

The envelope goes under one ``<response>`` element, with no XML declaration; every key becomes an element,
an integer key (and a digit string, which PHP stores as an integer key) becomes ``<item>``, and a scalar is
PHP's string form escaped by ``CDataXML::xmlspecialchars``: ``true`` → ``1``, ``false`` and ``null`` → empty.
An empty array is an empty element.  The reply is sent as ``text/xml; charset=utf-8``.
"""

from __future__ import annotations

import re
from typing import Any

CONTENT_TYPE = "text/xml; charset=utf-8"
_PHP_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&apos;"))
_PHP_INT_MAX = 2**63 - 1


def render(envelope: dict[str, Any]) -> str:
    return _elements({"response": envelope})


def _elements(data: dict[Any, Any] | list[Any]) -> str:
    pairs = enumerate(data) if isinstance(data, list) else data.items()
    out = []
    for key, value in pairs:
        name = "item" if _is_int_key(key) else str(key)
        inner = _elements(value) if isinstance(value, (dict, list)) else _escape(_php_string(value))
        out.append(f"<{name}>{inner}</{name}>")
    return "".join(out)


def _is_int_key(key: Any) -> bool:
    if isinstance(key, int):
        return True
    return bool(_PHP_INT_KEY.match(str(key))) and abs(int(key)) <= _PHP_INT_MAX


def _php_string(value: Any) -> str:
    """PHP 8's ``(string)``: booleans as ``1``/empty, null empty, floats in their shortest form."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return _php_float(value)
    return str(value)


def _php_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        mantissa = mantissa if "." in mantissa else mantissa + ".0"
        text = f"{mantissa}E{int(exponent):+d}"
    return text


def _escape(text: str) -> str:
    for raw, entity in _ESCAPES:
        text = text.replace(raw, entity)
    return text
