"""The composition root: builds the pool, the Bitrix24 client and the components from settings.

Nothing connects at import time; the CLI commands (and tests) call these functions.  Each ``run_*``
coroutine runs until ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any

import aio_pika
import asyncpg

from . import db, metrics, ops_http
from . import mapping as mapping_mod
from .b24 import client_from_settings
from .consumer import Consumer, ConsumerConfig, Handler
from .dlq_sink import DeadLetterSink
from .errors import ConfigError
from .ingest import IngestConfig, create_app
from .notices import Watcher
from .relay import Relay
from .settings import Settings
from .working_hours import WorkingHours
from .sync.counterparty import CounterpartyHandler
from .sync.deal import DealHandler
from .sync.product import ProductHandler

log = logging.getLogger(__name__)


def handler_factories() -> dict[str, Any]:
    """Consumer targets by name → a function (pool, b24, mapping) → Handler."""
    return {"counterparty": CounterpartyHandler, "product": ProductHandler, "deal": DealHandler}


def check_targets(names: list[str]) -> None:
    """Refuse unknown consumer targets before anything connects."""
    known = handler_factories()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"BRIDGE_CONSUMER_ENTITIES / --entity: unknown consumer(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")


def build_handlers(names: list[str], pool: asyncpg.Pool, b24: Any, mapping: mapping_mod.Mapping) -> list[Handler]:
    check_targets(names)
    factories = handler_factories()
    return [factories[n](pool, b24, mapping) for n in names]


def b24_client(settings: Settings, pool: asyncpg.Pool | None):
    return client_from_settings(settings, pool=pool)


async def _amqp_ready(settings: Settings) -> None:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value(), timeout=3)
    await connection.close()


def _db_check(pool: asyncpg.Pool):
    async def check() -> None:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    return check


async def run_relay(settings: Settings, stop: asyncio.Event, *, serve_http: bool = True) -> None:
    dsn = settings.database_url.get_secret_value()
    pool = await db.create_pool(dsn, max_size=4)
    try:
        relay = Relay(pool, settings.amqp_url.get_secret_value(), listen_dsn=dsn,
                      batch_size=settings.relay_batch_size, poll_interval=settings.relay_poll_interval,
                      working_hours=WorkingHours.parse(settings.working_hours))
        tasks = [asyncio.create_task(relay.run(stop))]
        if serve_http:
            app = ops_http.ops_app({"postgresql": _db_check(pool), "rabbitmq": lambda: _amqp_ready(settings)},
                                   metrics.registry("relay"))
            tasks.append(asyncio.create_task(ops_http.serve(app, settings.ingest_host, settings.relay_metrics_port, stop)))
        await _gather_until_stop(tasks, stop)
    finally:
        await pool.close()


async def run_consumers(settings: Settings, stop: asyncio.Event, *, entities: list[str] | None = None,
                        serve_http: bool = True) -> None:
    names = entities or settings.consumer_entities
    check_targets(names)
    mapping = mapping_mod.load(settings.mapping_file)
    pool = await db.create_pool(settings.database_url.get_secret_value(),
                                max_size=max(10, settings.consumer_prefetch * len(names) + 4))
    async with AsyncExitStack() as stack:
        stack.push_async_callback(pool.close)
        b24 = b24_client(settings, pool)
        stack.push_async_callback(b24.aclose)
        consumers = _consumers(settings, build_handlers(names, pool, b24, mapping))
        tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
        tasks.append(asyncio.create_task(_dead_letter_sink(settings, pool, consumers).run(stop)))
        tasks.append(asyncio.create_task(Watcher.for_consumers(pool, b24, mapping, settings, consumers).run(stop)))
        if serve_http:
            app = ops_http.ops_app({"postgresql": _db_check(pool), "rabbitmq": lambda: _amqp_ready(settings)},
                                   metrics.registry("consumer"))
            tasks.append(asyncio.create_task(
                ops_http.serve(app, settings.ingest_host, settings.consumer_metrics_port, stop)))
        await _gather_until_stop(tasks, stop)


def _consumers(settings: Settings, handlers: list[Handler]) -> list[Consumer]:
    """One consumer per handler; a handler may set its own wait budget (how long to wait for dependencies)."""
    return [Consumer(h, settings.amqp_url.get_secret_value(),
                     ConsumerConfig(prefetch=settings.consumer_prefetch,
                                    wait_budget=getattr(h, "wait_budget", ConsumerConfig.wait_budget)))
            for h in handlers]


def _dead_letter_sink(settings: Settings, pool: asyncpg.Pool, consumers: list[Consumer]):
    """The sink that moves this process's dead letters (and onec.unrouted) into PostgreSQL."""
    return DeadLetterSink(pool, settings.amqp_url.get_secret_value(), [c.handler.target for c in consumers])


async def run_ingest(settings: Settings, stop: asyncio.Event) -> None:
    config = _ingest_config(settings)
    if not config.tokens:  # before connecting: the empty token list is the error to report
        create_app(config)
    # the pool is opened here, not in the app's lifespan, so a wrong database is a ConfigError, not a
    # failed ASGI start-up that uvicorn logs as a traceback
    pool = await db.create_pool(settings.database_url.get_secret_value(), max_size=10)
    try:
        app = create_app(config, pool=pool, registry=metrics.registry("ingest"))
        await ops_http.serve(app, settings.ingest_host, settings.ingest_port, stop, lifespan="on")
    finally:
        await pool.close()


def _ingest_config(settings: Settings) -> IngestConfig:
    return IngestConfig(settings.token_values(), settings.ingest_max_body_bytes, settings.ingest_max_batch)


async def run_all(settings: Settings, stop: asyncio.Event) -> None:
    """Ingest, relay and consumers in one process (`b24bridge run`): one HTTP port, one pool."""
    check_targets(settings.consumer_entities)
    mapping = mapping_mod.load(settings.mapping_file)
    dsn = settings.database_url.get_secret_value()
    pool = await db.create_pool(dsn, max_size=settings.consumer_prefetch * len(settings.consumer_entities) + 14)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(pool.close)
        b24 = b24_client(settings, pool)
        stack.push_async_callback(b24.aclose)
        app = create_app(_ingest_config(settings), pool=pool,
                         extra_ready={"rabbitmq": lambda: _amqp_ready(settings)},
                         registry=metrics.registry("ingest", "relay", "consumer"))
        relay = Relay(pool, settings.amqp_url.get_secret_value(), listen_dsn=dsn,
                      batch_size=settings.relay_batch_size, poll_interval=settings.relay_poll_interval,
                      working_hours=WorkingHours.parse(settings.working_hours))
        consumers = _consumers(settings, build_handlers(settings.consumer_entities, pool, b24, mapping))
        tasks = [asyncio.create_task(relay.run(stop)), *(asyncio.create_task(c.run(stop)) for c in consumers),
                 asyncio.create_task(_dead_letter_sink(settings, pool, consumers).run(stop)),
                 asyncio.create_task(Watcher.for_consumers(pool, b24, mapping, settings, consumers).run(stop)),
                 asyncio.create_task(ops_http.serve(app, settings.ingest_host, settings.ingest_port, stop))]
        await _gather_until_stop(tasks, stop)


async def _gather_until_stop(tasks: list[asyncio.Task], stop: asyncio.Event) -> None:
    """Wait for every task; if one dies with an error, stop the others and re-raise it."""
    try:
        while tasks:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                tasks.remove(task)
                if task.exception() is not None:
                    stop.set()
                    for other in tasks:
                        other.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    raise task.exception()
    finally:
        stop.set()
