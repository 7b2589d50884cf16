"""The consumer framework: one queue, one handler, and an explicit acknowledgement policy.

Policy (what happens to a delivered message; which failure gets which decision is
:func:`bridge.disposition.decide`, and this module only obeys it):

* handled (applied, duplicate, stale, unchanged) → **ack**;
* Bitrix24 or PostgreSQL unavailable (network, 5xx, ``QUERY_LIMIT_EXCEEDED``, a lost database), or the
  portal refusing the webhook itself (deleted, scope missing, plan expired, moved to another domain) → the
  consumer **pauses** (:mod:`bridge.pause`): the message is kept in hand; one message at a time probes,
  every 0.5 s growing to at most 3 s, and when a probe gets through every held message goes on at once;
  after 15 minutes in hand a message goes back to the broker through the 60 s wait queue
  (uncounted), so RabbitMQ's consumer timeout never closes the channel.  Nothing burns a retry budget, so
  an outage of hours costs nothing but time;
* one method's run-time budget spent (``OPERATION_TIME_LIMIT``) → only that message waits until the
  portal's ``operating_reset_at``; messages needing other methods go on;
* dependency missing (e.g. an order whose company is not in Bitrix24 yet) → republished to the target's
  ``.wait.<N>s`` queue (5 s at first, then about as long as it has waited so far, at most a minute: delayed,
  not counted as a failure), then acked; after the wait budget → DLQ
  ``dependency_missing``;
* permanent error (invalid event, unknown type, Bitrix24 refused the data, access) → republished to the
  DLQ with ``x-bridge-reason`` and ``x-bridge-error``, then acked;
* several existing Bitrix24 records (or only a weak one) may be this event's 1C object
  (:class:`~bridge.errors.NeedsReview`) → the whole event is stored in the review list
  (:mod:`bridge.review`), then acked; an operator's resolve puts it back through the outbox.  A consumer
  built without a review list dead-letters it (``needs_review``) instead: nothing is lost either way;
* anything unexpected → republished to the next retry tier (``.retry.<delay>s``), then acked; after the
  last tier → DLQ.

Every republish waits for its publisher confirm before the original is acked, so a broker failure in
between can only duplicate a message, never lose it.  A handler crash (process killed) leaves the message
unacked; RabbitMQ redelivers it, and the quorum queue's delivery limit dead-letters a message that keeps
killing consumers.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

import aio_pika

from onec_outbox.contract import ContractViolation, Event, parse_event, parse_stored_event

from . import disposition, edges, metrics, outcomes, topology, wire
from .b24 import calls as b24_calls
from .b24 import lookup as b24_lookup
from .backoff import Backoff
from .broker import Connect
from .errors import BrokerUnavailable, PoisonMessage, RetriesExhausted
from .pause import Pause

log = logging.getLogger(__name__)

DEFAULT_WAIT_BUDGET = 24 * 3600.0  # seconds a message may wait for a missing dependency
# A message held through an outage goes back to the broker (the 60 s wait queue) after this long, well
# before RabbitMQ's consumer_timeout (30 min by default) closes a channel that keeps a delivery unacked.
DEFAULT_HOLD_LIMIT = 15 * 60.0
# A document usually arrives a few milliseconds after the counterparty or product it needs, which another
# consumer is still applying (p95 ~0.5 s): looking again in hand, a few times within this many seconds,
# spares it the wait queue's 5 s.  At most half the prefetch waits in hand at once, so messages whose
# dependencies are present keep flowing; only a message's first delivery waits in hand.
DEFAULT_WAIT_IN_HAND = 3.0
WAIT_IN_HAND_LOOKS = (0.1, 0.5)  # seconds before the first look, doubled at every look up to the second
_PARK = object()  # _apply's answer for "held too long: hand the message back to the broker"
# Each consumer's share of the portal's rate limit when they compete (bridge.b24.coalescer): deals and
# their documents are what managers wait for; product updates come in bulk (price lists) and go last.
PRIORITIES = {"deal": b24_calls.URGENT, "counterparty": b24_calls.NORMAL, "product": b24_calls.BULK}


class Outcome(str, Enum):
    APPLIED = "applied"  # Bitrix24 changed
    UNCHANGED = "unchanged"  # newer version, but nothing Bitrix24 shows differs
    STALE = "stale"  # an older or equal version than the one applied
    DUPLICATE = "duplicate"  # this event_id was applied before
    HANDED_OVER = "handed_over"  # stored; the push already running on its object applies it next


# when the ingest accepted the event being handled (epoch seconds; None: unknown): a handler that hands its
# effect over to another push passes it on, so the apply latency is measured when that push applies it
RECEIVED_AT: contextvars.ContextVar[float | None] = contextvars.ContextVar("consumer_received_at", default=None)


class Handler(Protocol):
    """What a consumer target implements: apply one event to Bitrix24 exactly once.  ``handle`` receives
    an event of one of ``event_types`` (a contract event class: CounterpartyEvent, ProductEvent …)."""

    name: str
    target: topology.Target
    event_types: frozenset[str]
    mapping_keys: tuple[str, ...]  # the mapping keys it needs the portal to match (bridge/startup.py)

    async def handle(self, event: Event) -> Outcome: ...


def parse(delivery: wire.Delivery, event_types: frozenset[str]) -> Event:
    """The contract event of a delivery, or PoisonMessage saying why not.  A trusted delivery (its body is
    what the ingest validated: the checksum matches) is read in one pass; any other is validated in full."""
    if delivery.trusted and delivery.event_type in event_types:
        try:
            event = parse_stored_event(delivery.body)
        except (ContractViolation, ValueError):
            pass  # not what the ingest stores after all: the full path below says why
        else:
            if event.event_type in event_types:
                return event
    event_dict = delivery.event if delivery.event is not None else wire.decode_body(delivery.body)
    event_type = event_dict.get("event_type")
    if event_type not in event_types:
        raise PoisonMessage(f"event type {event_type!r} is not handled here (handles: {sorted(event_types)})",
                            reason="unknown_event_type")
    try:
        return parse_event(event_dict)
    except ContractViolation as exc:
        raise PoisonMessage(f"not a valid v1 event: {exc}", reason="invalid_event") from exc


@dataclass(frozen=True)
class ConsumerConfig:
    prefetch: int = 64  # slots for messages waiting in hand (a missing counterparty, an object's lease) and batching
    wait_budget: float = DEFAULT_WAIT_BUDGET
    hold_limit: float = DEFAULT_HOLD_LIMIT
    wait_in_hand: float = DEFAULT_WAIT_IN_HAND  # 0: a missing dependency goes to the wait queue at once


class Consumer:
    def __init__(self, handler: Handler, connect: Connect, config: ConsumerConfig | None = None,
                 recorder: outcomes.NullRecorder | None = None, review: Any = None) -> None:
        self.handler = handler
        self._review = review  # bridge.review.ReviewStore: where events wait for an operator's pick
        self._recorder = recorder or outcomes.NullRecorder()  # each outcome, for `b24bridge trace`
        self._connect = connect  # called on every (re)connection
        self._config = config or ConsumerConfig()
        self._pause = Pause(handler.name)
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        self._waiting_in_hand = 0  # messages looking again for a dependency without leaving the consumer
        self._publish_channel: aio_pika.abc.AbstractChannel | None = None
        self.handled = 0  # since start, for progress output
        metrics.init_consumer(handler.name, (o.value for o in Outcome))

    @property
    def paused_since(self) -> datetime | None:
        """When this consumer began holding back because Bitrix24 or PostgreSQL fails (None: running)."""
        return self._pause.since

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with backoff when RabbitMQ goes away."""
        self._stop = stop
        backoff = Backoff()
        background = getattr(self.handler, "background", None)  # the handler's own periodic work (a sweep)
        with b24_calls.priority(PRIORITIES.get(self.handler.name, b24_calls.NORMAL)):  # its calls' class, as a message's
            chores = asyncio.create_task(background(stop)) if background is not None else None
        try:
            await self._sessions(stop, backoff)
        finally:
            if chores is not None:
                chores.cancel()
                await asyncio.gather(chores, return_exceptions=True)
            await self._recorder.flush()  # the outcomes of the last events handled

    async def _sessions(self, stop: asyncio.Event, backoff: Backoff) -> None:
        while not stop.is_set():
            try:
                with edges.broker("consumer"):
                    await self._session(stop)
                backoff.reset()
            except BrokerUnavailable as exc:
                delay = backoff.next()
                log.warning("consumer lost RabbitMQ; reconnecting", extra={
                    "action": "consumer.reconnect", "consumer": self.handler.name,
                    "error": f"{type(exc).__name__}: {exc}", "delay": round(delay, 2)})
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass

    async def _session(self, stop: asyncio.Event) -> None:
        connection = await self._connect()
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
                raise BrokerUnavailable("RabbitMQ closed the connection or a channel")
            try:
                with edges.broker("consumer cancel"):
                    await queue.cancel(tag)
            except BrokerUnavailable:
                pass
            if self._inflight:  # let handlers finish what they started; unfinished ones are redelivered
                await asyncio.wait(self._inflight, timeout=30)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            # the Bitrix24 calls this message causes, recorded with its outcomes, queued in its class
            with b24_calls.capture(), b24_calls.priority(PRIORITIES.get(self.handler.name, b24_calls.NORMAL)):
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
        except Exception as exc:  # noqa: BLE001 - a broken message (PoisonMessage) or a bug: decide() says which
            await self._let_go(message, delivery, self._decide(exc, delivery, context), context)
            return
        first = b24_lookup.FIRST_DELIVERY.set(delivery.first_delivery)  # may a pre-read index say "absent"?
        received = RECEIVED_AT.set(delivery.received_at)
        try:
            outcome = await self._apply(event, delivery, context)
        finally:
            RECEIVED_AT.reset(received)
            b24_lookup.FIRST_DELIVERY.reset(first)
        if outcome is None:  # stopping while paused: leave it unacked, it will be redelivered
            return
        if outcome is _PARK:
            # marked: its handler ran (maybe made something), so no pre-read index may say "absent" for it again
            await self._republish(message, self.handler.target.wait_queue(float("inf")), **{wire.H_HELD: 1})
            metrics.CONSUMED.labels(name, "parked").inc()
            log.info("held too long; handed back to the broker", extra={**context, "action": "consumer.park"})
            await self._record(context, outcomes.PARKED)
            return
        if isinstance(outcome, disposition.Decision):
            await self._let_go(message, delivery, outcome, context)
            return
        await message.ack()
        self.handled += 1
        metrics.CONSUMED.labels(name, outcome.value).inc()
        metrics.CONSUME_SECONDS.labels(name).observe(time.perf_counter() - started)
        if outcome is Outcome.APPLIED:
            age = (datetime.now(UTC) - event.occurred_at).total_seconds()
            metrics.END_TO_END.labels(name).observe(max(age, 0.0))
            if delivery.received_at is not None:
                metrics.APPLY_LATENCY.labels(event.entity).observe(max(time.time() - delivery.received_at, 0.0))
        log.info("event handled", extra={**context, "action": f"consumer.{outcome.value}",
                                         "version": event.version})
        self._recorder.note(context, outcome, b24_calls.take())  # acked: written with the others of a moment

    async def _record(self, context: dict, outcome: Any) -> None:
        await self._recorder.record(context, outcome, b24_calls.take())

    def _decide(self, exc: BaseException, delivery: wire.Delivery | None, context: dict) -> disposition.Decision:
        decision = disposition.decide(
            exc, now=time.time(), attempt=delivery.attempt if delivery else 0,
            retry_tiers=len(self.handler.target.retry_delays),
            waiting_since=delivery.waiting_since if delivery else None, wait_budget=self._config.wait_budget)
        if isinstance(decision, disposition.Retry) or decision == disposition.DeadLetter(RetriesExhausted.reason):
            log.error("unexpected error while handling", exc_info=exc, extra={**context, "action": "consumer.error"})
        return decision

    async def _apply(self, event: Event, delivery: wire.Delivery, context: dict) -> Any:
        """Run the handler, keeping the message in hand while :func:`disposition.decide` says pause or hold;
        while the consumer is paused (:class:`bridge.pause.Pause`) it tries only when it is the probe.
        Returns the Outcome, the decision that lets the message go, None (stopping) or ``_PARK`` (held too
        long: give it back to the broker)."""
        deadline = time.monotonic() + self._config.hold_limit
        recorded: type | None = None  # a hold or pause is recorded once per message, not at every probe
        look = WAIT_IN_HAND_LOOKS[0] if delivery.waiting_since is None and delivery.first_delivery else None
        looked = 0.0
        first_missing: float | None = None  # when a look first found a dependency missing
        while True:
            attempt = await self._pause.turn(self._stop, deadline)  # at once, unless the consumer is paused
            if attempt is None or self._stop.is_set() or time.monotonic() > deadline:
                if attempt is not None:
                    self._pause.release(attempt)
                return None if self._stop.is_set() else _PARK
            try:
                with edges.postgres("PostgreSQL"):  # a handler's lost database pauses like an unreachable portal
                    outcome = await self.handler.handle(event)
            except Exception as exc:  # noqa: BLE001 - every failure is decided by the one table
                decision = self._decide(exc, delivery, context)
                if isinstance(decision, disposition.Pause):
                    delay = self._pause.failed(attempt)
                    log.warning("dependency failing; holding the message", extra={
                        **context, "action": "consumer.pause", "reason": decision.reason,
                        "error": decision.error, "probe": attempt.probe, "retry_in": round(delay, 2)})
                else:
                    self._pause.answered(attempt)  # the services answered; the failure is this message's own
                if isinstance(decision, (disposition.Hold, disposition.Pause)) and type(decision) is not recorded:
                    recorded = type(decision)  # once per message, after the pause has its answer
                    await self._record(context, decision)
                if isinstance(decision, disposition.Pause):
                    continue
                if isinstance(decision, disposition.Hold):
                    # one method's run-time budget is spent: hold this message until the portal resets it,
                    # while messages that need other methods keep flowing (no consumer-wide pause)
                    log.warning("method paused by the portal; holding the message", extra={
                        **context, "action": "consumer.hold", "method": decision.method,
                        "retry_in": round(decision.delay, 1)})
                    try:
                        await asyncio.wait_for(self._stop.wait(), decision.delay)
                    except TimeoutError:
                        pass
                    continue
                if isinstance(decision, disposition.Wait) and first_missing is None:
                    first_missing = decision.since
                if (isinstance(decision, disposition.Wait) and look is not None
                        and looked + look <= self._config.wait_in_hand
                        and self._waiting_in_hand < self._config.prefetch // 2):
                    await self._look_again_later(look)
                    looked, look = looked + look, min(look * 2, WAIT_IN_HAND_LOOKS[1])
                    # its handler ran: a pre-read index may not answer "absent" for it any more
                    b24_lookup.FIRST_DELIVERY.set(False)
                    continue
                if isinstance(decision, disposition.Wait) and looked:
                    metrics.DEPENDENCY_WAITS_IN_HAND.labels(self.handler.name, "queued").inc()
                    decision = replace(decision, since=first_missing)  # waiting since
                return decision
            else:
                self._pause.answered(attempt)
                if looked:
                    metrics.DEPENDENCY_WAITS_IN_HAND.labels(self.handler.name, "resolved").inc()
                return outcome
            finally:
                self._pause.release(attempt)  # a cancelled probe gives its turn to the next message

    async def _look_again_later(self, delay: float) -> None:
        """Wait ``delay`` seconds in hand for a missing dependency (see DEFAULT_WAIT_IN_HAND)."""
        self._waiting_in_hand += 1
        try:
            await asyncio.wait_for(self._stop.wait(), delay)
        except TimeoutError:
            pass
        finally:
            self._waiting_in_hand -= 1

    async def _let_go(self, message, delivery: wire.Delivery | None, decision: disposition.Decision,
                      context: dict) -> None:
        """Obey a decision that hands the message back to the broker: dead-letter, wait or retry tier."""
        if isinstance(decision, disposition.ParkForReview):
            if self._review is None:
                await self._dead_letter(message, disposition.DeadLetter("needs_review", decision.error), context)
            else:
                await self._park_for_review(message, delivery, decision, context)
        elif isinstance(decision, disposition.DeadLetter):
            await self._dead_letter(message, decision, context)
        elif isinstance(decision, disposition.Wait):
            await self._wait(message, decision, context)
        elif isinstance(decision, disposition.Retry):
            await self._retry(message, delivery, decision, context)
        else:  # Pause/Hold for a message that never reached the handler: nothing to hold it for
            raise AssertionError(f"{decision!r} for a message that was not applied")

    async def _republish(self, message, routing_key: str, exchange: str = "", **headers: Any) -> None:
        assert self._publish_channel is not None
        target = (self._publish_channel.default_exchange if exchange == ""
                  else await self._publish_channel.get_exchange(exchange, ensure=False))
        await target.publish(wire.copy_with(message, **headers), routing_key=routing_key, mandatory=True)
        await message.ack()

    async def _dead_letter(self, message, decision: disposition.DeadLetter, context: dict) -> None:
        reason = decision.reason
        target = self.handler.target
        await self._republish(
            message, target.dlq, exchange=topology.DLX,
            **{wire.H_REASON: reason, wire.H_ERROR: decision.error[:2000], wire.H_QUEUE: target.queue,
               wire.H_FAILED_AT: datetime.now(UTC).isoformat()})
        metrics.DEAD_LETTERS.labels(self.handler.name, reason).inc()
        metrics.CONSUMED.labels(self.handler.name, "dead_lettered").inc()
        log.error("event dead-lettered", extra={**context, "action": "consumer.dead_letter", "reason": reason,
                                                "error": decision.error})
        await self._record(context, decision)

    async def _park_for_review(self, message, delivery: wire.Delivery | None,
                               decision: disposition.ParkForReview, context: dict) -> None:
        """Store the whole event in the review list (committed), then ack: nothing is lost, nothing created."""
        assert delivery is not None
        item = await self._review.park(
            consumer=self.handler.name, onec_type=decision.onec_type, onec_id=decision.onec_id,
            reason=decision.reason, summary=decision.summary, error=decision.error,
            candidates=decision.candidates,
            event=delivery.event if delivery.event is not None else wire.decode_body(delivery.body), body=message.body)
        await message.ack()
        metrics.REVIEW_PARKED.labels(decision.onec_type, decision.reason).inc()
        metrics.CONSUMED.labels(self.handler.name, "review").inc()
        log.warning("event parked for review", extra={
            **context, "action": "consumer.review", "reason": decision.reason, "review_item": item,
            "onec_type": decision.onec_type, "onec_id": decision.onec_id,
            "candidates": [c.get("id") for c in decision.candidates], "error": decision.error})
        await self._record(context, decision)

    async def _wait(self, message, decision: disposition.Wait, context: dict) -> None:
        since = decision.since
        await self._republish(message, self.handler.target.wait_queue(time.time() - since),
                              **{wire.H_WAIT_SINCE: int(since * 1000), wire.H_ERROR: decision.error[:2000]})
        metrics.DEPENDENCY_WAITS.labels(self.handler.name).inc()
        metrics.CONSUMED.labels(self.handler.name, "waiting").inc()
        log.info("dependency missing; waiting", extra={**context, "action": "consumer.wait",
                                                        "missing": list(decision.missing), "waiting_since": since})
        await self._record(context, decision)

    async def _retry(self, message, delivery: wire.Delivery | None, decision: disposition.Retry,
                     context: dict) -> None:
        target = self.handler.target
        await self._republish(message, target.retry_queue(decision.tier), **{
            wire.H_ATTEMPT: decision.tier + 1, wire.H_ERROR: decision.error[:2000],
            wire.H_FIRST_FAILED: (delivery.headers.get(wire.H_FIRST_FAILED) if delivery else None)
            or datetime.now(UTC).isoformat()})
        metrics.RETRIES.labels(self.handler.name, decision.reason).inc()
        metrics.CONSUMED.labels(self.handler.name, "retried").inc()
        log.warning("event sent to retry tier", extra={**context, "action": "consumer.retry",
                                                       "attempt": decision.tier + 1,
                                                       "delay": target.retry_delays[decision.tier]})
        await self._record(context, decision)
