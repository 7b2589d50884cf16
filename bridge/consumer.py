"""The consumer framework: one queue, one handler, and an explicit acknowledgement policy.

Policy, in one place (what happens to a delivered message):

* handled (applied, duplicate, stale, unchanged) → **ack**;
* Bitrix24 or PostgreSQL unavailable (network, 5xx, ``QUERY_LIMIT_EXCEEDED``, a lost database), or the
  portal refusing the webhook itself (deleted, scope missing, plan expired) → the consumer **pauses**: the
  message is kept in hand and tried again when a probe succeeds, with growing delays shared by all
  messages in flight; after 15 minutes in hand it goes back to the broker through the 60 s wait queue
  (uncounted), so RabbitMQ's consumer timeout never closes the channel.  Nothing burns a retry budget, so
  an outage of hours costs nothing but time;
* one method's run-time budget spent (``OPERATION_TIME_LIMIT``) → only that message waits until the
  portal's ``operating_reset_at``; messages needing other methods go on;
* dependency missing (e.g. an order whose company is not in Bitrix24 yet) → republished to the target's
  ``.wait.<N>s`` queue (5 s at first, every minute after the first minute) (delayed, not counted as a failure), then acked; after the wait budget → DLQ
  ``dependency_missing``;
* permanent error (invalid event, unknown type, Bitrix24 refused the data, access) → republished to the
  DLQ with ``x-bridge-reason`` and ``x-bridge-error``, then acked;
* anything unexpected → republished to the next retry tier (``.retry.<delay>s``), then acked; after the
  last tier → DLQ.

Every republish waits for its publisher confirm before the original is acked, so a broker failure in
between can only duplicate a message, never lose it.  A handler crash (process killed) leaves the message
unacked; RabbitMQ redelivers it, and the quorum queue's delivery limit dead-letters a message that keeps
killing consumers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

import aio_pika
import aiormq
import asyncpg

from onec_outbox.contract import ContractViolation, parse_event

from . import metrics, topology, wire
from .backoff import Backoff
from .errors import (
    B24AuthError,
    B24OperationTimeLimit,
    DependencyMissing,
    PermanentError,
    PoisonMessage,
    RetryableError,
    failure_reason,
)

log = logging.getLogger(__name__)

DEFAULT_WAIT_BUDGET = 24 * 3600.0  # seconds a message may wait for a missing dependency
# A message held through an outage goes back to the broker (the 60 s wait queue) after this long, well
# before RabbitMQ's consumer_timeout (30 min by default) closes a channel that keeps a delivery unacked.
DEFAULT_HOLD_LIMIT = 15 * 60.0
CONNECTION_ERRORS = (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, ConnectionError,
                     OSError, asyncio.TimeoutError)
_PARK = object()  # _apply's answer for "held too long: hand the message back to the broker"


class Outcome(str, Enum):
    APPLIED = "applied"  # Bitrix24 changed
    UNCHANGED = "unchanged"  # newer version, but nothing Bitrix24 shows differs
    STALE = "stale"  # an older or equal version than the one applied
    DUPLICATE = "duplicate"  # this event_id was applied before


class Handler(Protocol):
    """What a consumer target implements: apply one event to Bitrix24 exactly once."""

    name: str
    target: topology.Target
    event_types: frozenset[str]

    async def handle(self, event: Any) -> Outcome: ...


def parse(delivery: wire.Delivery, event_types: frozenset[str]):
    """The contract event of a delivery, or PoisonMessage saying why not."""
    event_type = delivery.event.get("event_type")
    if event_type not in event_types:
        raise PoisonMessage(f"event type {event_type!r} is not handled here (handles: {sorted(event_types)})",
                            reason="unknown_event_type")
    try:
        return parse_event(delivery.event)
    except ContractViolation as exc:
        raise PoisonMessage(f"not a valid v1 event: {exc}", reason="invalid_event") from exc


class Pause:
    """Holds every message in flight while a dependency service (Bitrix24, PostgreSQL) is failing.

    One failure opens it for a growing delay; each success closes it and resets the delay.  A message
    whose attempt failed waits here, then tries again: the first to try after the delay is the probe.
    """

    def __init__(self, name: str, backoff: Backoff | None = None) -> None:
        self._name = name
        self._backoff = backoff or Backoff(initial=1.0, maximum=60.0)
        self._until = 0.0

    def failed(self, exc: BaseException) -> float:
        delay = self._backoff.next()
        self._until = max(self._until, time.monotonic() + delay)
        metrics.PAUSED.labels(self._name).set(1)
        return delay

    def succeeded(self) -> None:
        if self._backoff.attempts:
            self._backoff.reset()
            metrics.PAUSED.labels(self._name).set(0)

    async def wait(self, stop: asyncio.Event) -> None:
        while (remaining := self._until - time.monotonic()) > 0 and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), remaining)
            except TimeoutError:
                pass


@dataclass(frozen=True)
class ConsumerConfig:
    prefetch: int = 32
    wait_budget: float = DEFAULT_WAIT_BUDGET
    hold_limit: float = DEFAULT_HOLD_LIMIT


class Consumer:
    def __init__(self, handler: Handler, amqp_url: str, config: ConsumerConfig | None = None) -> None:
        self.handler = handler
        self._amqp_url = amqp_url
        self._config = config or ConsumerConfig()
        self._pause = Pause(handler.name)
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        self._publish_channel: aio_pika.abc.AbstractChannel | None = None
        self.handled = 0  # since start, for progress output

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with backoff when RabbitMQ goes away."""
        self._stop = stop
        backoff = Backoff()
        while not stop.is_set():
            try:
                await self._session(stop)
                backoff.reset()
            except CONNECTION_ERRORS as exc:
                delay = backoff.next()
                log.warning("consumer lost RabbitMQ; reconnecting", extra={
                    "action": "consumer.reconnect", "consumer": self.handler.name,
                    "error": f"{type(exc).__name__}: {exc}", "delay": round(delay, 2)})
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass

    async def _session(self, stop: asyncio.Event) -> None:
        connection = await aio_pika.connect(self._amqp_url, timeout=10)
        closed = asyncio.Event()  # the connection or either channel went away: start a new session
        connection.close_callbacks.add(lambda *_: closed.set())
        async with connection:
            self._publish_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            self._publish_channel.close_callbacks.add(lambda *_: closed.set())
            await topology.declare(self._publish_channel, [self.handler.target])
            channel = await connection.channel()
            channel.close_callbacks.add(lambda *_: closed.set())
            await channel.set_qos(prefetch_count=self._config.prefetch)
            queue = await channel.get_queue(self.handler.target.queue, ensure=False)
            tag = await queue.consume(self._on_message)
            log.info("consumer started", extra={"action": "consumer.start", "consumer": self.handler.name,
                                                 "queue": queue.name, "prefetch": self._config.prefetch})
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(closed.wait())]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
            if closed.is_set() and not stop.is_set():
                raise ConnectionError("RabbitMQ closed the connection or a channel")
            try:
                await queue.cancel(tag)
            except CONNECTION_ERRORS:
                pass
            if self._inflight:  # let handlers finish what they started; unfinished ones are redelivered
                await asyncio.wait(self._inflight, timeout=30)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._process(message)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _process(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        name = self.handler.name
        started = time.perf_counter()
        context: dict[str, Any] = {"consumer": name, "event_id": message.message_id,
                                   "entity_type": (message.headers or {}).get(wire.H_ENTITY),
                                   "entity_id": (message.headers or {}).get(wire.H_ENTITY_ID)}
        delivery: wire.Delivery | None = None
        try:
            delivery = wire.decode(message)
            event = parse(delivery, self.handler.event_types)
            outcome = await self._apply(event, context)
            if outcome is None:  # stopping while paused: leave it unacked, it will be redelivered
                return
            if outcome is _PARK:
                await self._republish(message, self.handler.target.wait_queue(float("inf")))
                metrics.CONSUMED.labels(name, "parked").inc()
                log.info("held too long; handed back to the broker", extra={**context, "action": "consumer.park"})
                return
            await message.ack()
            self.handled += 1
            metrics.CONSUMED.labels(name, outcome.value).inc()
            metrics.CONSUME_SECONDS.labels(name).observe(time.perf_counter() - started)
            if outcome is Outcome.APPLIED:
                age = (datetime.now(UTC) - event.occurred_at).total_seconds()
                metrics.END_TO_END.labels(name).observe(max(age, 0.0))
            log.info("event handled", extra={**context, "action": f"consumer.{outcome.value}",
                                             "version": event.version})
        except PermanentError as exc:
            await self._dead_letter(message, exc, context)
        except DependencyMissing as exc:
            await self._wait(message, delivery, exc, context)
        except CONNECTION_ERRORS:
            raise  # the channel is gone: the message will be redelivered
        except Exception as exc:
            log.exception("unexpected error while handling", extra={**context, "action": "consumer.error"})
            await self._retry(message, delivery, exc, context)

    async def _apply(self, event: Any, context: dict) -> Any:
        """Run the handler, holding the message through outages of Bitrix24 or PostgreSQL (None: stopping;
        ``_PARK``: held too long, give it back to the broker)."""
        held_since = time.monotonic()
        while True:
            await self._pause.wait(self._stop)
            if self._stop.is_set():
                return None
            if time.monotonic() - held_since > self._config.hold_limit:
                return _PARK
            try:
                outcome = await self.handler.handle(event)
            except B24OperationTimeLimit as exc:
                # one method's run-time budget is spent: hold this message until the portal resets it,
                # while messages that need other methods keep flowing (no consumer-wide pause)
                delay = max(1.0, min((exc.reset_at or 0) - time.time(), 600.0))
                log.warning("method paused by the portal; holding the message", extra={
                    **context, "action": "consumer.hold", "method": exc.method, "retry_in": round(delay, 1)})
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except TimeoutError:
                    pass
                continue
            except (RetryableError, B24AuthError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                    OSError) as exc:
                if isinstance(exc, PermanentError) and not isinstance(exc, B24AuthError):
                    raise
                delay = self._pause.failed(exc)
                log.warning("dependency failing; holding the message", extra={
                    **context, "action": "consumer.pause", "reason": failure_reason(exc),
                    "error": str(exc), "retry_in": round(delay, 2)})
                continue
            self._pause.succeeded()
            return outcome

    async def _republish(self, message, routing_key: str, exchange: str = "", **headers: Any) -> None:
        assert self._publish_channel is not None
        target = (self._publish_channel.default_exchange if exchange == ""
                  else await self._publish_channel.get_exchange(exchange, ensure=False))
        await target.publish(wire.copy_with(message, **headers), routing_key=routing_key, mandatory=True)
        await message.ack()

    async def _dead_letter(self, message, exc: BaseException, context: dict) -> None:
        reason = failure_reason(exc)
        target = self.handler.target
        await self._republish(
            message, target.dlq, exchange=topology.DLX,
            **{wire.H_REASON: reason, wire.H_ERROR: str(exc)[:2000], wire.H_QUEUE: target.queue,
               wire.H_FAILED_AT: datetime.now(UTC).isoformat()})
        metrics.DEAD_LETTERS.labels(self.handler.name, reason).inc()
        metrics.CONSUMED.labels(self.handler.name, "dead_lettered").inc()
        log.error("event dead-lettered", extra={**context, "action": "consumer.dead_letter", "reason": reason,
                                                "error": str(exc)})

    async def _wait(self, message, delivery: wire.Delivery | None, exc: DependencyMissing, context: dict) -> None:
        since = (delivery.waiting_since if delivery else None) or time.time()
        if time.time() - since > self._config.wait_budget:
            await self._dead_letter(message, _DependencyExpired(str(exc)), context)
            return
        await self._republish(message, self.handler.target.wait_queue(time.time() - since),
                              **{wire.H_WAIT_SINCE: int(since * 1000), wire.H_ERROR: str(exc)[:2000]})
        metrics.DEPENDENCY_WAITS.labels(self.handler.name).inc()
        metrics.CONSUMED.labels(self.handler.name, "waiting").inc()
        log.info("dependency missing; waiting", extra={**context, "action": "consumer.wait",
                                                        "missing": exc.missing, "waiting_since": since})

    async def _retry(self, message, delivery: wire.Delivery | None, exc: BaseException, context: dict) -> None:
        target = self.handler.target
        attempt = delivery.attempt if delivery else 0
        if attempt >= len(target.retry_delays):
            await self._dead_letter(message, _RetriesExhausted(f"after {attempt} retries: {exc!r}"), context)
            return
        await self._republish(message, target.retry_queue(attempt), **{
            wire.H_ATTEMPT: attempt + 1, wire.H_ERROR: repr(exc)[:2000],
            wire.H_FIRST_FAILED: (delivery.headers.get(wire.H_FIRST_FAILED) if delivery else None)
            or datetime.now(UTC).isoformat()})
        metrics.RETRIES.labels(self.handler.name, failure_reason(exc)).inc()
        metrics.CONSUMED.labels(self.handler.name, "retried").inc()
        log.warning("event sent to retry tier", extra={**context, "action": "consumer.retry", "attempt": attempt + 1,
                                                       "delay": target.retry_delays[attempt]})


class _DependencyExpired(PermanentError):
    reason = "dependency_missing"


class _RetriesExhausted(PermanentError):
    reason = "retries_exhausted"

