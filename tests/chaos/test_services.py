"""The chaos suite's private PostgreSQL and RabbitMQ: a restart keeps what was committed, and leaving the
block — even by an exception — stops the server and removes its directory."""

from __future__ import annotations

import asyncio
import socket

import aio_pika
import asyncpg
import pytest

from tests import services as shared
from tests.chaos import services

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


class Boom(Exception):
    pass


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _pg_roundtrip(pg: services.PrivatePostgres) -> list[str]:
    conn = await asyncpg.connect(pg.url)
    await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the restart')")
    await asyncio.to_thread(pg.restart)
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError)):
        await conn.fetchval("SELECT 1")  # the restart cut the old connection
    conn = await asyncpg.connect(pg.url)
    try:
        return [r["v"] for r in await conn.fetch("SELECT v FROM kept")]
    finally:
        await conn.close()


def test_private_postgres_restarts_with_its_data_and_is_gone_after_a_failure():
    try:
        with pytest.raises(Boom), services.private_postgres() as pg:
            assert asyncio.run(_pg_roundtrip(pg)) == ["before the restart"]
            assert pg.port != 5432 and pg.restarts == 1
            root, port = pg.root, pg.port
            raise Boom
    except shared.ServiceMissing as exc:
        shared.missing(exc)
    assert not root.exists() and not _listening(port)


async def _rabbit_roundtrip(rabbit: services.PrivateRabbit) -> bytes:
    async with await aio_pika.connect(rabbit.amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue("kept", durable=True, arguments={"x-queue-type": "quorum"})
        await channel.default_exchange.publish(
            aio_pika.Message(b"before the restart", delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "kept")
        await asyncio.to_thread(rabbit.restart, 0.5)
        assert connection.is_closed or channel.is_closed  # the broker restart closed them
    async with await aio_pika.connect(rabbit.amqp_url) as connection:
        queue = await (await connection.channel()).get_queue("kept")
        message = await queue.get(no_ack=True)
        return message.body


def test_private_rabbitmq_restarts_with_its_messages_and_is_gone_after_a_failure():
    try:
        with pytest.raises(Boom), services.private_rabbitmq() as rabbit:
            assert asyncio.run(_rabbit_roundtrip(rabbit)) == b"before the restart"
            assert rabbit.port != 5672 and rabbit.restarts == 1
            root, port, process = rabbit.root, rabbit.port, rabbit.process
            raise Boom
    except shared.ServiceMissing as exc:
        shared.missing(exc)
    assert not root.exists() and not _listening(port) and process.poll() is not None
