"""Option types shared by several commands."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import click

PORT = click.IntRange(1, 65535)  # a TCP port: 0 would be a random one, above 65535 a traceback from bind()
LIMIT = click.IntRange(1, 100_000)  # rows a listing shows: PostgreSQL refuses a negative LIMIT, asyncpg a huge one
RECORD_ID = click.IntRange(1, 2**63 - 1)  # a row or Bitrix24 id: a bigint, never zero or negative


def recorded(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A value kept as the record of who did something and why (``--by``, ``--reason``): trimmed, and not
    blank — an empty reason or author would be a record that says nothing."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise click.BadParameter("must not be empty (it is recorded)", ctx=ctx, param=param)
    return value


def writable(target: Path) -> str | None:
    """Why ``target`` cannot be written (no such directory, no permission), or None; asked before any work
    whose result would go there, so nothing is done (or truncated) for a file that cannot be made."""
    folder = target.parent
    if not folder.is_dir():
        return f"no such directory {folder}"
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        return "permission denied"
    return None


def http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An http(s) URL with a host: anything else can never be reached, and retrying it would go on for ever."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter("must be an http:// or https:// URL with a host", ctx=ctx, param=param)
    return value.strip()


def not_blank(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A value that means nothing when empty (a webhook code: the URL would end in ``//``)."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return value
