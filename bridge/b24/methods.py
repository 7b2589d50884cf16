"""Bitrix24 method names: the one spelling the client sends and counts, and which methods only read."""

from __future__ import annotations

import re

_METHOD = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_READ_VERBS = ("get", "list", "fields", "search", "find")
_READ_METHODS = {
    "server.time",
    "profile",
    "scope",
    "methods",
    "app.info",
    "user.current",
    "crm.duplicate.findbycomm",
}


def normalize_method(method: str) -> str:
    """Lower-case (as the portal does), ``.json`` suffix dropped; anything else than a dotted name is
    refused so a method can never reach into the URL path or blow up metric labels."""
    name = method.strip().lower()
    name = name.removesuffix(".json")
    if not _METHOD.match(name):
        raise ValueError(f"not a Bitrix24 method name: {method!r}")
    return name


def is_read_only(method: str) -> bool:
    """Methods that only read, so a request whose fate is unknown may simply be repeated."""
    last = method.rsplit(".", 1)[-1]
    return method in _READ_METHODS or last.startswith(_READ_VERBS)
