from __future__ import annotations

import asyncio

import click

from .. import db, runner, schema
from ..settings import Settings


@click.command("migrate")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
@click.option("--downgrade", "down", metavar="REV", help="Downgrade to REV instead (e.g. base).")
def command(revision: str, down: str | None) -> None:
    """Apply the database schema (Alembic) to BRIDGE_DATABASE_URL."""
    settings = Settings()
    runner.setup(settings)  # JSON logs, and a warning for a misspelt BRIDGE_* name before it costs a failed Job
    dsn = settings.database_url.get_secret_value()
    asyncio.run(db.probe(dsn))
    if down:
        schema.downgrade(dsn, down)
        click.echo(f"downgraded to {down}")
    else:
        schema.migrate(dsn, revision)
        click.echo(f"schema at {revision}")
