"""Terminal output that also survives pipes: off a terminal (``kubectl exec`` without ``-t``, ``| grep``)
rich would cut tables to 80 columns and shorten ids with ``…``; here nothing is cut, and an empty value
prints as nothing, never as ``None``."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

UNLIMITED = 10_000  # columns off a terminal: a line is as long as its content


def console(stderr: bool = False, **kw: Any):
    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty():
        kw.setdefault("width", UNLIMITED)
    return Console(stderr=stderr, highlight=False, **kw)


def table(*headers: str, ids: tuple[str, ...] = (), **kw: Any):
    """A rich Table whose ``ids`` columns are never wrapped or shortened (a cut event id cannot be pasted
    into ``dlq show``); the other columns give way first."""
    out = Table(**kw)
    for header in headers:
        if header in ids:
            out.add_column(header, no_wrap=True, overflow="ignore", min_width=len(header))
        else:
            out.add_column(header, overflow="fold")
    return out


def show(out, headers: tuple[str, ...], rows: list[tuple[Any, ...]], *, ids: tuple[str, ...] = (),
         title: str | None = None) -> None:
    """Print ``rows`` as a table, or, on a terminal too narrow to hold the ``ids`` columns whole, as one
    ``header: value`` block per row: an id is never shortened."""
    texts = [tuple(cell(v) for v in row) for row in rows]
    widest = {h: max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(headers)}
    needed = sum(widest[h] for h in ids) + 6 * (len(headers) - len(ids)) + 3 * len(headers) + 1
    if needed <= out.width:
        grid = table(*headers, ids=ids, title=title)
        for row in texts:
            grid.add_row(*map(Text, row))  # Text: an error's [brackets] are not rich markup
        out.print(grid)
        return
    if title:
        out.print(title, style="bold", markup=False)
    pad = max(len(h) for h in headers)
    for row in texts:
        for header, value in zip(headers, row):
            out.print(f"{header:<{pad}}  {value}", soft_wrap=True, markup=False, highlight=False)
        out.print()


def cell(value: Any) -> str:
    """A table cell: ``None`` is empty."""
    return "" if value is None else str(value)
