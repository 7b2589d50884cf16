"""Every SQL statement of the bridge, as named blocks in the ``*.sql`` files of this package, loaded once.

A block starts with ``-- name: <name>``; the comment lines after it say what it does and list its
``$1…$n`` parameters.  One file per area (``outbox.sql``, ``links.sql``, …); names are unique across
files.  Nothing outside this package writes SQL text (migrations aside).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse(text: str, origin: str = "<text>") -> dict[str, str]:
    """Split a file of ``-- name:`` blocks into ``{name: statement}``."""
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice in {origin}")
        queries[name] = body.strip()
    return queries


@cache
def load() -> dict[str, str]:
    """All named statements of all ``*.sql`` files here."""
    queries: dict[str, str] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            for name, sql in parse(entry.read_text(encoding="utf-8"), entry.name).items():
                if name in queries:
                    raise ValueError(f"query {name!r} is defined in two files (second: {entry.name})")
                queries[name] = sql
    return queries


class _Queries:
    """Attribute access to the named statements: ``Q.outbox_claim``."""

    def __getattr__(self, name: str) -> str:
        try:
            sql = load()[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r} in bridge/sql/*.sql") from None
        self.__dict__[name] = sql  # found by plain attribute lookup from now on (several per event)
        return sql


Q = _Queries()
