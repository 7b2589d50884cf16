"""A PostgreSQL restart under a busy relay: the relay reconnects and publishes everything, it does not
exit.  (Found by the chaos suite: asyncpg can leave a connection the server cut in a broken protocol
state and then raises ``InternalClientError: cannot switch to state 15; another operation (2) is in
progress`` — MagicStack/asyncpg#784 — which the relay did not count as a lost connection.)"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from bridge import db
from bridge.broker import connector
from bridge.demo import fresh_database
from bridge.outbox import Outbox
from bridge.relay import Relay
from tests.helpers import new_event, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

RESTARTS = 8


async def _keep_storing(pool: asyncpg.Pool, stored: list, stop: asyncio.Event) -> None:
    """1C's side: events keep arriving, so the relay is claiming when PostgreSQL goes."""
    while not stop.is_set():
        events = [new_event() for _ in range(10)]
        with contextlib.suppress(Exception):  # PostgreSQL is restarting: 1C would send these again
            await Outbox(pool).store(events)
            stored.extend(events)
        await asyncio.sleep(0.02)


async def test_the_relay_keeps_running_through_postgresql_restarts_and_publishes_every_row(chaos_postgres, amqp_url):
    dsn = await fresh_database(chaos_postgres.url, "_relay")
    pool, writer_pool = await db.create_pool(dsn, max_size=4), await db.create_pool(dsn, max_size=2)
    stop_relay, stop_writer, stored = asyncio.Event(), asyncio.Event(), []
    relay = asyncio.create_task(Relay(pool, connector(amqp_url), listen_dsn=dsn, batch_size=20, poll_interval=0.05)
                                .run(stop_relay))
    writer = asyncio.create_task(_keep_storing(writer_pool, stored, stop_writer))
    try:
        for _ in range(RESTARTS):
            await asyncio.sleep(0.7)
            await asyncio.to_thread(chaos_postgres.restart)
            if relay.done():
                relay.result()  # raises what stopped it
                pytest.fail("the relay returned while it was not asked to stop")
        stop_writer.set()
        await writer

        async def all_published() -> bool:
            try:
                return await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return False

        assert await wait_for(all_published, timeout=60), "rows left unpublished after the restarts"
        assert not relay.done(), relay.exception()
        assert len(stored) > 0
    finally:
        stop_writer.set()
        stop_relay.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(relay, 30)
        await pool.close()
        await writer_pool.close()
