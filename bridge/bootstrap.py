"""The composition root: everything that connects is built here, from settings, and nowhere else.

``async with build(settings, Needs(...)) as root`` yields the pool, the Bitrix24 client, the mapping and
the broker connection factory a command asked for, and closes them when the block ends.  The ``run_*``
coroutines (and the one-shot commands: ``portal``, ``trace``, ``dlq``, ``reconcile``, the demo) are thin users of it;
components take what they need (a pool, a :class:`~bridge.broker.Connect`), never a URL.  Nothing connects
at import time.  Each ``run_*`` coroutine runs until ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from . import broker, db, metrics, ops_http, outcomes, review, startup, statistics
from . import console as console_mod
from . import mapping as mapping_mod
from .b24 import B24, B24Client, client_from_settings, lookup
from .console.auth import Credentials, Signer
from .consumer import Consumer, ConsumerConfig, Handler
from .dlq_sink import DeadLetterSink
from .errors import ConfigError
from .ingest import IngestConfig, create_app
from .notices import Watcher
from .relay import Relay
from .settings import Settings
from .sync.counterparty import CounterpartyHandler
from .sync.deal import DealHandler
from .sync.product import ProductHandler
from .working_hours import WorkingHours

log = logging.getLogger(__name__)

# --- pool sizes: every pool the bridge opens is sized here ----------------------------------------------

COMMAND_POOL_SIZE = 2  # one-shot commands (trace, portal in OAuth mode, the demo's checks): a few queries
RELAY_POOL_SIZE = 4  # claim + mark, backlog gauges, purges (+ one LISTEN connection of its own)
INGEST_POOL_SIZE = Settings.model_fields["ingest_pool_size"].default  # 10 concurrent POST /v1/events per process
CONSOLE_POOL_SIZE = 4  # the operator console: page queries and replay/purge
# A consumer process's pool, whatever the prefetch: a message takes a connection only for its short
# transactions (bridge.links.UnitOfWork), never across Bitrix24 calls, so messages in flight queue for a
# few connections instead of holding one each (prefetch 32 × 3 consumers once needed ~100: PostgreSQL's
# max_connections).  Covers the token store, the shared rate bucket, the outcome recorder and the probes.
CONSUMER_POOL_SIZE = 5
RUN_ALL_POOL_SIZE = 16  # `b24bridge run`: consumers, ingest and relay in one process, one pool
# The whole bridge at its defaults: an ingest (10), a relay (4 + its LISTEN connection) and the consumers
# of the three targets, one process each as the Helm chart deploys them (3 × 5) — or all in one process.
# The chart's two ingest replicas take 5 each (BRIDGE_INGEST_POOL_SIZE), so it stays within the same 30.
BRIDGE_CONNECTIONS_MAX = INGEST_POOL_SIZE + RELAY_POOL_SIZE + 1 + 3 * CONSUMER_POOL_SIZE  # 30
RECONCILE_POOL_SIZE = 4  # `b24bridge reconcile`: links and projection, and a repair's push (its unit of work,
#                          the in-doubt mark on a second connection, the token store in OAuth mode)


def consumer_pool_size(settings: Settings, names: list[str]) -> int:
    """A bounded pool, independent of the prefetch and of the number of consumers in the process."""
    return CONSUMER_POOL_SIZE


def run_all_pool_size(settings: Settings) -> int:
    return RUN_ALL_POOL_SIZE


# --- build ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needs:
    """What a command asks :func:`build` for; anything not asked for is not built (or connected)."""

    pool_size: int = 0  # PostgreSQL pool of this many connections; 0 = no pool
    b24: bool = False  # the Bitrix24 client (in OAuth mode it keeps tokens in PostgreSQL: a small pool comes too)
    mapping: bool = False  # the mapping file (BRIDGE_MAPPING_FILE), read and checked
    broker: bool = False  # the RabbitMQ connection factory


class Root:
    """What :func:`build` made; asking for something that was not in ``needs`` is a programming error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None
        self._b24: B24Client | None = None
        self._mapping: mapping_mod.Mapping | None = None
        self._connect: broker.Connect | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        return _asked(self._pool, "pool_size")

    @property
    def b24(self) -> B24Client:
        return _asked(self._b24, "b24")

    @property
    def mapping(self) -> mapping_mod.Mapping:
        return _asked(self._mapping, "mapping")

    @property
    def connect(self) -> broker.Connect:
        return _asked(self._connect, "broker")


def _asked(value: Any, need: str) -> Any:
    if value is None:
        raise RuntimeError(f"build(): Needs({need}=…) was not asked for")
    return value


