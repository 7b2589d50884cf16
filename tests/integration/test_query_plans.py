"""The hot look-ups use their index whatever plan PostgreSQL caches for them.

asyncpg prepares every statement; after five executions PostgreSQL may switch to a generic plan, made
without the parameters' values.  ``onec_id = ANY($3)`` then became a filter over every link of the type
(1,395 rows read to find 5); a join on ``unnest($3)`` probes the primary key once per id in any plan.
Checked here with ``plan_cache_mode = force_generic_plan`` on a table big enough for the planner to care.
"""

from __future__ import annotations

import json
import uuid

import pytest

from bridge.sql import Q

SOURCE = "ut103-main"


def _nodes(plan: dict) -> list[dict]:
    found = [plan]
    for child in plan.get("Plans", ()):
        found += _nodes(child)
    return found


async def generic_plan(conn, query: str, *args) -> list[dict]:
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    statement = await conn.prepare(f"EXPLAIN (FORMAT JSON) {query}")
    (row,) = await statement.fetch(*args)
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return _nodes(plan[0]["Plan"])


@pytest.fixture
async def conn(db_pool):
    async with db_pool.acquire() as c:
        yield c
        await c.execute("RESET plan_cache_mode")


async def test_links_of_several_objects_probe_the_primary_key_in_a_generic_plan(conn):
    ids = [str(uuid.uuid4()) for _ in range(3000)]
    await conn.execute(
        "INSERT INTO entity_links (source, onec_type, onec_id, b24_type, b24_id) "
        "SELECT $1, 'contact_person', i, 'contact', row_number() OVER () FROM unnest($2::text[]) i", SOURCE, ids)
    await conn.execute("ANALYZE entity_links")
    wanted = ids[100:105]
    types = ["contact_person"] * len(wanted)
    nodes = await generic_plan(conn, Q.links_for_many, SOURCE, types, wanted)
    links = [n for n in nodes if n.get("Relation Name") == "entity_links"]
    assert links and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in links), links
    assert all("onec_id" in n.get("Index Cond", "") for n in links), links
    assert all("Filter" not in n for n in links), links  # nothing read only to be thrown away
    rows = await conn.fetch(Q.links_for_many, SOURCE, types, wanted)
    assert sorted(r["onec_id"] for r in rows) == sorted(wanted)


async def test_the_relays_claim_reads_the_unpublished_index_in_a_generic_plan(conn):
    await conn.execute(
        "INSERT INTO outbox (event_id, event_type, entity, source, entity_id, version, occurred_at, body, "
        "published_at) SELECT gen_random_uuid(), 'product.upserted', 'product', $1, gen_random_uuid(), 1, now(), "
        "'{}'::jsonb, CASE WHEN g % 100 = 0 THEN NULL ELSE now() END FROM generate_series(1, 5000) g", SOURCE)
    await conn.execute("ANALYZE outbox")
    nodes = await generic_plan(conn, Q.outbox_claim, 100)
    scans = [n for n in nodes if n.get("Relation Name") == "outbox"]
    assert scans and all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans), scans
    assert all(n["Index Name"] == "outbox_unpublished" for n in scans), scans
