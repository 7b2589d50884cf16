"""What the dead-letter table keeps of a message, read from its headers (pure: no broker here)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from bridge import topology, wire
from bridge.dlq import letter_from_message

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def test_a_consumer_dead_letter_gives_reason_error_attempts_and_both_failure_times():
    letter = letter_from_message("b24.deal.dlq", message_id="e1", event_type="invoice.upserted", body=b"{}",
                                 received_at=NOW, headers={
                                     wire.H_REASON: "retries_exhausted", wire.H_ERROR: "boom",
                                     wire.H_ATTEMPT: 5, wire.H_QUEUE: "b24.deal", wire.H_ENTITY: "invoice",
                                     wire.H_FIRST_FAILED: "2026-12-02T06:00:00+00:00",
                                     wire.H_FAILED_AT: "2026-12-02T06:45:00+00:00", wire.H_REPLAYED: 2})
    assert (letter.consumer, letter.reason, letter.error, letter.attempts, letter.replays) == \
        ("deal", "retries_exhausted", "boom", 6, 2)
    assert (letter.first_failed_at.hour, letter.last_failed_at.minute) == (6, 45)
    assert (letter.exchange, letter.routing_key) == ("onec.invoice", "invoice.upserted")


def test_a_message_the_queue_dead_lettered_itself_is_a_delivery_limit_letter_with_its_deliveries():
    died = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    letter = letter_from_message("b24.product.dlq", message_id="e2", event_type="product.upserted", body=b"{}",
                                 received_at=NOW, headers={
                                     "x-delivery-count": 10,
                                     "x-death": [{"queue": "b24.product", "reason": "delivery_limit", "count": 1,
                                                  "exchange": "onec.product", "routing-keys": ["product.upserted"],
                                                  "time": died}]})
    assert (letter.consumer, letter.reason, letter.attempts) == ("product", "delivery_limit", 10)
    assert letter.last_failed_at == died and letter.headers["x-death"][0]["time"] == died.isoformat()
    assert letter.exchange == "onec.product"
    del letter.headers["x-delivery-count"]
    quiet = letter_from_message("b24.product.dlq", message_id="e2", event_type="product.upserted", body=b"{}",
                                received_at=NOW, headers=letter.headers)  # brokers that do not say
    assert quiet.attempts == topology.TARGETS["product"].delivery_limit + 1


def test_an_unrouted_event_has_reason_unrouted_no_consumer_and_no_failure():
    letter = letter_from_message(topology.UNROUTED, message_id="e3", event_type="shipment.cancelled", body=b"{}",
                                 received_at=NOW, headers={wire.H_ENTITY: "shipment"})
    assert (letter.queue, letter.consumer, letter.reason, letter.attempts) == (topology.UNROUTED, None, "unrouted", 0)
    assert (letter.last_failed_at, letter.exchange, letter.routing_key) == (None, "onec.shipment", "shipment.cancelled")


def test_a_message_without_id_is_keyed_by_its_body_and_nul_never_reaches_postgresql():
    letter = letter_from_message("b24.counterparty.dlq", message_id=None, event_type=None, body=b"\x00junk",
                                 received_at=NOW, headers={wire.H_REASON: "unparseable", wire.H_ERROR: "bad\x00byte"})
    assert letter.event_id == "sha256:" + hashlib.sha256(b"\x00junk").hexdigest()
    assert letter.error == "badbyte" and letter.body == b"\x00junk"