@asynccontextmanager
async def build(settings: Settings, needs: Needs) -> AsyncIterator[Root]:
    """Build what ``needs`` asks for (mapping first: a bad file is reported before anything connects)."""
    root = Root(settings)
    async with AsyncExitStack() as stack:
        if needs.mapping:
            root._mapping = mapping_mod.load(settings.mapping_file)
        pool_size = needs.pool_size or (COMMAND_POOL_SIZE if needs.b24 and settings.b24_oauth_client_id else 0)
        if pool_size:
            root._pool = await db.create_pool(settings.database_url.get_secret_value(), max_size=pool_size)
            stack.push_async_callback(root._pool.close)
            await db.require_schema(root._pool, settings.database_url.get_secret_value())
        if needs.b24:
            root._b24 = client_from_settings(settings, root._pool)
            stack.push_async_callback(root._b24.aclose)
        if needs.broker:
            root._connect = broker.connector(settings.amqp_url.get_secret_value())
        yield root


# The handler of each consumer target in topology.ROUTES (matched by its ``name``).
HANDLERS = (CounterpartyHandler, ProductHandler, DealHandler)


def handler_factories() -> dict[str, Callable[[asyncpg.Pool, B24, mapping_mod.Mapping], Handler]]:
    """Consumer targets by name → a function (pool, b24, mapping) → Handler."""
    return {h.name: h for h in HANDLERS}


def check_targets(names: list[str]) -> None:
    """Refuse unknown consumer targets before anything connects."""
    known = handler_factories()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"BRIDGE_CONSUMER_ENTITIES / --entity: unknown consumer(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")


def build_handlers(names: list[str], pool: asyncpg.Pool, b24: B24,
                   mapping: mapping_mod.Mapping) -> list[Handler]:
    check_targets(names)
    factories = handler_factories()
    return [factories[n](pool, b24, mapping) for n in names]


def _db_check(pool: asyncpg.Pool):
    async def check() -> None:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    return check


def _relay(root: Root) -> Relay:
    settings = root.settings
    return Relay(root.pool, root.connect, listen_dsn=settings.database_url.get_secret_value(),
                 batch_size=settings.relay_batch_size, poll_interval=settings.relay_poll_interval,
                 trace_retention=timedelta(days=settings.trace_retention_days),
                 working_hours=WorkingHours.parse(settings.working_hours))


def _consumers(root: Root, names: list[str]) -> list[Consumer]:
    """One consumer per handler; a handler may set its own wait budget (how long to wait for dependencies).
    Every consumer records its outcomes for `b24bridge trace`."""
    lookup.configure(lookup.Preread(root.settings.b24_preread_max_rows, root.settings.b24_preread_ttl))
    handlers = build_handlers(names, root.pool, root.b24, root.mapping)
    recorder = outcomes.OutcomeRecorder(root.pool)
    return [Consumer(h, root.connect,
                     ConsumerConfig(prefetch=root.settings.consumer_prefetch,
                                    wait_budget=getattr(h, "wait_budget", ConsumerConfig.wait_budget),
                                    wait_in_hand=root.settings.consumer_wait_in_hand),
                     recorder=recorder, review=review.ReviewStore(root.pool))
            for h in handlers]


async def run_relay(settings: Settings, stop: asyncio.Event, *, serve_http: bool = True) -> None:
    async with build(settings, Needs(pool_size=RELAY_POOL_SIZE, broker=True)) as root:
        tasks = [asyncio.create_task(_relay(root).run(stop)), asyncio.create_task(statistics.keep(root.pool, stop))]
        if serve_http:
            app = ops_http.ops_app({"postgresql": _db_check(root.pool), "rabbitmq": lambda: broker.ready(root.connect)},
                                   metrics.registry("relay"))
            tasks.append(asyncio.create_task(ops_http.serve(app, settings.ingest_host, settings.relay_metrics_port, stop)))
        await _gather_until_stop(tasks, stop)


async def run_consumers(settings: Settings, stop: asyncio.Event, *, entities: list[str] | None = None,
                        serve_http: bool = True) -> None:
    names = entities or settings.consumer_entities
    check_targets(names)
    needs = Needs(pool_size=consumer_pool_size(settings, names), b24=True, mapping=True, broker=True)
    async with build(settings, needs) as root:
        consumers = _consumers(root, names)
        tasks = [asyncio.create_task(startup.consume(settings, root.b24, root.mapping, consumers, stop)),
                 asyncio.create_task(_dead_letter_sink(root, consumers).run(stop)),
                 asyncio.create_task(_watcher(root, consumers).run(stop)),
                 asyncio.create_task(statistics.keep(root.pool, stop)),
                 asyncio.create_task(review.keep_open_gauge(root.pool, stop))]
        if serve_http:
            app = ops_http.ops_app({"postgresql": _db_check(root.pool), "rabbitmq": lambda: broker.ready(root.connect)},
                                   metrics.registry("consumer"))
            tasks.append(asyncio.create_task(
                ops_http.serve(app, settings.ingest_host, settings.consumer_metrics_port, stop)))
        await _gather_until_stop(tasks, stop)


