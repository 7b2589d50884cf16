"""The Alembic chain builds the schema the code expects, and downgrades cleanly."""

import asyncpg

from bridge import db, schema
from bridge.sql import load

EXPECTED_TABLES = {"outbox", "inbox", "entity_links", "dead_letters", "source_heartbeats", "notice_incidents"}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows} - {"alembic_version"}
    finally:
        await conn.close()


async def test_upgrade_creates_tables_and_downgrade_removes_them(empty_db_url):
    schema.migrate(empty_db_url)
    assert EXPECTED_TABLES <= await _tables(empty_db_url)
    schema.downgrade(empty_db_url, "base")
    assert await _tables(empty_db_url) == set()
    schema.migrate(empty_db_url)  # and up again: the chain is repeatable
    assert EXPECTED_TABLES <= await _tables(empty_db_url)


async def test_every_named_query_prepares_against_the_migrated_schema(db_url):
    """A typo in queries.sql or a column the migrations lack fails here, not in production."""
    conn = await db.connect(db_url)
    try:
        for name, sql in load().items():
            try:
                await conn.prepare(sql)
            except asyncpg.PostgresError as exc:
                raise AssertionError(f"query {name} does not prepare: {exc}") from exc
    finally:
        await conn.close()


async def test_migrating_a_named_database_ignores_bridge_database_url_in_the_environment(empty_db_url, db_url,
                                                                                         monkeypatch):
    """The demo migrates its own database while BRIDGE_DATABASE_URL names another one."""
    monkeypatch.setenv("BRIDGE_DATABASE_URL", db_url)
    schema.migrate(empty_db_url)
    assert EXPECTED_TABLES <= await _tables(empty_db_url)
