"""PostgreSQL access: the asyncpg pool and its codecs (migrations: ``bridge.schema``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import asyncpg

from .errors import ConfigError


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: asyncpg rolls back a transaction left open; nothing else is needed.

    The default reset runs ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` — one more
    transaction for every connection release (several per consumed event).  The bridge keeps no session
    state on pooled connections (no SET, no LISTEN, no session-level advisory lock, no open cursor: LISTEN
    has a connection of its own, :func:`connect`), so there is nothing to reset.
    """


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with the bridge's codecs (for LISTEN and for tools)."""
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10,
                      observe: Callable[[asyncpg.Connection], None] | None = None) -> asyncpg.Pool:
    """The pool a component starts with; a database it cannot use at all is a ConfigError naming it.
    ``observe`` is called with each new connection (tests and benchmarks count its transactions)."""

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if observe is not None:
            observe(conn)

    try:
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=init,
                                         reset=_keep_session)
    except (asyncpg.InvalidCatalogNameError, asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidPasswordError, OSError) as exc:
        raise unusable(dsn, exc) from exc
    assert pool is not None
    return pool


async def probe(dsn: str) -> None:
    """Connect once and leave, so a wrong BRIDGE_DATABASE_URL is one clear error before any work starts."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (asyncpg.InvalidCatalogNameError, asyncpg.InvalidAuthorizationSpecificationError,
            asyncpg.InvalidPasswordError, OSError) as exc:
        raise unusable(dsn, exc) from exc
    await conn.close()


# The migration this code's statements need: a database migrated to an older one lacks tables or columns they
# use (tests/deploy/test_package_data.py pins it to the migrations' head: a new migration moves it).
SCHEMA_REVISION = "0013"


async def require_schema(pool: asyncpg.Pool, dsn: str) -> None:
    """A database without the bridge's tables (never migrated, or BRIDGE_DATABASE_URL names another one), or
    migrated by an older release and not since (an upgrade without `b24bridge migrate`), is one clear error at
    start, not a traceback at a command's first query or every event failing later."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/") or parts.username or "?"
    where = f"database {name!r} on {parts.hostname or 'localhost'}:{parts.port or 5432}"
    if await pool.fetchval("SELECT to_regclass('outbox')") is not None:
        revision = (await pool.fetchval("SELECT max(version_num) FROM alembic_version")
                    if await pool.fetchval("SELECT to_regclass('alembic_version')") is not None else None)
        if revision is not None and revision < SCHEMA_REVISION:  # ("0005" < "0013": zero-padded, in order)
            raise ConfigError(f"BRIDGE_DATABASE_URL: {where} is migrated to revision {revision}, this release needs "
                              f"{SCHEMA_REVISION}: run `b24bridge migrate` (an upgrade's migrations first, then "
                              "the new release's components)")
        return
    elsewhere = await pool.fetchval(
        "SELECT string_agg(n.nspname, ', ' ORDER BY n.nspname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'outbox' AND c.relkind IN ('r', 'p')")
    if elsewhere:  # migrated, but under a schema this role does not look in: a migrate now would make a 2nd set
        path = await pool.fetchval("SHOW search_path")
        raise ConfigError(f"BRIDGE_DATABASE_URL: {where}: the bridge's tables are in schema {elsewhere}, which is "
                          f"not on this role's search_path ({path}): `ALTER ROLE … SET search_path = {elsewhere}` "
                          f"or add `?search_path={elsewhere}` to the URL (do not run `b24bridge "
                          "migrate` as this role: it would make a second, empty set of tables)")
    raise ConfigError(f"BRIDGE_DATABASE_URL: {where} has no bridge schema (no table outbox): run `b24bridge migrate`, "
                      "or point BRIDGE_DATABASE_URL at the bridge's database")


def unusable(dsn: str, exc: BaseException) -> ConfigError:
    """The error for a database the bridge cannot use: which one (no password), and why."""
    parts = urlsplit(dsn)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    name = parts.path.lstrip("/") or parts.username or "?"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        why = f"database {name!r} does not exist on {where}: create it, then run `b24bridge migrate`"
    elif isinstance(exc, asyncpg.PostgresError):
        why = f"PostgreSQL at {where} refused user {parts.username!r}: {exc}"
    else:
        why = f"cannot reach PostgreSQL at {where}: {getattr(exc, 'strerror', None) or exc}"
    return ConfigError(f"BRIDGE_DATABASE_URL: {why}")
