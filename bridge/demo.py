"""`b24bridge demo`: a simulated 1C business day flowing through the whole bridge into a sandbox Bitrix24.

It isolates itself: a database of its own (``<database>_demo``, recreated and migrated), a RabbitMQ
virtual host of its own (``b24bridge-demo``, recreated), a sandbox portal on a local port prepared by
``portal setup``, then ingest + relay + consumers in this process, and the 1C simulator posting through the
real HTTP ingest.  It waits until every event is applied (or dead-lettered), prints a summary of what a
sales manager now sees, and compares it with what the simulator says must be there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg
import httpx
from pydantic import SecretStr

from b24_sandbox import SandboxConfig, serve_in_thread
from onec_outbox.simulator import ScenarioConfig, Sizes, expected_state, generate
from onec_outbox.simulator.sender import SendOptions, send

from . import bootstrap, schema
from . import mapping as mapping_mod
from .bootstrap import COMMAND_POOL_SIZE, Needs, build
from .dlq import DeadLetterTable
from .errors import ConfigError
from .portal.service import setup as portal_setup
from .settings import Settings
from .verify import compare as compare_in_detail

log = logging.getLogger(__name__)

DEMO_VHOST = "b24bridge-demo"
DEFAULT_TIMEOUT = 600.0


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 1
    counterparties: int = 12
    products: int = 15
    orders: int = 20
    days: int = 1
    sandbox_port: int = 8090
    ingest_port: int = 8080
    rate: float = 2.0  # the sandbox portal's request limit (a real cloud portal: 2/s, burst 50)
    burst: int = 50
    rabbitmq_api: str | None = None  # management API; default http://<amqp host>:15672/api
    vhost: str = DEMO_VHOST
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class DemoResult:
    summary: dict[str, Any]
    expected: dict[str, Any]
    board_url: str
    webhook_url: str
    ingest_url: str
    ingest_token: str  # this run's own, made up for it: what a person posting events by hand needs (--serve)
    events: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    database: str = ""  # the demo's database name: where `trace`, `dlq`, `review`, `reconcile` must look (--serve)


Progress = Callable[[str, int, int], None]  # (phase, done, total)


# --- isolation: a database and a vhost of the demo's own -----------------------------------------------


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _database_name(dsn: str, suffix: str) -> str:
    return (unquote(urlsplit(dsn).path.lstrip("/")) or "postgres") + suffix


def database_for(dsn: str, suffix: str) -> str:
    """The DSN of ``<database><suffix>`` next to the database ``dsn`` names: what :func:`fresh_database`
    makes, known before it runs (a caller that must drop it after a failure needs the name first)."""
    return _with_database(dsn, _database_name(dsn, suffix))


def database_suffix(dsn: str, vhost: str) -> str:
    """What the demo adds to the configured database's name: ``_demo`` with the default vhost, else
    ``_demo_<vhost>`` (a vhost with other characters than a–z, 0–9 and ``_`` written with ``_`` and a short
    hash of itself, so ``a-b`` and ``a_b`` stay apart), so a second demo run with its own ``--vhost`` and
    ports has its own database too instead of dropping (``WITH (FORCE)``) the first one's.  ConfigError for
    a name PostgreSQL would cut at 63 bytes (two long vhosts could then share one)."""
    if vhost == DEMO_VHOST:
        return "_demo"
    plain = re.sub(r"[^a-z0-9_]", "_", vhost.lower())
    suffix = "_demo_" + plain + ("" if plain == vhost else "_" + hashlib.sha1(vhost.encode()).hexdigest()[:6])
    name = _database_name(dsn, suffix)
    if len(name.encode()) > 63:
        raise ConfigError(f"demo: the database name {name!r} (from BRIDGE_DATABASE_URL and --vhost) is longer "
                          "than PostgreSQL's 63 bytes; choose a shorter --vhost")
    return suffix


def demo_database(dsn: str, vhost: str) -> str:
    """The DSN of the database a demo with ``--vhost vhost`` recreates."""
    return database_for(dsn, database_suffix(dsn, vhost))


async def fresh_database(dsn: str, suffix: str = "_demo") -> str:
    """Recreate ``<database><suffix>`` next to the configured database and migrate it; returns its DSN."""
    name = _database_name(dsn, suffix)
    try:
        try:
            conn = await asyncpg.connect(dsn, timeout=10)
        except asyncpg.InvalidCatalogNameError:  # the configured database is not made yet: only its server is needed
            conn = await asyncpg.connect(_with_database(dsn, "postgres"), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(f"demo: cannot reach PostgreSQL at BRIDGE_DATABASE_URL ({exc}); run ./dev services") from exc
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError as exc:
        raise ConfigError(f"demo: the database role may not create databases ({exc}); "
                          "grant CREATEDB or run ./dev services") from exc
    finally:
        await conn.close()
    demo_dsn = _with_database(dsn, name)
    await asyncio.to_thread(schema.migrate, demo_dsn)
    return demo_dsn


def _api_url(amqp_url: str, override: str | None) -> str:
    if override:
        return override.rstrip("/")
    parts = urlsplit(amqp_url)
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    return f"http://{quote(user)}:{quote(password)}@{parts.hostname or '127.0.0.1'}:15672/api"


async def fresh_vhost(amqp_url: str, api_override: str | None, name: str = DEMO_VHOST) -> str:
    """Recreate the demo's virtual host through the management API; returns the AMQP URL for it."""
    api = _api_url(amqp_url, api_override)
    user = unquote(urlsplit(amqp_url).username or "guest")
    vhost = quote(name, safe="")
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await client.delete(f"{api}/vhosts/{vhost}")
            (await client.put(f"{api}/vhosts/{vhost}")).raise_for_status()
            (await client.put(f"{api}/permissions/{vhost}/{quote(user, safe='')}",
                              json={"configure": ".*", "write": ".*", "read": ".*"})).raise_for_status()
    except httpx.HTTPError as exc:
        raise ConfigError(f"demo: the RabbitMQ management API does not answer ({type(exc).__name__}); enable it "
                          "with `rabbitmq-plugins enable rabbitmq_management` or pass --rabbitmq-api") from exc
    parts = urlsplit(amqp_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + vhost, parts.query, ""))


