"""Two thousand simulated 1C events over all six entity types go through a bridge of separate processes
(one ingest, two relays, a consumer per target) while RabbitMQ restarts, a relay and a consumer are
SIGKILLed twice each, the portal is down for 30 s and answers 503 to one call in ten, and PostgreSQL
restarts.  Afterwards every accepted event is applied, each 1C object has exactly one Bitrix24 record,
every deal is at the stage 1C's documents give it, and there are no dead letters.

PostgreSQL and RabbitMQ are private instances (``tests/chaos/services.py``): restarting the shared ones
would break everyone else's tests.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import pytest

from bridge import topology
from bridge.demo import compare, expected_summary, fresh_database, prepare_portal, summarize
from bridge.domain.product import onec_id_of_key
from bridge.verify import compare as compare_in_detail
from tests.chaos.fleet import Fleet
from tests.e2e.conftest import TOKEN, make_settings
from tests.helpers import free_port, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

SEED = 13
SCENARIO = {"counterparties": 60, "products": 80, "orders": 540, "days": 8}  # 2,100-odd events
SEND_RATE = 14.0  # events per second: the faults below land while events are still arriving
ERROR_RATE = 0.1  # one Bitrix24 request in ten answers 503
OUTAGE_SECONDS = 30
SEND_TIMEOUT = 240.0  # after the last fault; sending takes about 150 s in all
DRAIN_TIMEOUT = 420.0
WEBHOOK_PATH = "/rest/1/sandbox0webhook0code/"
CONSUMERS = ("counterparty", "product", "deal")


@dataclass
class Chaos:
    """What was done to the running bridge, and when (seconds after the first event was sent)."""

    done: list[tuple[float, str, str]] = field(default_factory=list)  # (at, kind, what exactly)
    resumed_after: float | None = None  # seconds from the portal's return to events being applied again

    def count(self) -> Counter:
        return Counter(kind for _, kind, _ in self.done)


async def test_two_thousand_events_survive_restarts_kills_and_portal_faults(chaos_postgres, chaos_rabbit, tmp_path,
                                                                             capsys):
    from onec_outbox.simulator import ScenarioConfig, Sizes, expected_state, generate
    from onec_outbox.simulator.sender import SendOptions, send

    started = time.monotonic()
    dsn = await fresh_database(chaos_postgres.url, "_chaos")
    amqp_url = chaos_rabbit.amqp_url
    sandbox_port = free_port()
    portal = f"http://127.0.0.1:{sandbox_port}"
    mapping_file = tmp_path / "mapping.yaml"
    _, env = make_settings(dsn, amqp_url, portal + WEBHOOK_PATH, mapping_file=mapping_file,
                           b24_rate_per_second=1000, b24_rate_burst=1000, log_level="INFO")
    ingest_url = f"http://127.0.0.1:{env['BRIDGE_INGEST_PORT']}"
    logs = Path(tempfile.mkdtemp(prefix="chaos-logs-"))  # kept after a failure: tmp_path is soon rotated away
    fleet = Fleet(env, logs)
    sending: asyncio.Task | None = None
    try:
        fleet.start("sandbox", "sandbox", "--port", str(sandbox_port), "--rate", "0", "--fault-seed", str(SEED),
                    "--log-level", "WARNING")
        await _healthy(portal, fleet, "sandbox")
        mapping, text = await prepare_portal(portal + WEBHOOK_PATH, None)
        mapping_file.write_text(text, encoding="utf-8")

        fleet.start("ingest", "ingest")
        fleet.start("relay-1", "relay")
        fleet.start("relay-2", "relay")
        for target in CONSUMERS:
            fleet.start(f"consume-{target}", "consume", "--entity", target)
        await _healthy(ingest_url, fleet, "ingest")

        run = generate(ScenarioConfig(seed=SEED, days=SCENARIO["days"], sizes=Sizes(
            counterparties=SCENARIO["counterparties"], products=SCENARIO["products"], orders=SCENARIO["orders"])))
        events = list(run.events)
        kinds = Counter(e["event_type"].split(".")[0] for e in events)
        assert len(events) >= 2000 and set(kinds) == set(topology.ENTITIES), kinds

        await _faults(portal, "PUT", {"seed": SEED, "errors": [
            {"method": "*", "error": "QUERY_LIMIT_EXCEEDED", "rate": ERROR_RATE}]})
        chaos = Chaos()
        t0 = time.monotonic()
        sending = asyncio.create_task(send(events, url=ingest_url, token=TOKEN, options=SendOptions(
            batch_size=50, rate=SEND_RATE, duplicates=0.05, seed=SEED, timeout=15)))
        await _make_chaos(chaos, t0, fleet, chaos_postgres, chaos_rabbit, portal, sending, dsn)
        report = await asyncio.wait_for(sending, SEND_TIMEOUT)  # the simulator retries for ever otherwise
        report.raise_for_problems()
        sent_at = time.monotonic()

        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            dead = await _drain(pool, amqp_url, fleet, len(events))
            drained_at = time.monotonic()
            await asyncio.sleep(3)  # a straggling duplicate would show up now
            outbox = await pool.fetchrow("SELECT count(*) AS rows, count(DISTINCT event_id) AS events FROM outbox")
            inbox = {str(r["event_id"]) for r in await pool.fetch("SELECT DISTINCT event_id FROM inbox")}
            by_consumer = {r["consumer"]: r["n"] for r in await pool.fetch(
                "SELECT consumer, count(DISTINCT event_id) AS n FROM inbox GROUP BY consumer ORDER BY consumer")}
            table_letters = await _dead_letter_rows(pool)
        finally:
            await pool.close()

        state = await _get_json(portal + "/_sandbox/state")
        stats = await _get_json(portal + "/_sandbox/stats")
        expected = expected_state(events, paid_rule=mapping.deals.paid_when)
        summary = await summarize(state, None, mapping)  # dead letters are checked below, at their sources
        cli_letters = _cli_dead_letters(env)
        figures = {
            "events": {"generated": len(events), "by_type": dict(sorted(kinds.items())),
                       "accepted": report.accepted, "duplicates_answered": report.duplicates,
                       "resent_on_purpose": report.resent, "ingest_retries": report.retries,
                       "outbox_rows": outbox["rows"], "applied": len(inbox),
                       "applied_by_consumer": by_consumer, "dead_letters": dead},
            "bitrix24_records": {k: v for k, v in summary.items() if k not in ("dead_letters",)},
            "bitrix24_requests": stats["http_requests"], "faults_injected": stats["faults"],
            "chaos": [f"{at:6.1f}s {what}" for at, _, what in chaos.done], "chaos_counts": dict(chaos.count()),
            "applying_again_after_portal_returned": chaos.resumed_after,
            "seconds": {"sending": round(sent_at - t0, 1), "drain_after_last_send": round(drained_at - sent_at, 1),
                        "whole_test": round(time.monotonic() - started, 1)},
        }
        with capsys.disabled():
            print("\nchaos suite figures:\n" + json.dumps(figures, ensure_ascii=False, indent=2))

        assert report.delivered == len(events), "the ingest did not confirm every event"
        assert outbox["rows"] == outbox["events"] == len(events), "the outbox holds a duplicate or misses an event"
        assert inbox == {e["event_id"] for e in events}, "an accepted event was not applied"
        assert dead == 0 and cli_letters == {} and table_letters == {}, (dead, cli_letters, table_letters)
        assert compare(summary, expected_summary(expected, mapping)) == []
        assert compare_in_detail(expected, state, mapping) == []
        _assert_one_record_per_1c_object(state, expected)
        assert chaos.count() == {"SIGKILL relay": 2, "SIGKILL consumer": 2, "RabbitMQ restart": 1,
                                 "PostgreSQL restart": 1, "portal down": 1, "portal 503s": 1}, chaos.done
    except BaseException:
        print(f"--- every component's whole log is kept in {logs}", file=sys.stderr)
        for name in fleet.running:
            print(f"--- {name} (last lines)\n{fleet.log_tail(name)}", file=sys.stderr)
        print(f"--- rabbitmq\n{chaos_rabbit.log_tail(15)}\n--- postgresql\n{chaos_postgres.log_tail(15)}",
              file=sys.stderr)
        raise
    else:
        shutil.rmtree(logs, ignore_errors=True)
    finally:
        if sending is not None:
            sending.cancel()
        fleet.stop_all()


async def _make_chaos(chaos: Chaos, t0: float, fleet: Fleet, pg, rabbit, portal: str,
                      sending: asyncio.Task, dsn: str) -> None:
    """The faults, spread over the time the simulator is sending; each runs to completion before the next.
    Each is logged with how many events were applied by then, to show it hit a bridge at work."""

    def kill_and_restart(name: str):
        def act() -> None:
            fleet.kill(name)
            time.sleep(1)
            fleet.start(name)
        return act

    async def outage() -> None:
        await _faults(portal, "POST", {"outage": {"seconds": OUTAGE_SECONDS, "mode": "drop"}})

    schedule = [  # the kills land while events flow; the outage comes last, its recovery is measured
        (10, "SIGKILL relay", "relay-1 SIGKILLed and restarted", kill_and_restart("relay-1")),
        (22, "RabbitMQ restart", "RabbitMQ stopped 3 s and started", rabbit.restart),
        (40, "SIGKILL consumer", "deal consumer SIGKILLed and restarted", kill_and_restart("consume-deal")),
        (52, "PostgreSQL restart", "PostgreSQL restarted (fast shutdown)", pg.restart),
        (64, "SIGKILL relay", "relay-1 SIGKILLed and restarted again", kill_and_restart("relay-1")),
        (76, "SIGKILL consumer", "deal consumer SIGKILLed and restarted again", kill_and_restart("consume-deal")),
        (90, "portal down", f"portal drops every connection for {OUTAGE_SECONDS} s", outage),
    ]
    for at, kind, what, act in schedule:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        if sending.done():
            sending.result()  # raises what stopped the simulator
        assert fleet.exited() == {}, f"a component stopped on its own: {fleet.exited()}"
        applied = await _applied(dsn)
        if asyncio.iscoroutinefunction(act):
            await act()
        else:
            await asyncio.to_thread(act)
        chaos.done.append((round(time.monotonic() - t0, 1), kind, f"{what} (applied by then: {applied})"))
    chaos.done.append((0.0, "portal 503s", f"portal answers 503 to {ERROR_RATE:.0%} of calls, start to end"))
    await asyncio.sleep(OUTAGE_SECONDS)
    chaos.resumed_after = await _first_progress(dsn)


async def _first_progress(dsn: str, timeout: float = 300.0) -> float | None:
    """Seconds until the consumers apply events again (a few more in the inbox), from now."""
    start = time.monotonic()
    before = await _applied(dsn) or 0
    while time.monotonic() - start < timeout:
        await asyncio.sleep(0.5)
        if (await _applied(dsn) or 0) >= before + 5:
            return round(time.monotonic() - start, 1)
    return None


async def _drain(pool: asyncpg.Pool, amqp_url: str, fleet: Fleet, total: int) -> int:
    """Wait until every event is applied or dead-lettered and no order's facts still wait for its deal;
    returns how many were dead-lettered.  A document whose order another push was recomputing is in the
    inbox once its facts are merged; when that recompute failed during the portal's outage, the deal
    catches up by the sweep (``deal.SWEEP_AFTER``, then its pause), after the last event is in."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        assert fleet.exited() == {}, f"a component stopped on its own: {fleet.exited()}"
        applied = await pool.fetchval("SELECT count(DISTINCT event_id) FROM inbox")
        dead = sum((await _broker_dead_letters(amqp_url)).values())
        waiting = await pool.fetchval("SELECT count(*) FROM order_resync")
        if applied + dead >= total and not waiting:
            return dead
        assert time.monotonic() < deadline, (f"after {DRAIN_TIMEOUT:.0f} s only {applied} of {total} applied, "
                                             f"{waiting} order fact(s) still waiting for their deal")
        await asyncio.sleep(1)


