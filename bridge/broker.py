"""How components reach RabbitMQ: a connection factory, not a URL.

The composition root (:func:`bridge.bootstrap.build`) makes one :class:`Connect` from ``BRIDGE_AMQP_URL``;
the relay, the consumers and the dead-letter tools call it for each (re)connection, so their reconnect
loops keep working and none of them holds the secret URL.
"""

from __future__ import annotations

from typing import Protocol

import aio_pika
from aio_pika.abc import AbstractConnection

DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds for one connection attempt of a component
READY_TIMEOUT = 3.0  # seconds for the /readyz probe: an answer while the orchestrator still waits


class Connect(Protocol):
    """Opens a new connection to the configured broker (the caller closes it)."""

    async def __call__(self, *, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> AbstractConnection: ...


def connector(url: str) -> Connect:
    """The factory for ``url``; nothing connects until it is called."""

    async def connect(*, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> AbstractConnection:
        return await aio_pika.connect(url, timeout=timeout)

    return connect


async def ready(connect: Connect) -> None:
    """The readiness probe: RabbitMQ accepts a connection (raises if not)."""
    connection = await connect(timeout=READY_TIMEOUT)
    await connection.close()
