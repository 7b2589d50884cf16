"""`./dev sweep` (run by CI before the tests) finds what interrupted runs left, and only that."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import aio_pika
import asyncpg
import httpx
import pytest

from bridge.demo import demo_database
from tests import leftovers, services
from tests.helpers import execute_sql
from tests.helpers import wait_for


def test_the_sweep_lists_stale_test_and_benchmark_leftovers_but_not_the_demo_or_the_bridge(pg_server, rabbit,
                                                                                           capsys):
    tag = uuid.uuid4().hex
    vhosts = [f"t-{tag[:12]}", f"b24bridge-bench_smoke_{tag[:8]}", f"keep-{tag[:8]}"]
    databases = [f"bridge_e_{tag[:12]}", f"bridge_bench_relay_{tag[:6]}", f"keep_{tag[:8]}"]
    demo = demo_database(f"postgresql://u@h/bridge_t_{tag[12:24]}", f"demo-{tag[24:32]}")  # a demo test's database
    databases.insert(2, demo.rsplit("/", 1)[1])
    with httpx.Client(base_url=rabbit.api_url, timeout=60) as api:
        for name in vhosts:
            api.put(f"/vhosts/{quote(name, safe='')}").raise_for_status()
    for name in databases:
        asyncio.run(execute_sql(pg_server, f'CREATE DATABASE "{name}"'))
    try:
        assert leftovers.main(["--dry-run"]) == 0
        out = capsys.readouterr().out
        for name in vhosts[:2] + databases[:3]:
            assert f": {name}\n" in out, out
        for name in (vhosts[2], databases[3]):
            assert f": {name}" not in out, out
        assert "the management API makes a virtual host in" in out
        with httpx.Client(base_url=rabbit.api_url, timeout=60) as api:  # a dry run drops nothing
            names = {v["name"] for v in api.get("/vhosts").json()}
        assert set(vhosts) <= names
    finally:
        with httpx.Client(base_url=rabbit.api_url, timeout=60) as api:
            for name in vhosts:
                api.delete(f"/vhosts/{quote(name, safe='')}")
        for name in databases:
            asyncio.run(execute_sql(pg_server, f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.mark.parametrize("name", ["bridge", "bridge_demo", "postgres", "test", "other_bench_data", "shop_bench_x",
                                  "bridge_t_notahexname", "bridge_tpl_12_abcdef_extra"])
def test_the_sweep_never_takes_a_database_that_is_not_a_test_or_benchmark_leftover(name):
    assert not leftovers.DATABASES.match(name)


@pytest.mark.parametrize("name", ["/", "b24bridge-demo", "prod", "t-short", "demo-notahex!"])
def test_the_sweep_never_takes_a_vhost_that_is_not_a_test_or_benchmark_leftover(name):
    assert not leftovers.VHOSTS.match(name)


def test_a_leftover_someone_is_still_connected_to_is_kept(pg_server, rabbit, capsys):
    """A run going on elsewhere (another worktree, a benchmark) keeps its database and vhost."""
    tag = uuid.uuid4().hex
    vhost, database = f"t-{tag[:12]}", f"bridge_e_{tag[:12]}"
    with httpx.Client(base_url=rabbit.api_url, timeout=60) as api:
        api.put(f"/vhosts/{vhost}").raise_for_status()
        api.put(f"/permissions/{vhost}/guest", json={"configure": ".*", "write": ".*", "read": ".*"})
    asyncio.run(execute_sql(pg_server, f'CREATE DATABASE "{database}"'))

    async def hold_and_sweep():
        conn = await asyncpg.connect(services.replace_database(pg_server, database))
        amqp = await aio_pika.connect(rabbit.with_vhost(vhost))
        try:  # the management API lists a connection once its statistics came in (every few seconds)
            async with httpx.AsyncClient(base_url=rabbit.api_url, timeout=30) as api:
                assert await wait_for(lambda: _listed(api, vhost), timeout=30)
            assert await asyncio.to_thread(leftovers.main, ["--dry-run"]) == 0
        finally:
            await amqp.close()
            await conn.close()

    try:
        asyncio.run(hold_and_sweep())
        out = capsys.readouterr().out
        assert f"{vhost} is in use, kept" in out
        assert f": {database}\n" not in out
    finally:
        with httpx.Client(base_url=rabbit.api_url, timeout=60) as api:
            api.delete(f"/vhosts/{vhost}")
        asyncio.run(execute_sql(pg_server, f'DROP DATABASE IF EXISTS "{database}"'))


async def _listed(api: httpx.AsyncClient, vhost: str) -> bool:
    return bool((await api.get(f"/vhosts/{vhost}/connections")).json())
