"""The look-ups of the hot paths keep using their indexes while a new installation's tables grow from empty:
the bridge analyzes a table that has outgrown its statistics instead of waiting for autovacuum (which, in
the end-to-end benchmark, left `links_for_many` reading 3,553 buffers per call a minute and a half in)."""

from __future__ import annotations

import json

from bridge import statistics
from bridge.sql import Q

SOURCE = "ut103-main"


async def _grow(pool, rows: int) -> None:
    """Links as an initial load leaves them, then the counters PostgreSQL's statistics read."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO entity_links (source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state) "
            "SELECT $1, 'product', 'p-' || i, 'product', i, 1, 'h', jsonb_build_object('fields', repeat('x', 1500)) "
            "FROM generate_series(coalesce((SELECT count(*) FROM entity_links), 0) + 1, "
            "coalesce((SELECT count(*) FROM entity_links), 0) + $2) AS i", SOURCE, rows)
        await conn.execute("SELECT pg_stat_force_next_flush()")


KEYS = ["p-7", "p-70", "p-700", "p-1999"]


def _explain() -> str:
    return ("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE lfm('" + SOURCE + "', '{"
            + ",".join(["product"] * len(KEYS)) + "}', '{" + ",".join(KEYS) + "}')")


def _buffers(plan) -> int:
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return top["Shared Hit Blocks"] + top.get("Shared Read Blocks", 0)


async def test_a_table_that_outgrew_its_statistics_is_analyzed_and_its_look_ups_use_the_index(db_pool):
    """A pooled connection plans links_for_many while the table is nearly empty (the first events of a new
    installation) and keeps that plan; the table grows; the plan reads it whole until it is analyzed."""
    await _grow(db_pool, 20)
    async with db_pool.acquire() as conn:  # the plan a pooled connection caches (a generic one, as after
        await conn.execute("SET plan_cache_mode = force_generic_plan")  # five executions)
        await conn.execute("PREPARE lfm(text, text[], text[]) AS " + Q.links_for_many)
        await conn.fetch(_explain())
        try:
            await _grow(db_pool, 3000)
            stale = _buffers(await conn.fetchval(_explain()))
            assert "entity_links" in await statistics.refresh(db_pool)
            fresh = _buffers(await conn.fetchval(_explain()))  # the same connection: its plan was made again
        finally:
            await conn.execute("DEALLOCATE lfm")
            await conn.execute("RESET plan_cache_mode")
    assert fresh <= 20 < 100 < stale  # four primary-key probes, not the whole table
    assert "entity_links" not in await statistics.refresh(db_pool)  # analyzed: nothing until it doubles
    await _grow(db_pool, 4000)
    assert "entity_links" in await statistics.refresh(db_pool)


async def test_small_tables_are_left_to_autovacuum(db_pool):
    await _grow(db_pool, statistics.FEWEST_ROWS - 1)
    assert await statistics.refresh(db_pool) == []
