"""The consumer framework's acknowledgement policy, against real RabbitMQ (the handler is a test double of
our own Handler protocol; the broker and its queues are real)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import pytest

from bridge import metrics, topology, wire
from bridge.broker import connector
from bridge.consumer import Consumer, ConsumerConfig, Outcome
from bridge.errors import B24TransportError, B24ValidationError, DependencyMissing
from tests.contract.samples import event
from tests.helpers import consumed, peek_dead_letters, sample_of, wait_for

TARGET = topology.Target("counterparty", (("counterparty", "counterparty.upserted"),),
                         retry_delays=(1, 1), wait_delays=(1,))


@dataclass
class ScriptedHandler:
    """Raises the scripted exceptions in turn, then applies; records what it applied."""

    script: list = field(default_factory=list)
    name: str = "counterparty"
    target: topology.Target = TARGET
    event_types: frozenset = frozenset({"counterparty.upserted"})
    applied: list = field(default_factory=list)
    calls: int = 0

    async def handle(self, event_obj) -> Outcome:
        self.calls += 1
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, BaseException):
                raise step
        self.applied.append(str(event_obj.event_id))
        return Outcome.APPLIED


async def publish(amqp_url: str, body: bytes, message_id: str | None = None) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await topology.declare(channel, [TARGET])
        exchange = await channel.get_exchange("onec.counterparty")
        await exchange.publish(aio_pika.Message(body, message_id=message_id, delivery_mode=2),
                               routing_key="counterparty.upserted", mandatory=True)


def valid_event() -> tuple[str, bytes]:
    e = event(event_id=str(uuid.uuid4()))
    return e["event_id"], json.dumps(e).encode()


async def run_consumer(handler, amqp_url, **config):
    stop = asyncio.Event()
    consumer = Consumer(handler, connector(amqp_url), ConsumerConfig(prefetch=4, **config))
    return stop, asyncio.create_task(consumer.run(stop))


async def dead_letters(amqp_url) -> list:
    return await peek_dead_letters(amqp_url, TARGET.dlq)


async def settle(stop, task):
    stop.set()
    await asyncio.wait_for(task, 30)


async def applied_once(handler, amqp_url, **config) -> str:
    """Publish one valid event and consume until ``handler`` applied it; its event id."""
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url, **config)
    assert await wait_for(lambda: _async(handler.applied), timeout=30)
    await settle(stop, task)
    return event_id


async def test_an_applied_event_is_acked_once(amqp_url):
    handler = ScriptedHandler()
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url)
    assert await wait_for(lambda: _async(handler.applied))
    await settle(stop, task)
    assert handler.applied == [event_id]
    assert await dead_letters(amqp_url) == []


async def _async(value):
    return value


async def test_a_permanent_error_dead_letters_the_event_with_its_reason_and_error(amqp_url):
    handler = ScriptedHandler([B24ValidationError("crm.company.add", "ERROR_CORE", "bad e-mail", 400)])
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url)
    letters = await wait_for(lambda: dead_letters(amqp_url))
    await settle(stop, task)
    assert [l.event_id for l in letters] == [event_id]
    assert letters[0].reason == "b24_rejected"
    assert "ERROR_CORE" in letters[0].headers[wire.H_ERROR]
    assert letters[0].headers[wire.H_QUEUE] == "b24.counterparty"
    assert handler.calls == 1


@pytest.mark.parametrize("body, reason", [
    (b"not json at all", "unparseable"),
    (json.dumps({**event(), "event_type": "product.upserted"}).encode(), "unknown_event_type"),
    (json.dumps({**event(), "version": -5}).encode(), "invalid_event"),
])
async def test_poison_goes_to_the_dlq_with_a_reason_not_back_into_the_queue(amqp_url, body, reason):
    handler = ScriptedHandler()
    await publish(amqp_url, body, "poison-1")
    stop, task = await run_consumer(handler, amqp_url)
    letters = await wait_for(lambda: dead_letters(amqp_url))
    await settle(stop, task)
    assert [l.reason for l in letters] == [reason]
    assert handler.calls == 0


async def test_an_unexpected_error_is_retried_through_the_delay_tiers_then_applied(amqp_url):
    handler = ScriptedHandler([RuntimeError("boom"), RuntimeError("boom again")])
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url)
    assert await wait_for(lambda: _async(handler.applied), timeout=30)
    await settle(stop, task)
    assert handler.applied == [event_id] and handler.calls == 3
    assert await dead_letters(amqp_url) == []


async def test_an_error_that_outlasts_every_tier_ends_in_the_dlq(amqp_url):
    handler = ScriptedHandler([RuntimeError("always")] * 10)
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url)
    letters = await wait_for(lambda: dead_letters(amqp_url), timeout=30)
    await settle(stop, task)
    assert [l.reason for l in letters] == ["retries_exhausted"]
    assert handler.calls == len(TARGET.retry_delays) + 1


async def test_a_missing_dependency_waits_without_counting_and_follows_once_it_exists(amqp_url):
    missing = DependencyMissing("company not in Bitrix24 yet", missing=["counterparty/x"])
    handler = ScriptedHandler([missing, missing, missing])
    waiting_before = consumed("counterparty", "waiting")
    event_id = await applied_once(handler, amqp_url, wait_in_hand=0)  # straight to the wait queue
    assert handler.applied == [event_id] and handler.calls == 4
    assert await dead_letters(amqp_url) == []
    assert consumed("counterparty", "waiting") - waiting_before == 3


async def test_a_dependency_applied_within_a_second_is_met_in_hand_without_the_wait_queue(amqp_url):
    """An order usually arrives milliseconds after its counterparty, which another consumer is applying:
    it looks again in hand (0.1, 0.2, … s) instead of spending the wait queue's delay."""
    missing = DependencyMissing("company not in Bitrix24 yet", missing=["counterparty/x"])
    handler = ScriptedHandler([missing, missing, missing])
    waiting_before = consumed("counterparty", "waiting")
    resolved_before = sample_of(metrics.DEPENDENCY_WAITS_IN_HAND, consumer="counterparty", result="resolved")
    event_id = await applied_once(handler, amqp_url, wait_in_hand=2.0)
    assert handler.applied == [event_id] and handler.calls == 4
    assert consumed("counterparty", "waiting") == waiting_before  # never went through the wait queue
    assert sample_of(metrics.DEPENDENCY_WAITS_IN_HAND, consumer="counterparty", result="resolved") == \
        resolved_before + 1


