"""The consumer reads a delivery through the contract and dead-letters what the contract refuses.

The contract's ``ContractViolation`` is its own error (the contract imports nothing from the bridge);
the consumer is where it becomes a ``PoisonMessage``.
"""

from __future__ import annotations

import json
import uuid

import aio_pika
import pytest

from bridge import wire
from bridge.consumer import parse
from bridge.errors import PoisonMessage
from bridge.wire import Delivery
from onec_outbox.contract import EVENT_TYPES, ContractViolation, CounterpartyEvent, event_to_json, parse_event
from onec_outbox.simulator import ScenarioConfig, Sizes, generate
from tests.contract.samples import event


def test_a_valid_event_comes_back_as_the_contract_event():
    parsed = parse(Delivery(message_id=None, event=event("counterparty")), frozenset(EVENT_TYPES))
    assert isinstance(parsed, CounterpartyEvent)


def test_a_contract_violation_becomes_a_poison_message_with_the_field_errors():
    with pytest.raises(PoisonMessage) as caught:
        parse(Delivery(message_id=None, event=event("counterparty", version=-1)), frozenset(EVENT_TYPES))
    assert caught.value.reason == "invalid_event"
    assert isinstance(caught.value.__cause__, ContractViolation)
    assert "version" in str(caught.value)


def test_an_event_type_the_consumer_does_not_handle_is_poison():
    with pytest.raises(PoisonMessage) as caught:
        parse(Delivery(message_id=None, event=event("counterparty")), frozenset({"product.upserted"}))
    assert caught.value.reason == "unknown_event_type"


# --- the checksum: what the ingest validated is trusted, anything else is checked -----------------------


def _message(body: bytes, event_type: str = "counterparty.upserted") -> aio_pika.Message:
    return wire.to_amqp(wire.OutboxMessage(str(uuid.uuid4()), event_type, "counterparty", "ut103-main",
                                           str(uuid.uuid4()), 1, body))


def _stored(e: dict) -> bytes:
    """The body as the ingest stores it: the validated event, dumped."""
    return json.dumps(event_to_json(parse_event(e)), ensure_ascii=False).encode()


def test_a_body_matching_its_checksum_reads_back_as_the_same_event_for_every_simulated_event():
    run = generate(ScenarioConfig(seed=7, days=2, sizes=Sizes(counterparties=10, products=10, orders=15)))
    for e in run.events:
        body = _stored(e)
        delivery = wire.decode(_message(body, e["event_type"]))
        assert delivery.trusted and delivery.event is None
        assert parse(delivery, frozenset(EVENT_TYPES)) == parse_event(json.loads(body))


def test_a_body_changed_after_the_ingest_is_dead_lettered_as_a_checksum_mismatch():
    message = _message(_stored(event("counterparty")))
    message.body = message.body.replace(b'"version": 1', b'"version": 9')
    with pytest.raises(PoisonMessage) as caught:
        wire.decode(message)
    assert caught.value.reason == "checksum_mismatch"


def test_a_message_without_a_checksum_is_validated_in_full():
    message = _message(json.dumps(event("counterparty", version=-1)).encode())
    del message.headers[wire.H_CHECKSUM]  # published by hand, not by the relay
    delivery = wire.decode(message)
    assert not delivery.trusted
    with pytest.raises(PoisonMessage) as caught:
        parse(delivery, frozenset(EVENT_TYPES))
    assert caught.value.reason == "invalid_event"


def test_a_trusted_body_the_contract_refuses_still_fails_with_the_contract_errors():
    message = _message(json.dumps(event("counterparty", version=-1)).encode())  # checksum of a bad body
    with pytest.raises(PoisonMessage) as caught:
        parse(wire.decode(message), frozenset(EVENT_TYPES))
    assert caught.value.reason == "invalid_event" and "version" in str(caught.value)
    with pytest.raises(PoisonMessage) as caught:
        parse(wire.decode(_message(_stored(event("counterparty")))), frozenset({"product.upserted"}))
    assert caught.value.reason == "unknown_event_type"
