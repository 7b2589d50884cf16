"""A simulated run posted through the real ingest (uvicorn on a free port) into a real PostgreSQL outbox."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import asyncpg
import httpx

from bridge import db, ops_http
from bridge.ingest import IngestConfig, create_app
from onec_outbox.simulator import ScenarioConfig, Sizes, generate
from onec_outbox.simulator.sender import SendOptions, send
from tests.helpers import free_port

TOKEN = "simulator-test-token"


@asynccontextmanager
async def _ingest(db_url: str, port: int, *, wait: bool = True):
    """The real ingest app, with its own pool, served by uvicorn until the block ends."""
    pool = await db.create_pool(db_url, max_size=10)
    app = create_app(IngestConfig([TOKEN.encode()]), pool=pool)
    stop = asyncio.Event()
    task = asyncio.create_task(ops_http.serve(app, "127.0.0.1", port, stop, lifespan="on"))
    if wait:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(200):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await task
        await pool.close()


async def _outbox(db_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetch("SELECT event_id::text AS event_id, entity_id::text AS entity_id, version, body::text AS body"
                                " FROM outbox ORDER BY id")
    finally:
        await conn.close()


async def test_a_run_is_accepted_duplicates_come_back_duplicate_and_the_outbox_holds_each_event_once(db_url):
    run = generate(ScenarioConfig(seed=7, sizes=Sizes(10, 12, 24)))
    async with _ingest(db_url, free_port()) as url:
        report = await send(run.events, url=url, token=TOKEN,
                            options=SendOptions(batch_size=25, duplicates=0.4, seed=2))
    assert report.problems == []
    assert report.accepted == report.delivered == len(run.events)
    assert report.resent > 0 and report.duplicates == report.resent
    rows = await _outbox(db_url)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in run.events]
    sample = {e["event_id"]: e for e in run.events}
    for row in rows[:: max(1, len(rows) // 20)]:
        event = sample[row["event_id"]]
        assert (row["entity_id"], row["version"]) == (event["entity_id"], event["version"])
        assert json.loads(row["body"])["payload"]["deleted"] == event["payload"]["deleted"]


async def test_sending_the_same_run_again_stores_nothing_new(db_url):
    run = generate(ScenarioConfig(seed=8, sizes=Sizes(5, 5, 6)))
    async with _ingest(db_url, free_port()) as url:
        first = await send(run.events, url=url, token=TOKEN)
        second = await send(run.events, url=url, token=TOKEN, options=SendOptions(batch_size=7))
    assert first.accepted == len(run.events)
    assert (second.accepted, second.duplicates, second.problems) == (0, len(run.events), [])
    assert len(await _outbox(db_url)) == len(run.events)


async def test_the_sender_waits_for_an_ingest_that_is_not_up_yet(db_url):
    run = generate(ScenarioConfig(seed=9, sizes=Sizes(3, 3, 2)))
    port = free_port()
    options = SendOptions(batch_size=50, backoff_initial=0.05, backoff_maximum=0.2)
    sending = asyncio.create_task(send(run.events, url=f"http://127.0.0.1:{port}", token=TOKEN, options=options))
    await asyncio.sleep(0.3)  # nothing listens yet: the sender's first attempts are refused
    assert not sending.done()
    async with _ingest(db_url, port, wait=False):
        report = await asyncio.wait_for(sending, 30)
    assert report.retries > 0 and report.accepted == len(run.events) and report.problems == []

