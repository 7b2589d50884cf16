"""`b24bridge demo` makes its own ``<database>_demo`` next to the configured database; that database itself
need not exist yet (an operator trying the demo with their own BRIDGE_DATABASE_URL before any migrate)."""

from __future__ import annotations

import uuid

import asyncpg

from bridge.demo import fresh_database
from tests import services
from tests.helpers import execute_sql


async def test_the_demo_makes_its_database_when_the_configured_one_does_not_exist(pg_server):
    configured = services.replace_database(pg_server, f"bridge_t_{uuid.uuid4().hex[:12]}")  # never created
    demo_dsn = await fresh_database(configured)
    try:
        conn = await asyncpg.connect(demo_dsn)
        try:  # migrated: the outbox is there
            assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        finally:
            await conn.close()
    finally:
        name = demo_dsn.rsplit("/", 1)[1].split("?")[0]
        await execute_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_demo_with_its_own_vhost_gets_its_own_database():
    """README: "a second demo with other ports and --vhost keeps its own".  Its database used to be
    ``<database>_demo`` whatever the vhost, so the second demo dropped the first one's WITH (FORCE)."""
    import pytest

    from bridge.demo import DEMO_VHOST, demo_database
    from bridge.errors import ConfigError

    dsn = "postgresql://bridge:bridge@127.0.0.1:5432/bridge"
    assert demo_database(dsn, DEMO_VHOST).endswith("/bridge_demo")  # the README's bridge_demo, unchanged
    assert demo_database(dsn, "mine_2").endswith("/bridge_demo_mine_2")
    others = {demo_database(dsn, v) for v in ("a-b", "a_b", "A-B", "a.b")}  # never one database for two vhosts
    assert len(others) == 4 and all(d.rsplit("/", 1)[1].startswith("bridge_demo_a_b") for d in others)
    with pytest.raises(ConfigError, match="--vhost"):
        demo_database(dsn, "v" * 60)
