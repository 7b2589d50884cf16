"""The wire format, in one place: how an outbox row becomes an AMQP message and how a delivery is read back.

A message is the event's JSON (contract v1, UTF-8), persistent, ``message_id`` = ``event_id``,
``type`` = event type, ``timestamp`` = publish time, with headers naming the 1C source, entity and id so
operators can filter dead letters without parsing bodies, and ``x-body-sha256``: the checksum of the body
the ingest validated.  A consumer trusts a body whose checksum matches (it reads it back in one pass,
:func:`onec_outbox.contract.parse_stored_event`), validates in full one that has none (published by hand),
and dead-letters one whose body no longer matches its checksum.  Retry bookkeeping lives in ``x-bridge-*``
headers that only the consumer framework writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq

from .errors import PoisonMessage

H_SOURCE = "x-source"
H_ENTITY = "x-entity"
H_ENTITY_ID = "x-entity-id"
H_VERSION = "x-version"
H_ATTEMPT = "x-bridge-attempt"  # retryable failures so far
H_FIRST_FAILED = "x-bridge-first-failed-at"
H_WAIT_SINCE = "x-bridge-waiting-since"  # first time a dependency was missing (unix milliseconds, an int:
#                                          AMQP tables carry Python floats as 32-bit floats, off by minutes)
H_REASON = "x-bridge-reason"  # why a message is in a DLQ
H_ERROR = "x-bridge-error"  # the error text (no secrets: our errors never carry them)
H_QUEUE = "x-bridge-queue"  # the queue it failed in (replay target)
H_FAILED_AT = "x-bridge-failed-at"
H_CHECKSUM = "x-body-sha256"  # hex SHA-256 of the body as the ingest stored it (after validating it)
H_REPLAYED = "x-bridge-replayed"  # times an operator replayed it (from the dead-letter table, via the outbox)
H_RECEIVED = "x-received-at"  # when the ingest accepted the event (unix milliseconds, an int): apply latency
# headers saying an earlier attempt of this message may have run its handler (so may have written Bitrix24)
H_HELD = "x-bridge-held"  # handed back to the broker after being held too long: its handler has run
EARLIER_ATTEMPT_HEADERS = (H_ATTEMPT, H_FIRST_FAILED, H_WAIT_SINCE, H_REPLAYED, H_HELD)


@dataclass(frozen=True)
class OutboxMessage:
    """What the relay publishes for one outbox row."""

    event_id: str
    event_type: str
    entity: str
    source: str
    entity_id: str
    version: int
    body: bytes
    replays: int = 0  # times an operator replayed it from the dead-letter table (x-bridge-replayed)
    received_at: datetime | None = None  # the ingest's acceptance (outbox.received_at)


def to_amqp(msg: OutboxMessage) -> aio_pika.Message:
    return aio_pika.Message(
        body=msg.body,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=msg.event_id,
        type=msg.event_type,
        timestamp=datetime.now(UTC),
        headers=_headers(msg),
    )


def amqp_properties(msg: OutboxMessage, timestamp: datetime) -> aiormq.spec.Basic.Properties:
    """The same message as :func:`to_amqp`, as the AMQP properties frame the relay hands to the channel
    directly (no intermediate :class:`aio_pika.Message`; one timestamp per batch)."""
    return aiormq.spec.Basic.Properties(
        content_type="application/json", content_encoding="utf-8", delivery_mode=_PERSISTENT,
        message_id=msg.event_id, message_type=msg.event_type, timestamp=timestamp, headers=_headers(msg))


_PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


def _headers(msg: OutboxMessage) -> dict[str, Any]:
    headers: dict[str, Any] = {H_SOURCE: msg.source, H_ENTITY: msg.entity, H_ENTITY_ID: msg.entity_id,
                               H_VERSION: msg.version, H_CHECKSUM: checksum(msg.body)}
    if msg.replays:
        headers[H_REPLAYED] = msg.replays
    if msg.received_at:
        headers[H_RECEIVED] = int(msg.received_at.timestamp() * 1000)
    return headers


def checksum(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass
class Delivery:
    """A consumed message, decoded: the event as a dict plus the bridge's bookkeeping headers.

    A body that matches its checksum is not decoded here (``event`` is None, ``trusted`` is True): the
    consumer reads it with the contract in one pass."""

    message_id: str | None
    event: dict[str, Any] | None
    headers: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    event_type: str | None = None
    trusted: bool = False
    redelivered: bool = False

    @property
    def attempt(self) -> int:
        return int(self.headers.get(H_ATTEMPT) or 0)

    @property
    def received_at(self) -> float | None:
        """Unix seconds when the ingest accepted the event (``None`` for a message from an older relay)."""
        value = self.headers.get(H_RECEIVED)
        return int(value) / 1000 if value is not None else None

    @property
    def first_delivery(self) -> bool:
        """No earlier attempt of this message can have run its handler: not redelivered by the broker (set
        by the consumer from the delivery) and none of the bridge's retry, wait or replay headers."""
        return not self.redelivered and not any(h in self.headers for h in EARLIER_ATTEMPT_HEADERS)

    @property
    def waiting_since(self) -> float | None:
        """Unix seconds of the first dependency wait, if any."""
        value = self.headers.get(H_WAIT_SINCE)
        return int(value) / 1000 if value is not None else None


def decode(message: aio_pika.abc.AbstractIncomingMessage) -> Delivery:
    """Read an incoming message: a body matching its checksum is trusted as the ingest stored it; one that
    no longer matches it is poison (``checksum_mismatch``); one without a checksum must be a JSON object."""
    headers = dict(message.headers or {})
    expected = headers.get(H_CHECKSUM)
    if expected is not None:
        if isinstance(expected, bytes):
            expected = expected.decode("ascii", "replace")
        if expected != checksum(message.body):
            raise PoisonMessage(f"the body does not match its {H_CHECKSUM} header: it was changed after the "
                                "ingest validated it", reason="checksum_mismatch")
        return Delivery(message.message_id, None, headers, body=message.body, event_type=message.type, trusted=True,
                        redelivered=bool(getattr(message, "redelivered", False)))
    return Delivery(message.message_id, decode_body(message.body), headers, body=message.body, event_type=None,
                    redelivered=bool(getattr(message, "redelivered", False)))


def decode_body(body: bytes) -> dict[str, Any]:
    """The event of a body, as a dict; a body that is not a JSON object is poison."""
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"body is not JSON: {exc}", reason="unparseable") from exc
    if not isinstance(event, dict):
        raise PoisonMessage("body is JSON but not an event object", reason="unparseable")
    return event


def copy_with(message: aio_pika.abc.AbstractIncomingMessage, **headers: Any) -> aio_pika.Message:
    """The same message (body, ids, properties) with headers added or replaced, for retry and dead-lettering."""
    merged = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-death")
              and k not in ("x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
                            "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason",
                            "x-delivery-count")}
    merged.update({k: v for k, v in headers.items() if v is not None})
    for key in [k for k, v in headers.items() if v is None]:
        merged.pop(key, None)
    return aio_pika.Message(
        body=message.body,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        type=message.type,
        timestamp=message.timestamp,
        headers=merged,
    )
