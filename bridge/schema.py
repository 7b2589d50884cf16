"""The database schema: Alembic migrations run from Python (``b24bridge migrate``, the demo, tests).

Apart from ``bridge.db`` so that only what migrates loads Alembic and SQLAlchemy, not every component.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from .errors import ConfigError
from .settings import Settings


def migrations_dir() -> Path:
    """The Alembic scripts: ``BRIDGE_MIGRATIONS_DIR``, or ``bridge/migrations`` shipped inside the package
    (package data, so an installed wheel or the image needs no copy of the repository)."""
    path = Settings().migrations_dir or Path(__file__).resolve().parent / "migrations"
    if not (path / "env.py").exists():
        raise ConfigError(f"Alembic migrations not found at {path}; set BRIDGE_MIGRATIONS_DIR")
    return path


def alembic_config(dsn: str) -> Config:
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
    with _named(revision):
        command.upgrade(alembic_config(dsn), revision)


def downgrade(dsn: str, revision: str) -> None:
    with _named(revision):
        command.downgrade(alembic_config(dsn), revision)


@contextmanager
def _named(revision: str) -> Iterator[None]:
    """A revision Alembic does not know is a ConfigError naming it and the known ones, not a traceback."""
    try:
        yield
    except CommandError as exc:
        if "Can't locate revision" not in str(exc) and "No such revision" not in str(exc):
            raise
        known = sorted(r.revision for r in ScriptDirectory(str(migrations_dir())).walk_revisions())
        unknown = re.findall(r"identified by '([^']+)'|No such revision[^']*'([^']+)'", str(exc))
        unknown = [a or b for a, b in unknown]
        if unknown and revision not in unknown:  # the database's own revision: a newer release migrated it
            raise ConfigError(f"the database is at schema revision {unknown[0]!r}, which this release does not "
                              f"know (it knows {', '.join(known)}): a newer release migrated it; run that "
                              "release's `b24bridge migrate`") from exc
        raise ConfigError(f"no schema revision {revision!r}: use head, base or one of {', '.join(known)}") from exc
