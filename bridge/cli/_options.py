"""Option types shared by several commands."""

from __future__ import annotations

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