async def test_a_dependency_still_missing_after_the_looks_in_hand_goes_to_the_wait_queue(amqp_url):
    missing = DependencyMissing("company not in Bitrix24 yet", missing=["counterparty/x"])
    handler = ScriptedHandler([missing] * 5)  # 0.1 + 0.2 s in hand, then the queue
    waiting_before = consumed("counterparty", "waiting")
    event_id = await applied_once(handler, amqp_url, wait_in_hand=0.35)
    assert handler.applied == [event_id] and handler.calls == 6
    # the first delivery looked twice in hand then queued; a message back from the wait queue waits there
    assert consumed("counterparty", "waiting") - waiting_before == 3


async def test_a_dependency_missing_beyond_its_budget_is_dead_lettered_as_dependency_missing(amqp_url):
    handler = ScriptedHandler([DependencyMissing("no company")] * 10)
    _, body = valid_event()
    await publish(amqp_url, body, "dep-1")
    stop, task = await run_consumer(handler, amqp_url, wait_budget=1.5)
    letters = await wait_for(lambda: dead_letters(amqp_url), timeout=30)
    await settle(stop, task)
    assert [l.reason for l in letters] == ["dependency_missing"]


async def test_while_bitrix24_is_down_the_message_is_held_not_retried_or_dead_lettered(amqp_url):
    down = B24TransportError("crm.company.list", "", "connection refused")
    handler = ScriptedHandler([down, down, down])
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url)
    assert await wait_for(lambda: _async(handler.applied), timeout=60)
    await settle(stop, task)
    assert handler.applied == [event_id] and handler.calls == 4
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for tier in range(len(TARGET.retry_delays)):
            q = await channel.declare_queue(TARGET.retry_queue(tier), passive=True)
            assert q.declaration_result.message_count == 0
    assert await dead_letters(amqp_url) == []


