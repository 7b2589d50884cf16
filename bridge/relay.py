"""The relay: PostgreSQL outbox → RabbitMQ, at least once, in id order per claim.

One batch claims up to ``batch_size`` unpublished rows (``FOR UPDATE SKIP LOCKED``, so two relays share
the work without publishing a row twice), publishes all of them at once with publisher confirms, and marks
as published (one ``UPDATE`` for the batch) only the rows whose confirm arrived, then commits.  A crash
anywhere before the commit releases the locks and leaves the rows unpublished: another relay (or this one,
restarted) publishes them again, and consumers drop the repeats by ``event_id``.

Batches are pipelined, two in flight: while the confirms of batch N arrive, batch N+1 is already claimed
(its own transaction, on its own connection; ``SKIP LOCKED`` passes over N's locked rows) and published;
then N is marked and committed.  So the broker never waits for PostgreSQL and PostgreSQL never waits for
the broker.  Order is kept as before: one channel, batches published in claim order, rows in id order
within a batch, so the messages of one entity enter its queue in outbox order.  If a publish fails, the
batch's confirmed rows are marked, the rest of it and every later batch in flight are rolled back (they
are published again, in order, on the next channel).  Memory is bounded by two batches whatever the
backlog.

Publishes are ``mandatory``; a return raises (aio-pika ``on_return_raises``) so an unroutable message is
never counted as delivered.  The entity exchanges carry an alternate exchange, so in practice a message
no queue takes yet lands in ``onec.unrouted`` instead of being returned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg

from . import edges, heartbeat, metrics, outcomes, topology
from .broker import Connect
from .backoff import Backoff, sleep_or_stop
from .errors import BrokerUnavailable, InfrastructureError
from .outbox import Claim, Outbox
from .wire import amqp_properties
from .working_hours import WorkingHours

log = logging.getLogger(__name__)

DEFAULT_BACKLOG_EVERY = 5.0  # seconds between outbox backlog gauge updates
DEFAULT_PURGE_EVERY = 600.0  # seconds between retention purges
DEFAULT_RETENTION = timedelta(days=7)  # published rows kept for operations ("did the bridge get it?")
DEFAULT_INBOX_RETENTION = timedelta(days=30)  # processed event ids; older repeats are stopped by version guards
PIPELINE_DEPTH = 2  # batches in flight: the next is claimed and published while the last one's confirms arrive
DEFAULT_CONFIRM_TIMEOUT = 30.0  # seconds to wait for a batch's confirms (a blocked broker must not hold locks forever)


class Relay:
    def __init__(self, pool: asyncpg.Pool, connect: Connect, *, listen_dsn: str | None = None,
                 batch_size: int = 500, poll_interval: float = 1.0,
                 retention: timedelta = DEFAULT_RETENTION,
                 trace_retention: timedelta = outcomes.DEFAULT_RETENTION,
                 working_hours: WorkingHours | None = None) -> None:
        self._pool = pool
        self._working_hours = working_hours
        self._outbox = Outbox(pool)
        self._connect = connect  # called on every (re)connection
        self._listen_dsn = listen_dsn
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention = retention
        self._trace_retention = trace_retention
        self._confirm_timeout = DEFAULT_CONFIRM_TIMEOUT
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._next_backlog = 0.0
        self._next_purge = time.monotonic() + 60
        self.published = 0  # since start, for progress output

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set, reconnecting with backoff whenever RabbitMQ or PostgreSQL fails."""
        backoff = Backoff()
        try:
            while not stop.is_set():
                try:
                    with edges.broker("relay"):  # inside, the outbox's own edges name PostgreSQL
                        connection = await self._connect()
                        async with connection:
                            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                            await topology.declare(channel)
                            log.info("relay connected", extra={"action": "relay.connect"})
                            backoff.reset()
                            await self._loop(channel, stop)
                except InfrastructureError as exc:  # RabbitMQ or PostgreSQL
                    delay = backoff.next()
                    log.warning("relay lost a connection; retrying", extra={
                        "action": "relay.reconnect", "error": f"{type(exc).__name__}: {exc}", "delay": round(delay, 2)})
                    await self._backlog_gauges()  # keep the lag visible while RabbitMQ is away
                    await sleep_or_stop(stop, delay)
        finally:
            await self._unlisten()

    async def _loop(self, channel: aio_pika.abc.AbstractChannel, stop: asyncio.Event) -> None:
        exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        inflight: deque[_Batch] = deque()
        try:
            while not stop.is_set():
                await self._listen()
                self._wake.clear()
                batch = await self._start(channel, exchanges)
                if batch is not None:
                    inflight.append(batch)
                full = batch is not None and len(batch.claim.ids) >= self._batch_size
                # keep one batch in flight only while the backlog is full batches; otherwise settle all
                while inflight and (len(inflight) >= PIPELINE_DEPTH or not full):
                    await self._finish(inflight.popleft())
                if batch is None:
                    metrics.RELAY_LAST_SUCCESS.set_to_current_time()  # idle is healthy: the heartbeat moves too
                await self._housekeeping()
                if not full:
                    await _wait_any(stop, self._wake, self._poll_interval)
            while inflight:  # stopping: settle what is published rather than publish it again
                await self._finish(inflight.popleft())
        finally:
            for batch in inflight:  # a failure: these rows stay unpublished and go out again, in order
                await batch.abandon()

    async def cycle(self, channel: aio_pika.abc.AbstractChannel,
                    exchanges: dict[str, aio_pika.abc.AbstractExchange] | None = None) -> int:
        """Claim, publish, confirm and mark one batch, not pipelined; returns how many rows were claimed."""
        batch = await self._start(channel, {} if exchanges is None else exchanges)
        if batch is None:
            metrics.RELAY_LAST_SUCCESS.set_to_current_time()
            return 0
        await self._finish(batch)
        return len(batch.claim.ids)

    async def _start(self, channel: aio_pika.abc.AbstractChannel,
                     exchanges: dict[str, aio_pika.abc.AbstractExchange]) -> _Batch | None:
        """Claim a batch and hand all its messages to the channel; None when nothing is waiting."""
        started = time.perf_counter()
        with edges.postgres("outbox"):
            claim = await self._outbox.open_claim(self._batch_size)
        if not claim.ids:
            await claim.release()
            return None
        try:
            underlay = await channel.get_underlay_channel()
            timestamp = datetime.now(UTC)
            publishes = []
            for message in claim.messages:
                name = topology.exchange_for(message.entity)
                if name not in exchanges:  # checked once per channel: publishing to a missing one kills it
                    exchanges[name] = await channel.get_exchange(name, ensure=False)
                # wait=False: do not wait for each frame to reach the socket before queuing the next (the
                # channel lock keeps them in order); the confirm is what counts, awaited in _finish
                publishes.append(asyncio.ensure_future(underlay.basic_publish(
                    message.body, exchange=name, routing_key=topology.routing_key_for(message.event_type),
                    properties=amqp_properties(message, timestamp), mandatory=True, wait=False)))
        except BaseException:
            await claim.release()
            raise
        return _Batch(claim, publishes, started)

    async def _finish(self, batch: _Batch) -> None:
        """Await the batch's confirms, mark the confirmed rows in one statement and commit."""
        claim = batch.claim
        results = await _settle(batch.publishes, batch.started + self._confirm_timeout - time.perf_counter())
        confirmed = [row_id for row_id, r in zip(claim.ids, results) if not isinstance(r, BaseException)]
        with edges.postgres("outbox"):
            try:
                await claim.mark(confirmed)
                await claim.commit()
            finally:
                await claim.release()
        metrics.RELAY_BATCH_SECONDS.observe(time.perf_counter() - batch.started)
        metrics.RELAY_LAST_SUCCESS.set_to_current_time()
        published: dict[str, int] = {}
        failures = []
        for message, result in zip(claim.messages, results):
            if isinstance(result, BaseException):
                failures.append(result)
                metrics.RELAY_FAILED.labels(type(result).__name__).inc()
            else:
                published[message.entity] = published.get(message.entity, 0) + 1
        for entity, count in published.items():
            metrics.RELAY_PUBLISHED.labels(entity).inc(count)
        self.published += len(confirmed)
        log.info("relay published a batch", extra={
            "action": "relay.publish", "claimed": len(claim.ids), "confirmed": len(confirmed),
            "failed": len(failures), "first_event_id": claim.messages[0].event_id})
        if failures:
            # Rows stay unpublished; a broken channel must be rebuilt before the next try.
            raise BrokerUnavailable(
                f"{len(failures)} of {len(claim.ids)} publishes failed: {failures[0]!r}") from failures[0]

    async def _backlog_gauges(self) -> None:
        try:
            with edges.postgres("outbox backlog", every_error=True):
                backlog = {b.entity: b for b in await self._outbox.backlog()}
                await heartbeat.refresh_gauges(self._pool, self._working_hours)  # 1C's own health, from its heartbeats
        except InfrastructureError:
            return  # PostgreSQL is away too; the relay's own alerts cover that
        for entity in topology.ENTITIES:
            item = backlog.get(entity)
            metrics.OUTBOX_PENDING.labels(entity).set(item.pending if item else 0)
            metrics.OUTBOX_OLDEST_AGE.labels(entity).set(item.oldest_age if item else 0)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_backlog:
            self._next_backlog = now + DEFAULT_BACKLOG_EVERY
            await self._backlog_gauges()
        if now >= self._next_purge:
            self._next_purge = now + DEFAULT_PURGE_EVERY
            with edges.postgres("outbox purge"):
                purged = await self._outbox.purge(self._retention)
                forgotten = await self._outbox.purge_inbox(DEFAULT_INBOX_RETENTION)
                traced = await outcomes.purge(self._pool, self._trace_retention)
            if purged or forgotten or traced:
                log.info("relay purged old rows", extra={"action": "relay.purge", "outbox_rows": purged,
                                                         "inbox_rows": forgotten, "outcome_rows": traced})

    async def _listen(self) -> None:
        """Keep a LISTEN connection; if it cannot be had, polling alone still works."""
        if not self._listen_dsn or (self._listener is not None and not self._listener.is_closed()):
            return
        try:
            with edges.postgres("LISTEN", every_error=True):
                self._listener = await asyncpg.connect(self._listen_dsn, timeout=5)
                await self._listener.add_listener("bridge_outbox", lambda *_: self._wake.set())
        except InfrastructureError as exc:
            self._listener = None
            log.warning("relay could not LISTEN; polling only", extra={"action": "relay.listen", "error": str(exc)})

    async def _unlisten(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        self._listener = None


class _Batch:
    """A claimed batch whose publishes are under way."""

    __slots__ = ("claim", "publishes", "started")

    def __init__(self, claim: Claim, publishes: list[asyncio.Future], started: float) -> None:
        self.claim = claim
        self.publishes = publishes
        self.started = started

    async def abandon(self) -> None:
        """Give the batch up: publishes still pending are cancelled, the claim rolled back."""
        for publish in self.publishes:
            publish.cancel()
        await asyncio.gather(*self.publishes, return_exceptions=True)
        await self.claim.release()


async def _settle(tasks: list[asyncio.Future], timeout: float) -> list:
    """Wait for all; each result is its value or its exception (a timeout for those still pending)."""
    done, pending = await asyncio.wait(tasks, timeout=max(timeout, 0.001))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    results = []
    for task in tasks:
        if task in pending:
            results.append(TimeoutError("no publisher confirm in time"))
        elif task.exception() is not None:
            results.append(task.exception())
        else:
            results.append(task.result())
    return results


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
