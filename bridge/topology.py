"""The RabbitMQ topology as data, and one function that declares it (idempotently) from that data.

::

    onec.<entity>  (topic, durable, alternate-exchange → onec.unrouted)     one per 1C entity, the relay publishes here
        └─ <entity>.upserted ─► b24.<target>                                quorum queue per consumer target
    onec.unrouted  (fanout) ─► onec.unrouted                                events no consumer takes yet: kept, counted
    b24.<target>.retry.<tier>  (quorum, TTL, dead-letters back into b24.<target>)   delayed retries, one queue per delay
    b24.<target>.wait.<N>s     (quorum, TTL, dead-letters back)                      dependency waits (not counted)
    b24.dlx (direct) ─► b24.<target>.dlq                                    dead letters: poison, permanent errors,
                                                                            exhausted retries, the queue's delivery limit;
                                                                            the sink moves them into PostgreSQL

Whichever component starts first (relay or a consumer) declares everything; declaring again with the same
arguments is a no-op.  Changing an argument of an existing queue needs a migration (RabbitMQ refuses it
with PRECONDITION_FAILED, reported as a ConfigError naming the queue).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aio_pika
import aiormq

from onec_outbox.contract import ENTITIES  # the 1C entity names: the contract's, one exchange each

from .errors import ConfigError

# The one routing table: 1C entity → consumer target.  Everything else follows from it: the exchange
# onec.<entity>, the routing key <entity>.upserted, the queue b24.<target> and its retry/wait/dead-letter
# queues, and the handler (the class whose ``name`` is the target: bootstrap.HANDLERS).  An entity not
# listed has no consumer yet: its events are kept in onec.unrouted.
ROUTES: dict[str, str] = {
    "counterparty": "counterparty",
    "product": "product",
    # one queue for the whole order lifecycle: the deal is a function of all four kinds of documents
    "customer_order": "deal",
    "invoice": "deal",
    "payment": "deal",
    "shipment": "deal",
}
UNROUTED = "onec.unrouted"
DLX = "b24.dlx"
DEFAULT_DELIVERY_LIMIT = 10  # redeliveries of one message (consumer crashes) before the queue dead-letters it
# The dead-letter queues and onec.unrouted only carry messages to the sink, which never rejects; a delivery
# limit there can only drop a dead letter.  RabbitMQ 4.x gives quorum queues a default limit of 20 (with no
# dead-letter exchange: dropped), so the limit is set explicitly, high enough never to be reached by sink
# restarts.  Not -1 ("unlimited" on 4.x): 3.x refuses a negative limit, and the argument must be the same
# on both so that upgrading the broker does not change it.
DEAD_LETTER_DELIVERY_LIMIT = 1_000_000
DEFAULT_RETRY_DELAYS = (5, 30, 120, 600, 1800)  # seconds; a retryable failure moves one tier up per attempt
# Seconds between looks for a missing dependency: soon at first, then about as long as it has waited so far
# (at most a minute).  A document that arrives just before its counterparty is back in 5 s, while one
# that waits for a backlog of counterparties (catching up after an outage) comes back 5 times in its first
# minute rather than 12: each trip runs its handler and a publish, CPU the counterparties it waits for need.
DEFAULT_WAIT_DELAYS = (5, 10, 20, 40, 60)


def exchange_for(entity: str) -> str:
    return f"onec.{entity}"


def routing_key_for(event_type: str) -> str:
    return event_type


@dataclass(frozen=True)
class Target:
    """A consumer's queue: which entity exchanges and event types feed it."""

    name: str  # "counterparty" → queue "b24.counterparty"
    sources: tuple[tuple[str, str], ...]  # (entity, event_type) pairs bound to the queue
    retry_delays: tuple[int, ...] = DEFAULT_RETRY_DELAYS
    wait_delays: tuple[int, ...] = DEFAULT_WAIT_DELAYS
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT

    @property
    def queue(self) -> str:
        return f"b24.{self.name}"

    @property
    def dlq(self) -> str:
        return f"{self.queue}.dlq"

    def wait_queue(self, waited: float = 0.0) -> str:
        """The delay queue for a message that has waited ``waited`` seconds for a dependency so far: the
        longest delay not above that, the shortest at first (so a wait grows about twofold per trip)."""
        delays = sorted(self.wait_delays)
        delay = max((d for d in delays if d <= waited), default=delays[0])
        return f"{self.queue}.wait.{delay}s"

    def retry_queue(self, tier: int) -> str:
        return f"{self.queue}.retry.{self.retry_delays[tier]}s"

    @property
    def event_types(self) -> frozenset[str]:
        """What the target's handler accepts (anything else on its queue is dead-lettered as unknown)."""
        return frozenset(event_type for _, event_type in self.sources)


