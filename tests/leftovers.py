"""What interrupted test and benchmark runs left on the shared PostgreSQL and RabbitMQ, and its removal.

CI runs on the machine of the session that submitted it, against the services as that session left them.
Virtual hosts of killed runs (a benchmark's 100,000-message backlog among them) and their databases stay
behind and weigh on every later run: once, every ``PUT /api/vhosts`` of a CI run timed out and all 105
tests that need a vhost failed at set-up.  ``./dev sweep`` (which ``.ci/run`` calls before the tests) drops
what the test fixtures, the demo tests and the benchmarks make, prints the node's state before and after,
then proves the management API still makes a virtual host; exit code 3 when it does not, so the caller
can restart the node (a local one only).  A vhost or database someone is connected to is kept, and so is
a test session's template while its process lives, so a run still going elsewhere keeps what it uses.

    python -m tests.leftovers [--dry-run]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import time
import uuid
from urllib.parse import quote

import asyncpg
import httpx

from tests import services

# what tests/conftest.py, tests/e2e/test_simulated_days.py (the demo's `<test db>_demo_demo_<hex>_<hash>`) and benchmarks/*.py
# (--namespace bench…, made next to the configured database: `bridge`, or `postgres` in the smoke runs) name theirs
VHOSTS = re.compile(r"^(t-[0-9a-f]{12}|demo-[0-9a-f]{8}|b24bridge-bench[a-z0-9_]*|b24bridge-canary-[0-9a-f]{8})$")
DATABASES = re.compile(r"^(bridge_t_[0-9a-f]{12}(?:_demo(?:_demo_[0-9a-f]{8}_[0-9a-f]{6})?)?|bridge_e_[0-9a-f]{12}|bridge_tpl_(\d+)_[0-9a-f]{6}"
                       r"|(bridge|postgres)_bench_[a-z0-9_]+)$")
CANARY_TIMEOUT = 30.0
EXIT_API_STUCK = 3


def node_state(api: httpx.Client) -> str:
    """One line: what the node holds and whether it is alarmed (read when a run fails at set-up)."""
    try:
        overview = api.get("/overview").json()
        nodes = api.get("/nodes").json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"management API: {type(exc).__name__}"
    totals, queued = overview.get("object_totals", {}), overview.get("queue_totals", {})
    alarms = [name for node in nodes for name in ("mem_alarm", "disk_free_alarm") if node.get(name)]
    memory = sum(node.get("mem_used", 0) for node in nodes) / 2**20
    return (f"vhosts {len(api.get('/vhosts').json())}, queues {totals.get('queues')}, "
            f"messages {queued.get('messages', 0)}, connections {totals.get('connections')}, "
            f"memory {memory:.0f} MiB, alarms {alarms or 'none'}")


def sweep_rabbitmq(rabbit: services.Rabbit, dry_run: bool) -> int:
    """Drop the leftover vhosts nobody is connected to (a run still going keeps its own); a management
    API that fails here is reported and left to the canary."""
    dropped = 0
    with httpx.Client(base_url=rabbit.api_url, timeout=120) as api:
        print(f"[sweep] RabbitMQ before: {node_state(api)}", flush=True)
        try:
            stale = [v["name"] for v in api.get("/vhosts").raise_for_status().json() if VHOSTS.match(v["name"])]
            for i, name in enumerate(stale, 1):
                vhost = quote(name, safe="")
                if api.get(f"/vhosts/{vhost}/connections").json():
                    print(f"[sweep] vhost {i}/{len(stale)}: {name} is in use, kept", flush=True)
                    continue
                print(f"[sweep] vhost {i}/{len(stale)}: {name}", flush=True)
                if not dry_run:
                    api.delete(f"/vhosts/{vhost}")
                dropped += 1
        except (httpx.HTTPError, ValueError) as exc:
            print(f"[sweep] the management API failed while sweeping ({type(exc).__name__}: {exc})", flush=True)
        print(f"[sweep] RabbitMQ after: {node_state(api)}", flush=True)
    return dropped


async def sweep_postgres(url: str, dry_run: bool) -> int:
    """Drop the leftover databases nobody is connected to (a run still going keeps its own; a template
    whose test session's process is alive too), without forcing anyone out."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        names = [r["datname"] for r in await conn.fetch(
            "SELECT datname FROM pg_database d WHERE NOT datistemplate AND NOT EXISTS "
            "(SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)")]
        stale = [n for n in names if (m := DATABASES.match(n)) and not (m.group(2) and _alive(int(m.group(2))))]
        dropped = 0
        for i, name in enumerate(stale, 1):
            print(f"[sweep] database {i}/{len(stale)}: {name}", flush=True)
            try:
                if not dry_run:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                dropped += 1
            except asyncpg.ObjectInUseError:  # someone connected meanwhile: theirs
                print(f"[sweep] database {name} came into use, kept", flush=True)
        return dropped
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def canary(rabbit: services.Rabbit) -> float | None:
    """Seconds the management API took to make and delete a virtual host, or None when it did not."""
    name = quote(f"b24bridge-canary-{uuid.uuid4().hex[:8]}", safe="")
    started = time.monotonic()
    try:
        with httpx.Client(base_url=rabbit.api_url, timeout=CANARY_TIMEOUT) as api:
            api.put(f"/vhosts/{name}").raise_for_status()
            api.delete(f"/vhosts/{name}").raise_for_status()
    except httpx.HTTPError as exc:
        print(f"[sweep] the management API did not make a virtual host within {CANARY_TIMEOUT:.0f} s "
              f"({type(exc).__name__}: {exc})", flush=True)
        return None
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list what would be dropped, drop nothing")
    parser.add_argument("--canary-only", action="store_true", help="only check that a vhost can be made")
    args = parser.parse_args(argv)
    if os.environ.get("BRIDGE_TEST_DATABASE_URL") is None and os.environ.get("BRIDGE_TEST_AMQP_URL") is None \
            and not services._port_open("127.0.0.1", 5672):
        print("[sweep] no local RabbitMQ and no BRIDGE_TEST_* URLs: nothing to sweep", file=sys.stderr)
        return 1
    try:
        rabbit, pg = services.find_rabbitmq(), services.find_postgres()
    except services.ServiceMissing as exc:
        print(f"[sweep] {exc}", file=sys.stderr)
        return 1
    finally:
        services.stop_containers()  # a container started by find_* has nothing of earlier runs in it
    if not args.canary_only:
        databases = asyncio.run(sweep_postgres(pg, args.dry_run))
        vhosts = sweep_rabbitmq(rabbit, args.dry_run)
        free = shutil.disk_usage("/").free / 2**30
        print(f"[sweep] {'would drop' if args.dry_run else 'dropped'} {vhosts} vhost(s) and {databases} "
              f"database(s); {free:.1f} GiB free on /", flush=True)
    took = canary(rabbit)
    if took is None:  # only a node on this machine may be restarted (./dev sweep does it)
        return EXIT_API_STUCK if rabbit.local else 1
    print(f"[sweep] the management API makes a virtual host in {took:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