async def _applied(dsn: str) -> int | None:
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        return await conn.fetchval("SELECT count(DISTINCT event_id) FROM inbox")
    finally:
        await conn.close()


async def _broker_dead_letters(amqp_url: str) -> dict[str, int]:
    """Messages in the broker's b24.*.dlq queues (and onec.unrouted), read with passive declares."""
    names = [t.dlq for t in topology.TARGETS.values()] + [topology.UNROUTED]
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        found = {}
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            found[name] = queue.declaration_result.message_count
        return found


async def _dead_letter_rows(pool: asyncpg.Pool) -> dict[str, int]:
    """Rows in any dead-letter table of the schema (dead letters move from the broker into PostgreSQL)."""
    tables = await pool.fetch("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = 'public' AND table_name LIKE '%dead%letter%'")
    counts = {r["table_name"]: await pool.fetchval(f'SELECT count(*) FROM "{r["table_name"]}"') for r in tables}
    return {name: n for name, n in counts.items() if n}


def _cli_dead_letters(env: dict[str, str]) -> dict[str, int]:
    """`b24bridge dlq count`, as an operator would ask: lines ``<name>\\t<count>[\\t<detail>]``; the
    non-zero ones back."""
    done = subprocess.run([sys.executable, "-m", "bridge.cli", "dlq", "count"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("\t") for line in done.stdout.splitlines() if line.strip()]
    assert rows and all(len(r) >= 2 and r[1].isdigit() for r in rows), f"unexpected `dlq count`: {done.stdout}"
    return {r[0]: int(r[1]) for r in rows if int(r[1])}


def _assert_one_record_per_1c_object(state: dict, expected: dict) -> None:
    """No 1C object has two Bitrix24 records, and no record stands for an object 1C does not have."""
    def keys(records: list[dict], key: str) -> Counter:
        if key == "xmlId":  # a product's key carries its 1C base: compare the 1C id in it
            return Counter(onec_id_of_key(str(r[key])) for r in records if r.get(key))
        return Counter(str(r[key]) for r in records if r.get(key))

    persons = {p for cp in expected["counterparties"].values() for p in cp.get("contact_persons") or {}}
    wanted = {
        "companies": ({k for k, cp in expected["counterparties"].items() if cp["kind"] == "company"}, "ORIGIN_ID"),
        "contacts": ({k for k, cp in expected["counterparties"].items() if cp["kind"] == "contact"} | persons,
                     "ORIGIN_ID"),
        "products": (set(expected["products"]), "xmlId"),
        "deals": (set(expected["deals"]), "ORIGIN_ID"),
    }
    for kind, (ids, key) in wanted.items():
        found = keys(state[kind], key)
        assert {k for k, n in found.items() if n > 1} == set(), f"{kind}: several records for one 1C object"
        assert set(found) == ids, f"{kind}: Bitrix24 has {len(found)}, 1C {len(ids)}"
        assert len(state[kind]) == len(ids), f"{kind}: records without a 1C key"


async def _healthy(url: str, fleet: Fleet, name: str) -> None:
    async def up() -> bool:
        assert fleet.exited() == {}, f"{name} did not start: {fleet.exited()}\n{fleet.log_tail(name)}"
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(url + "/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    assert await wait_for(up, timeout=60, interval=0.2), f"{name} did not answer on {url}"


async def _faults(portal: str, verb: str, body: dict) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        (await client.request(verb, portal + "/_sandbox/faults", json=body)).raise_for_status()


async def _get_json(url: str) -> dict:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()
