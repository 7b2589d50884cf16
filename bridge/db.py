"""PostgreSQL access: the asyncpg pool, and Alembic migrations run from Python."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from .errors import ConfigError


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with the bridge's codecs (for LISTEN and for tools)."""
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


def migrations_dir() -> Path:
    """The Alembic scripts: ``BRIDGE_MIGRATIONS_DIR``, or ``bridge/migrations`` shipped inside the package
    (package data, so an installed wheel or the image needs no copy of the repository)."""
    from .settings import Settings

    path = Settings().migrations_dir or Path(__file__).resolve().parent / "migrations"
    if not (path / "env.py").exists():
        raise ConfigError(f"Alembic migrations not found at {path}; set BRIDGE_MIGRATIONS_DIR")
    return path


def alembic_config(dsn: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn).replace("%", "%%"))
    cfg.attributes["url_from_code"] = True  # env.py must not swap in BRIDGE_DATABASE_URL (the demo migrates another DB)
    return cfg


def sqlalchemy_url(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+asyncpg://" + dsn[len(prefix):]
    return dsn


def migrate(dsn: str, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (blocking; runs its own event loop inside Alembic's env)."""
    from alembic import command

    command.upgrade(alembic_config(dsn), revision)


def downgrade(dsn: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(dsn), revision)
