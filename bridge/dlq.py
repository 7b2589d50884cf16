"""Dead letters: look at them, replay them, export them, drop them.

Dead-letter queues are ``b24.<target>.dlq``; ``onec.unrouted`` holds events no queue was bound for.  Reading
is non-destructive: messages are fetched without ack and returned to the queue when the channel closes,
unless an operation acks them (replay after its confirm, purge).  Replay puts a message back where it
failed (``x-bridge-queue``) with its retry bookkeeping cleared; an unrouted event goes back to its entity
exchange, which routes it now that a queue is bound.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq

from . import topology, wire
from .broker import Connect

DEFAULT_LIMIT = 1000


@dataclass
class DeadLetter:
    queue: str
    message: aio_pika.abc.AbstractIncomingMessage

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.message.headers or {})

    @property
    def event_id(self) -> str | None:
        return self.message.message_id

    @property
    def reason(self) -> str:
        return str(self.headers.get(wire.H_REASON) or ("unrouted" if self.queue == topology.UNROUTED else "?"))

    def body(self) -> Any:
        try:
            return json.loads(self.message.body)
        except ValueError:
            return self.message.body.decode("utf-8", "replace")

    def summary(self) -> dict[str, Any]:
        h = self.headers
        return {"queue": self.queue, "event_id": self.event_id, "event_type": self.message.type,
                "entity_id": h.get(wire.H_ENTITY_ID), "reason": self.reason,
                "failed_at": h.get(wire.H_FAILED_AT), "error": h.get(wire.H_ERROR)}

    def export(self) -> dict[str, Any]:
        return {**self.summary(), "headers": {k: _plain(v) for k, v in self.headers.items()}, "body": self.body()}


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def dead_letter_queues() -> list[str]:
    return [t.dlq for t in topology.TARGETS.values()] + [topology.UNROUTED]


@dataclass(frozen=True)
class Selector:
    """Which dead letters an operation touches."""

    event_ids: frozenset[str] = frozenset()
    entity_id: str | None = None
    reason: str | None = None

    def matches(self, letter: DeadLetter) -> bool:
        if self.event_ids and letter.event_id not in self.event_ids:
            return False
        if self.entity_id and letter.headers.get(wire.H_ENTITY_ID) != self.entity_id:
            return False
        return not (self.reason and letter.reason != self.reason)


class DeadLetters:
    """Operations on the dead-letter queues through one connection (use as an async context manager)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def __aenter__(self) -> DeadLetters:
        self._connection = await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _depth(self, name: str) -> int:
        """Messages in a queue; 0 when it does not exist (nothing declared it yet, so nothing died there)."""
        assert self._connection is not None
        channel = await self._connection.channel()
        try:
            return (await channel.declare_queue(name, passive=True)).declaration_result.message_count
        except aiormq.exceptions.ChannelNotFoundEntity:
            return 0
        finally:
            if not channel.is_closed:
                await channel.close()

    async def counts(self) -> dict[str, int]:
        return {name: await self._depth(name) for name in dead_letter_queues()}

    async def visit(self, queues: list[str], selector: Selector, action: Callable | None = None,
                    limit: int = DEFAULT_LIMIT) -> list[DeadLetter]:
        """Fetch up to ``limit`` matching letters per queue; ``action(channel, letter)`` may ack them.
        Everything not acked returns to its queue when the channel closes."""
        assert self._connection is not None
        seen: list[DeadLetter] = []
        for name in queues:
            depth = await self._depth(name)
            if not depth:
                continue
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            try:
                queue = await channel.get_queue(name, ensure=False)
                for _ in range(depth):
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    letter = DeadLetter(name, message)
                    if selector.matches(letter):
                        seen.append(letter)
                        if action is not None:
                            await action(channel, letter)
                        if len(seen) >= limit:
                            break
            finally:
                await channel.close()
        return seen

    async def list(self, queues: list[str], selector: Selector = Selector(), limit: int = DEFAULT_LIMIT):
        return await self.visit(queues, selector, None, limit)

    async def replay(self, queues: list[str], selector: Selector, limit: int = DEFAULT_LIMIT):
        async def put_back(channel: aio_pika.abc.AbstractChannel, letter: DeadLetter) -> None:
            replays = int(letter.headers.get(wire.H_REPLAYED) or 0) + 1
            clear = {k: None for k in (wire.H_REASON, wire.H_ERROR, wire.H_FAILED_AT, wire.H_ATTEMPT,
                                        wire.H_FIRST_FAILED, wire.H_WAIT_SINCE)}
            message = wire.copy_with(letter.message, **clear, **{wire.H_REPLAYED: replays})
            if letter.queue == topology.UNROUTED:
                entity = letter.headers.get(wire.H_ENTITY) or (letter.message.type or "").split(".")[0]
                exchange = await channel.get_exchange(topology.exchange_for(entity), ensure=False)
                await exchange.publish(message, routing_key=letter.message.type or "", mandatory=True)
            else:
                target = letter.headers.get(wire.H_QUEUE) or letter.queue.removesuffix(".dlq")
                await channel.default_exchange.publish(message, routing_key=target, mandatory=True)
            await letter.message.ack()

        return await self.visit(queues, selector, put_back, limit)

    async def purge(self, queues: list[str], selector: Selector, limit: int = DEFAULT_LIMIT):
        async def drop(_: aio_pika.abc.AbstractChannel, letter: DeadLetter) -> None:
            await letter.message.ack()

        return await self.visit(queues, selector, drop, limit)