async def drop_vhost(amqp_url: str, api_override: str | None, name: str) -> None:
    """Delete a virtual host made by :func:`fresh_vhost` (a benchmark's: its queues may hold a backlog that
    would otherwise weigh on the node for every later run). Best effort: a clean-up never hides a result."""
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            await client.delete(f"{_api_url(amqp_url, api_override)}/vhosts/{quote(name, safe='')}")
    except httpx.HTTPError as exc:
        log.warning("demo: virtual host not dropped", extra={"vhost": name, "error": type(exc).__name__})


async def drop_database(dsn: str, made_dsn: str) -> None:
    """Drop a database made by :func:`fresh_database` next to the one ``dsn`` names (best effort, as
    :func:`drop_vhost`)."""
    name = unquote(urlsplit(made_dsn).path.lstrip("/"))
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("demo: database not dropped", extra={"database": name, "error": type(exc).__name__})


# --- the run --------------------------------------------------------------------------------------------


@asynccontextmanager
async def running_demo(settings: Settings, options: DemoOptions,
                       progress: Progress | None = None) -> AsyncIterator[tuple[DemoResult, Any]]:
    """Run the demo; yields (result, sandbox) while everything still runs (for --serve and tests)."""

    started = time.monotonic()
    say = progress or (lambda *_: None)
    say("database", 0, 1)
    configured = settings.database_url.get_secret_value()
    demo_dsn = await fresh_database(configured, database_suffix(configured, options.vhost))
    amqp_url = await fresh_vhost(settings.amqp_url.get_secret_value(), options.rabbitmq_api, options.vhost)
    say("database", 1, 1)
    token = secrets.token_urlsafe(24)
    with serve_in_thread(SandboxConfig(rate=options.rate, burst=options.burst), port=options.sandbox_port) as portal:
        say("portal setup", 0, 1)
        mapping, text = await prepare_portal(portal.webhook_url, settings.mapping_file)
        mapping_dir = tempfile.TemporaryDirectory(prefix="b24bridge-demo-")  # gone when the demo ends
        mapping_file = Path(mapping_dir.name) / "mapping.yaml"
        mapping_file.write_text(text, encoding="utf-8")
        say("portal setup", 1, 1)
        bridge_settings = settings.model_copy(update={
            "database_url": SecretStr(demo_dsn), "amqp_url": SecretStr(amqp_url),
            "b24_webhook_url": SecretStr(portal.webhook_url),
            "ingest_tokens": [SecretStr(token)], "ingest_port": options.ingest_port,
            "ingest_host": "127.0.0.1", "mapping_file": mapping_file,
            "consumer_entities": list(bootstrap.handler_factories())})
        stop = asyncio.Event()
        task = asyncio.create_task(bootstrap.run_all(bridge_settings, stop))
        ingest_url = f"http://127.0.0.1:{options.ingest_port}"
        async with AsyncExitStack() as stack:
            stack.callback(mapping_dir.cleanup)  # after the bridge stopped reading it
            stack.push_async_callback(_stop, stop, task)
            await wait_up(ingest_url, task)
            run = generate(ScenarioConfig(seed=options.seed, days=options.days, sizes=Sizes(
                counterparties=options.counterparties, products=options.products, orders=options.orders)))
            events = list(run.events)
            sending = asyncio.create_task(send(
                events, url=ingest_url, token=token,
                options=SendOptions(batch_size=100, duplicates=0.05, seed=options.seed),
                progress=lambda r: say("1C → ingest", r.delivered, r.events)))
            await asyncio.wait([sending, task], return_when=asyncio.FIRST_COMPLETED)
            if not sending.done():  # the bridge stopped while 1C was still sending: say why
                sending.cancel()
                task.result()
                raise RuntimeError("the bridge stopped while the simulator was sending")
            sending.result().raise_for_problems()
            root = await stack.enter_async_context(build(bridge_settings, Needs(pool_size=COMMAND_POOL_SIZE)))
            await drain(root.pool, len(events), options.timeout, task,
                        lambda done: say("Bitrix24 ← bridge", done, len(events)))
            expected = expected_state(events, paid_rule=mapping.deals.paid_when)
            state = portal.sandbox.state()
            summary = await summarize(state, root.pool, mapping)
            result = DemoResult(
                summary=summary, expected=expected_summary(expected, mapping), board_url=portal.base_url + "/_sandbox/",
                webhook_url=portal.webhook_url, ingest_url=ingest_url, ingest_token=token, events=len(events),
                seconds=time.monotonic() - started, database=unquote(urlsplit(demo_dsn).path.lstrip("/")))
            result.problems = compare(result.summary, result.expected) + compare_in_detail(expected, state, mapping)
            yield result, portal.sandbox


