"""The dead-letter sink: ``b24.<target>.dlq`` and ``onec.unrouted`` → the ``dead_letters`` table.

It runs inside the consumer process (``bootstrap``), for that process's targets plus ``onec.unrouted``,
so nothing new is deployed.  Each message is inserted first and acked only after the insert committed:
a crash in between leaves the message in the queue, and its second delivery meets the row it already
made (unique on queue, event_id, replays) and is simply acked.  While PostgreSQL is away the sink holds
its messages and tries again with growing delays; it never rejects or requeues, so a dead letter's
delivery count does not grow with failures of ours.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime

import aio_pika
import asyncpg

from . import edges, metrics, topology, wire
from .backoff import Backoff, sleep_or_stop
from .broker import Connect
from .dlq import DeadLetterTable, letter_from_message
from .errors import BrokerUnavailable, InfrastructureError

log = logging.getLogger(__name__)

DEFAULT_PREFETCH = 20


class DeadLetterSink:
    def __init__(self, pool: asyncpg.Pool, connect: Connect, targets: list[topology.Target], *,
                 prefetch: int = DEFAULT_PREFETCH) -> None:
        self._table = DeadLetterTable(pool)
        self._connect = connect  # called on every (re)connection
        self._targets = targets
        self._prefetch = prefetch
        self._stop = asyncio.Event()
        self._one_at_a_time = asyncio.Lock()  # dead letters are few: one pool connection is plenty
        self.queues = [t.dlq for t in targets] + [topology.UNROUTED]
        self.stored = 0  # rows written since start

    async def run(self, stop: asyncio.Event) -> None:
        """Move dead letters until ``stop`` is set, reconnecting with backoff when RabbitMQ goes away."""
        self._stop = stop
        backoff = Backoff()
        while not stop.is_set():
            try:
                with edges.broker("dead-letter sink"):
                    await self._session(stop)
                backoff.reset()
            except BrokerUnavailable as exc:
                delay = backoff.next()
                log.warning("dead-letter sink lost RabbitMQ; reconnecting", extra={
                    "action": "dlq_sink.reconnect", "error": f"{type(exc).__name__}: {exc}", "delay": round(delay, 2)})
                await sleep_or_stop(stop, delay)

    async def _session(self, stop: asyncio.Event) -> None:
        connection = await self._connect()
        closed = asyncio.Event()
        connection.close_callbacks.add(lambda *_: closed.set())
        async with connection:
            channel = await connection.channel()
            channel.close_callbacks.add(lambda *_: closed.set())
            await topology.declare(channel, self._targets)
            await channel.set_qos(prefetch_count=self._prefetch)
            for name in self.queues:
                queue = await channel.get_queue(name, ensure=False)
                await queue.consume(functools.partial(self._on_message, name))
            log.info("dead-letter sink started", extra={"action": "dlq_sink.start", "queues": self.queues})
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(closed.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if closed.is_set() and not stop.is_set():
                raise BrokerUnavailable("RabbitMQ closed the dead-letter sink's connection")

    async def _on_message(self, queue: str, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            letter = letter_from_message(queue, message_id=message.message_id, event_type=message.type,
                                         headers=dict(message.headers or {}), body=message.body,
                                         received_at=datetime.now(UTC))
        except Exception:  # a bug of ours: keep the message (unacked) rather than lose it
            log.exception("dead letter not readable; left in the queue", extra={
                "action": "dlq_sink.error", "queue": queue, "event_id": message.message_id})
            return
        if not await self._store(letter):
            return  # stopping with PostgreSQL away: unacked, the broker keeps it for the next sink
        try:
            with edges.broker("dead-letter sink ack"):
                await message.ack()
        except BrokerUnavailable:
            return  # the row is committed; the redelivery finds it and is acked then

    async def _store(self, letter) -> bool:
        """Insert the row, holding on through PostgreSQL outages; False only when stopping."""
        backoff = Backoff(initial=0.5, maximum=30.0)
        while not self._stop.is_set():
            try:
                async with self._one_at_a_time:
                    with edges.postgres("dead-letter table", every_error=True):
                        new = await self._table.store(letter)
            except InfrastructureError as exc:
                delay = backoff.next()
                log.warning("dead-letter sink cannot store; holding the message", extra={
                    "action": "dlq_sink.hold", "queue": letter.queue, "event_id": letter.event_id,
                    "error": f"{type(exc).__name__}: {exc}", "retry_in": round(delay, 2)})
                await sleep_or_stop(self._stop, delay)
                continue
            if new:
                self.stored += 1
                metrics.DEAD_LETTERS_STORED.labels(letter.queue, letter.reason).inc()
                if letter.consumer and wire.H_REASON not in letter.headers:
                    # dead-lettered by the queue's delivery limit, not by a consumer: count it where the
                    # BridgeDeadLettersGrowing alert looks, since the DLQ itself no longer holds it
                    metrics.DEAD_LETTERS.labels(letter.consumer, letter.reason).inc()
                log.info("dead letter stored", extra={
                    "action": "dlq_sink.store", "queue": letter.queue, "event_id": letter.event_id,
                    "reason": letter.reason, "consumer": letter.consumer})
            return True
        return False


