"""`./dev sweep` (run by CI before the tests) finds what interrupted runs left, and only that."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import httpx

from tests import leftovers
from tests.conftest import _execute


def test_the_sweep_lists_stale_test_and_benchmark_leftovers_but_not_the_demo_or_the_bridge(pg_server, rabbit,
                                                                                           capsys):
    tag = uuid.uuid4().hex
    vhosts = [f"t-{tag[:12]}", f"b24bridge-bench_smoke_{tag[:8]}", f"keep-{tag[:8]}"]
    databases = [f"bridge_e_{tag[:12]}", f"bridge_bench_relay_{tag[:6]}", f"keep_{tag[:8]}"]
    with httpx.Client(base_url=rabbit.api_url, timeout=60) as api:
        for name in vhosts:
            api.put(f"/vhosts/{quote(name, safe='')}").raise_for_status()
    for name in databases:
        asyncio.run(_execute(pg_server, f'CREATE DATABASE "{name}"'))
    try:
        assert leftovers.main(["--dry-run"]) == 0
        out = capsys.readouterr().out
        for name in vhosts[:2] + databases[:2]:
            assert f": {name}\n" in out, out
        for name in (vhosts[2], databases[2], "bridge\n", "b24bridge-demo\n"):
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
            asyncio.run(_execute(pg_server, f'DROP DATABASE IF EXISTS "{name}"'))