async def test_a_method_paused_by_the_portal_holds_only_its_message_while_others_flow(amqp_url):
    import time

    from bridge.errors import B24OperationTimeLimit

    blocked = B24OperationTimeLimit("crm.deal.update", "OPERATION_TIME_LIMIT", "blocked", 429,
                                    reset_at=time.time() + 2)
    handler = ScriptedHandler([blocked])  # the first message hits the paused method once
    first_id, first = valid_event()
    second_id, second = valid_event()
    await publish(amqp_url, first, first_id)
    stop, task = await run_consumer(handler, amqp_url)
    await wait_for(lambda: _async(handler.calls >= 1))
    await publish(amqp_url, second, second_id)
    assert await wait_for(lambda: _async(len(handler.applied) == 2), timeout=30)
    await settle(stop, task)
    assert handler.applied == [second_id, first_id]  # the second went through while the first waited


async def test_a_channel_the_broker_closes_is_replaced_and_consuming_goes_on(amqp_url):
    """RabbitMQ closes a channel that breaks its rules (e.g. consumer_timeout); the consumer must notice."""
    handler = ScriptedHandler()
    consumer = Consumer(handler, connector(amqp_url), ConsumerConfig(prefetch=4))
    seen = []
    original = consumer._on_message

    async def spy(message):
        seen.append(message)
        await original(message)

    consumer._on_message = spy
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    first_id, first = valid_event()
    await publish(amqp_url, first, first_id)
    assert await wait_for(lambda: _async(len(handler.applied) == 1))
    await seen[0].channel.basic_ack(delivery_tag=987654)  # an unknown tag: the broker closes this channel
    second_id, second = valid_event()
    await publish(amqp_url, second, second_id)
    assert await wait_for(lambda: _async(len(handler.applied) == 2), timeout=30)
    await settle(stop, task)
    assert handler.applied == [first_id, second_id]


async def test_a_message_held_too_long_goes_back_to_the_broker_and_is_applied_later(amqp_url):
    down = B24TransportError("crm.company.list", "", "connection refused")
    handler = ScriptedHandler([down] * 3)
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop = asyncio.Event()
    consumer = Consumer(handler, connector(amqp_url), ConsumerConfig(prefetch=4, hold_limit=0.5))
    task = asyncio.create_task(consumer.run(stop))
    assert await wait_for(lambda: _async(handler.applied), timeout=60)
    await settle(stop, task)
    assert handler.applied == [event_id]
    assert await dead_letters(amqp_url) == []


async def test_a_webhook_the_portal_refuses_pauses_the_consumer_instead_of_dead_lettering(amqp_url):
    from bridge.errors import B24AuthError

    refused = B24AuthError("crm.company.list", "INVALID_CREDENTIALS", "Invalid request credentials", 401)
    handler = ScriptedHandler([refused, refused])
    event_id, body = valid_event()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url)
    assert await wait_for(lambda: _async(handler.applied), timeout=60)
    await settle(stop, task)
    assert handler.applied == [event_id]
    assert await dead_letters(amqp_url) == []


async def test_a_lost_database_under_the_handler_pauses_like_an_unreachable_portal(amqp_url):
    def retried() -> float:  # the consumer's own count of messages sent to a retry tier
        return consumed("counterparty", "retried")

    handler = ScriptedHandler([ConnectionRefusedError(111, "Connection refused"),
                               asyncpg.TooManyConnectionsError("sorry, too many clients already")])
    event_id, body = valid_event()
    before = retried()
    await publish(amqp_url, body, event_id)
    stop, task = await run_consumer(handler, amqp_url)
    assert await wait_for(lambda: _async(handler.applied), timeout=60)
    await settle(stop, task)
    assert handler.applied == [event_id] and handler.calls == 3
    assert retried() == before  # held in hand, never sent through the retry tiers
    assert await dead_letters(amqp_url) == []
