"""Small helpers shared by integration tests (no fakes of PostgreSQL or RabbitMQ here)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import aio_pika
import asyncpg

from bridge import metrics
from bridge.outbox import NewEvent


def new_event(entity: str = "counterparty", *, version: int = 1, entity_id: uuid.UUID | None = None,
              source: str = "ut103-test", event_type: str | None = None) -> NewEvent:
    event_id = uuid.uuid4()
    entity_id = entity_id or uuid.uuid4()
    event_type = event_type or f"{entity}.upserted"
    body = {"event_id": str(event_id), "event_type": event_type, "source": source,
            "entity_id": str(entity_id), "version": version,
            "occurred_at": datetime.now(UTC).isoformat(), "payload": {"deleted": False}}
    return NewEvent(event_id, event_type, entity, source, entity_id, version,
                    datetime.now(UTC), json.dumps(body))


def consumed(consumer: str, outcome: str) -> float:
    """The consumer's own count of messages with ``outcome``."""
    return sample_of(metrics.CONSUMED, consumer=consumer, outcome=outcome)


def sample_of(metric, **labels: str) -> float:
    """A counter's or gauge's value for ``labels`` in this process (metrics live in per-process registries,
    not prometheus_client's global one, so read the family itself)."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.labels == labels and not sample.name.endswith("_created"):
                return sample.value
    return 0.0


async def tap(channel: aio_pika.abc.AbstractChannel, exchange: str, routing_key: str = "#") -> aio_pika.abc.AbstractQueue:
    """A private queue bound to ``exchange``, to watch what is published there."""
    queue = await channel.declare_queue(f"tap-{uuid.uuid4().hex[:8]}", exclusive=True)
    await queue.bind(exchange, routing_key=routing_key)
    return queue


async def drain(queue: aio_pika.abc.AbstractQueue, count: int, timeout: float = 30.0) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Get messages until ``count`` arrived or ``timeout`` passed; then anything else already there."""
    got: list = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            if len(got) >= count:
                break
            await asyncio.sleep(0.05)
            continue
        got.append(message)
    return got


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll an async predicate until it returns something truthy; returns its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = await predicate()
    while not value and loop.time() < deadline:
        await asyncio.sleep(interval)
        value = await predicate()
    return value


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def peek_dead_letters(amqp_url: str, queue: str) -> list:
    """The messages waiting in a dead-letter queue, read without ack and handed back (a test's look at the
    broker side; the bridge itself reads dead letters only from its table)."""
    import aiormq

    from bridge.dlq import letter_from_message

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        try:
            dlq = await channel.declare_queue(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return []
        letters = []
        while (message := await dlq.get(no_ack=False, fail=False)) is not None:
            letters.append(letter_from_message(queue, message_id=message.message_id, event_type=message.type,
                                               headers=dict(message.headers or {}), body=message.body,
                                               received_at=datetime.now(UTC)))
        return letters


async def execute_sql(url: str, sql: str) -> None:
    """Run ``sql`` (one or more statements) on a connection of its own: databases made and dropped by fixtures."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def waiting_for_a_lock(pool: asyncpg.Pool, task: asyncio.Task) -> bool:
    """Until ``task`` ended or a statement of this database waits for a lock (``pg_stat_activity``): what a
    lock-order test watches instead of sleeping.  True when it waits."""
    for _ in range(250):
        if task.done():
            return False
        if await pool.fetchval("SELECT count(*) FROM pg_stat_activity "
                               "WHERE wait_event_type = 'Lock' AND datname = current_database()"):
            return True
        await asyncio.sleep(0.02)
    raise AssertionError("the statement neither ended nor waited for a lock")


def finish_args(source: str, holder: str, keys: list[str], *, consumer: str = "deal", order_id: str | None = None,
                resync: list[tuple[str, str, str]] = ()) -> tuple:
    """``uow_finish``'s parameters for a unit of work that writes no link and no inbox row of its own: it gives
    back the leases ``keys`` (in that order) and settles the ``resync`` rows (doc_type, doc_id, stamp as read
    with the facts) of ``order_id``."""
    return (source, [], [], [], [], [], [], [], [], [], [], consumer, [], keys, holder,
            [t for t, _, _ in resync], [d for _, d, _ in resync], [order_id] * len(resync),
            [s for _, _, s in resync], None)