async def prepare_portal(webhook_url: str, mapping_file: Path | None):
    """`portal setup` on the sandbox: the stages and user fields the mapping needs; returns the resulting
    mapping and its YAML text."""
    text = mapping_file.read_text(encoding="utf-8") if mapping_file else mapping_mod.default_text()
    origin = str(mapping_file) if mapping_file else "embedded default mapping"
    async with build(Settings(b24_webhook_url=SecretStr(webhook_url), b24_batch_linger=0), Needs(b24=True)) as root:
        report = await portal_setup(root.b24, mapping_mod.parse(text, origin), text, origin)
    if not report.ok:
        raise ConfigError("demo: portal setup left problems: " + "; ".join(str(p) for p in report.after.problems))
    return report.mapping, report.text


async def _stop(stop: asyncio.Event, task: asyncio.Task) -> None:
    stop.set()
    try:
        await asyncio.wait_for(task, 60)
    except Exception:  # noqa: BLE001 - shutting down: nothing left to report to
        pass


async def wait_up(url: str, task: asyncio.Task) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
            if task.done():
                task.result()  # raises what stopped the bridge
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the bridge did not come up on {url}")


async def drain(pool: asyncpg.Pool, total: int, timeout: float, task: asyncio.Task,
                 progress: Callable[[int], None]) -> None:
    """Wait until every distinct event was applied by a consumer or dead-lettered (stored by the sink)."""
    letters = DeadLetterTable(pool)
    deadline = time.monotonic() + timeout
    while True:
        if task.done():
            task.result()
        applied = await pool.fetchval("SELECT count(DISTINCT event_id) FROM inbox")
        dead = sum(sum(reasons.values()) for reasons in (await letters.counts()).values())
        progress(min(applied + dead, total))
        if applied + dead >= total:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout:.0f} s only {applied + dead} of {total} events were handled")
        await asyncio.sleep(0.5)


# --- what a sales manager sees ------------------------------------------------------------------------


async def summarize(state: dict[str, Any], pool: asyncpg.Pool | None, mapping) -> dict[str, Any]:
    """Counts from the portal itself (and open dead letters from the bridge's table)."""
    stage_names = {s["STATUS_ID"]: s["NAME"] for s in state["statuses"] if s["ENTITY_ID"].startswith("DEAL_STAGE")}
    by_stage = Counter(stage_names.get(d["STAGE_ID"], d["STAGE_ID"]) for d in state["deals"])
    dead: dict[str, int] = {}
    if pool is not None:
        dead = {q: sum(reasons.values()) for q, reasons in (await DeadLetterTable(pool).counts()).items()}
    return {
        "companies": len(state["companies"]),
        "contacts": len(state["contacts"]),
        "products": len(state["products"]) or len(state.get("crm_products", [])),
        "deals": len(state["deals"]),
        "deals_by_stage": dict(sorted(by_stage.items())),
        "notifications": len(state["notifications"]),
        "dead_letters": dead,
    }


def expected_summary(expected: dict[str, Any], mapping) -> dict[str, Any]:
    """The same counts, from the simulator's expected state."""
    counterparties = expected["counterparties"].values()
    stage_names = {key: getattr(mapping.deals.stages, key).name for key in ("new", "invoiced", "shipped_unpaid",
                                                                               "paid", "cancelled")}
    by_stage = Counter(stage_names[d["stage"]] for d in expected["deals"].values())
    return {
        "companies": sum(1 for c in counterparties if c["kind"] == "company"),
        "contacts": sum(1 if c["kind"] == "contact" else 0 for c in counterparties)
        + sum(len(c.get("contact_persons") or {}) for c in counterparties if c["kind"] == "company"),
        "products": len(expected["products"]),
        "deals": len(expected["deals"]),
        "deals_by_stage": dict(sorted(by_stage.items())),
        "notifications": sum(1 for d in expected["deals"].values() if d.get("paid_notification")),
        "dead_letters": {},
    }


def compare(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Count differences.  Notifications may exceed the paid deals: a client who paid and whose payment 1C
    later unposted was notified at the time, and that notification stays."""
    def matches(key: str) -> bool:
        return actual.get(key, 0) >= expected[key] if key == "notifications" else actual.get(key) == expected[key]

    return [f"{key}: Bitrix24 shows {json.dumps(actual.get(key), ensure_ascii=False)}, "
            f"1C says {json.dumps(expected[key], ensure_ascii=False)}"
            for key in expected if not matches(key)]
