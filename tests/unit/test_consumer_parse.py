"""The consumer reads a delivery through the contract and dead-letters what the contract refuses.

The contract's ``ContractViolation`` is its own error (the contract imports nothing from the bridge);
the consumer is where it becomes a ``PoisonMessage``.
"""

from __future__ import annotations

import pytest

from bridge.consumer import parse
from bridge.errors import PoisonMessage
from bridge.wire import Delivery
from onec_outbox.contract import EVENT_TYPES, ContractViolation, CounterpartyEvent
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
