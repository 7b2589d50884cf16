"""The wire format, in one place: how an outbox row becomes an AMQP message and how a delivery is read back.

A message is the event's JSON (contract v1, UTF-8), persistent, ``message_id`` = ``event_id``,
``type`` = event type, ``timestamp`` = publish time, with headers naming the 1C source, entity and id so
operators can filter dead letters without parsing bodies.  Retry bookkeeping lives in ``x-bridge-*``
headers that only the consumer framework writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika

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
H_REPLAYED = "x-bridge-replayed"  # times an operator replayed it (from the dead-letter table, via the outbox)
H_RECEIVED = "x-received-at"  # when the ingest accepted the event (unix milliseconds, an int): apply latency
# headers saying an earlier attempt of this message may have run its handler (so may have written Bitrix24)
EARLIER_ATTEMPT_HEADERS = (H_ATTEMPT, H_FIRST_FAILED, H_WAIT_SINCE, H_REPLAYED)


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
        headers={H_SOURCE: msg.source, H_ENTITY: msg.entity, H_ENTITY_ID: msg.entity_id, H_VERSION: msg.version,
                 **({H_REPLAYED: msg.replays} if msg.replays else {}),
                 **({H_RECEIVED: int(msg.received_at.timestamp() * 1000)} if msg.received_at else {})},
    )


@dataclass
class Delivery:
    """A consumed message, decoded: the event as a dict plus the bridge's bookkeeping headers."""

    message_id: str | None
    event: dict[str, Any]
    headers: dict[str, Any] = field(default_factory=dict)
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
    """Read an incoming message; a body that is not a JSON object is poison."""
    try:
        event = json.loads(message.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonMessage(f"body is not JSON: {exc}", reason="unparseable") from exc
    if not isinstance(event, dict):
        raise PoisonMessage("body is JSON but not an event object", reason="unparseable")
    return Delivery(message.message_id, event, dict(message.headers or {}), bool(message.redelivered))


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