def _dead_letter_sink(root: Root, consumers: list[Consumer]) -> DeadLetterSink:
    """The sink that moves this process's dead letters (and onec.unrouted) into PostgreSQL."""
    return DeadLetterSink(root.pool, root.connect, [c.handler.target for c in consumers])


def _watcher(root: Root, consumers: list[Consumer]) -> Watcher:
    """The notice watcher beside this process's consumers (tells Bitrix24 users when the exchange is stuck)."""
    return Watcher.for_consumers(root.pool, root.b24, root.mapping, root.settings, consumers)


async def run_ingest(settings: Settings, stop: asyncio.Event) -> None:
    config = _ingest_config(settings)
    if not config.tokens:  # before connecting: the empty token list is the error to report
        create_app(config)
    # the pool is opened here, not in the app's lifespan, so a wrong database is a ConfigError, not a
    # failed ASGI start-up that uvicorn logs as a traceback
    async with build(settings, Needs(pool_size=settings.ingest_pool_size)) as root:
        app = create_app(config, pool=root.pool, registry=metrics.registry("ingest"))
        await ops_http.serve(app, settings.ingest_host, settings.ingest_port, stop, lifespan="on")


def _ingest_config(settings: Settings) -> IngestConfig:
    bindings = settings.token_bindings()
    return IngestConfig([t for t, _ in bindings], settings.ingest_max_body_bytes, settings.ingest_max_batch,
                        settings.ingest_body_timeout,
                        sources={t: names for t, names in bindings if names is not None})


def console_config(settings: Settings) -> console_mod.ConsoleConfig:
    """The console's credentials from the settings; a ConfigError when there are none (it never runs open)."""
    credentials = Credentials.parse([u.get_secret_value() for u in settings.console_users],
                                    [t.get_secret_value() for t in settings.console_tokens])
    key = settings.console_session_key.get_secret_value().encode() if settings.console_session_key else None
    return console_mod.ConsoleConfig(credentials, Signer(key), settings.console_grafana_url)


def _console_serve(settings: Settings, config: console_mod.ConsoleConfig, pool: asyncpg.Pool, registry,
                   stop: asyncio.Event):
    app = console_mod.create_app(config, pool, registry, {"postgresql": _db_check(pool)})
    return ops_http.serve(app, settings.console_host or settings.ingest_host, settings.console_port, stop)


async def run_console(settings: Settings, stop: asyncio.Event) -> None:
    """The operator console alone (`b24bridge console`): PostgreSQL only."""
    config = console_config(settings)  # before connecting: no credentials is the error to report
    async with build(settings, Needs(pool_size=CONSOLE_POOL_SIZE)) as root:
        await _console_serve(settings, config, root.pool, metrics.registry("console"), stop)


def console_wanted(settings: Settings) -> bool:
    """`b24bridge run` serves the console when it has credentials (small installs and demos run without)."""
    return bool(settings.console_users or settings.console_tokens)


async def run_all(settings: Settings, stop: asyncio.Event) -> None:
    """Ingest, relay, consumers and (with credentials) the console in one process (`b24bridge run`): the
    ingest's port, the console's own port, one pool."""
    check_targets(settings.consumer_entities)
    console = console_config(settings) if console_wanted(settings) else None
    needs = Needs(pool_size=run_all_pool_size(settings), b24=True, mapping=True, broker=True)
    async with build(settings, needs) as root:
        registry = metrics.registry("ingest", "relay", "consumer", *(["console"] if console else []))
        app = create_app(_ingest_config(settings), pool=root.pool,
                         extra_ready={"rabbitmq": lambda: broker.ready(root.connect)}, registry=registry)
        consumers = _consumers(root, settings.consumer_entities)
        tasks = [asyncio.create_task(_relay(root).run(stop)),
                 asyncio.create_task(startup.consume(settings, root.b24, root.mapping, consumers, stop)),
                 asyncio.create_task(_dead_letter_sink(root, consumers).run(stop)),
                 asyncio.create_task(_watcher(root, consumers).run(stop)),
                 asyncio.create_task(statistics.keep(root.pool, stop)),
                 asyncio.create_task(review.keep_open_gauge(root.pool, stop)),
                 asyncio.create_task(ops_http.serve(app, settings.ingest_host, settings.ingest_port, stop))]
        if console:
            tasks.append(asyncio.create_task(_console_serve(settings, console, root.pool, registry, stop)))
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