def _targets(routes: dict[str, str]) -> dict[str, Target]:
    return {name: Target(name, tuple((entity, upserted(entity)) for entity, t in routes.items() if t == name))
            for name in dict.fromkeys(routes.values())}


def upserted(entity: str) -> str:
    return f"{entity}.upserted"


TARGETS: dict[str, Target] = _targets(ROUTES)


@dataclass(frozen=True)
class QueueSpec:
    name: str
    arguments: dict = field(default_factory=dict)
    bindings: tuple[tuple[str, str], ...] = ()  # (exchange, routing key)


def _quorum(**extra) -> dict:
    return {"x-queue-type": "quorum", **extra}


def _dead_letter_back(queue: str, ttl_seconds: int) -> dict:
    """A delay queue: messages expire after the TTL and dead-letter (at least once) back into ``queue``."""
    return _quorum(**{
        "x-message-ttl": ttl_seconds * 1000,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    })


def queues_for(target: Target) -> list[QueueSpec]:
    main = QueueSpec(
        target.queue,
        _quorum(**{
            "x-delivery-limit": target.delivery_limit,
            "x-dead-letter-exchange": DLX,
            "x-dead-letter-routing-key": target.dlq,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }),
        tuple((exchange_for(entity), routing_key_for(event_type)) for entity, event_type in target.sources),
    )
    specs = [main, QueueSpec(target.dlq, _quorum(**{"x-delivery-limit": DEAD_LETTER_DELIVERY_LIMIT}),
                             ((DLX, target.dlq),))]
    specs += [QueueSpec(target.retry_queue(i), _dead_letter_back(target.queue, d))
              for i, d in enumerate(target.retry_delays)]
    specs += [QueueSpec(f"{target.queue}.wait.{d}s", _dead_letter_back(target.queue, d))
              for d in sorted(set(target.wait_delays))]
    return specs


async def declare(channel: aio_pika.abc.AbstractChannel, targets: list[Target] | None = None) -> None:
    """Declare the exchanges of every entity, the unrouted and dead-letter plumbing, and the given targets."""
    targets = list(TARGETS.values()) if targets is None else targets
    try:
        unrouted = await channel.declare_exchange(UNROUTED, aio_pika.ExchangeType.FANOUT, durable=True)
        unrouted_q = await channel.declare_queue(
            UNROUTED, durable=True, arguments=_quorum(**{"x-delivery-limit": DEAD_LETTER_DELIVERY_LIMIT}))
        await unrouted_q.bind(unrouted, routing_key="")
        await channel.declare_exchange(DLX, aio_pika.ExchangeType.DIRECT, durable=True)
        for entity in ENTITIES:
            await channel.declare_exchange(
                exchange_for(entity), aio_pika.ExchangeType.TOPIC, durable=True,
                arguments={"alternate-exchange": UNROUTED},
            )
        for target in targets:
            for spec in queues_for(target):
                queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
                for exchange, key in spec.bindings:
                    await queue.bind(exchange, routing_key=key)
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise ConfigError(
            f"RabbitMQ refused the topology ({exc}): an exchange or queue exists with other arguments; "
            "see docs/operations.md 'Changing queue arguments'"
        ) from exc
