"""What reading a whole list costs `b24bridge reconcile`, against the two other ways the client reads lists.

    python -m benchmarks.reconcile_scan                  # 10 000 companies, dense and sparse IDs
    python -m benchmarks.reconcile_scan --size 50000

The sandbox portal (over HTTP, in this process's thread) is filled with ``size`` companies; "sparse" then
deletes 9 in 10 of them.  Each way reads every company (ID, ORIGINATOR_ID, ORIGIN_ID) and is measured in
HTTP requests and seconds, side by side in one run:

* ``reconcile scan`` — ``start=-1`` over ID windows, 50 windows per ``batch`` (bridge.reconcile.scan);
* ``iterate fast`` — ``start=-1`` and a ``>ID`` window, one request per 50 rows (B24Client.iterate(fast=True));
* ``list_all`` — ``start`` paging with COUNT, 50 pages per ``batch`` after the first (B24Client.list_all).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from b24_sandbox import SandboxConfig, serve_in_thread
from bridge.b24 import client_from_settings
from bridge.reconcile import ListSpec, scan
from bridge.settings import Settings

SELECT = ["ID", "ORIGINATOR_ID", "ORIGIN_ID"]


async def measure(srv, name: str, read) -> tuple[str, int, int, float]:
    client = client_from_settings(Settings(b24_webhook_url=srv.webhook_url, b24_batch_linger=0))
    try:
        before = srv.sandbox.stats()["http_requests"]
        started = time.perf_counter()
        rows = await read(client)
        seconds = time.perf_counter() - started
        return name, len(rows), srv.sandbox.stats()["http_requests"] - before, seconds
    finally:
        await client.aclose()


async def run(size: int) -> None:
    for shape in ("dense", "sparse"):
        with serve_in_thread(SandboxConfig(rate=0)) as srv:
            ids = [srv.sandbox.call("crm.company.add", {"fields": {
                "TITLE": f"ООО {i}", "ORIGINATOR_ID": "ut", "ORIGIN_ID": f"g{i}"}}).result.value for i in range(size)]
            if shape == "sparse":
                for i in ids:
                    if i % 10:
                        srv.sandbox.call("crm.company.delete", {"id": i})
            ways = [
                ("reconcile scan", lambda c: scan(c, ListSpec("company", "crm.company.list", "ID", tuple(SELECT)))),
                ("iterate fast", lambda c: c.list_all("crm.company.list", {"select": SELECT}, fast=True)),
                ("list_all", lambda c: c.list_all("crm.company.list", {"select": SELECT})),
            ]
            results = [await measure(srv, name, read) for name, read in ways]
            print(f"{shape}: {size} companies made, {results[0][1]} left")
            for name, rows, requests, seconds in results:
                print(f"  {name:<15} {rows:>6} rows  {requests:>5} requests  {seconds:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true", help="200 companies: only proves the script works")
    args = parser.parse_args()
    asyncio.run(run(200 if args.smoke else args.size))


if __name__ == "__main__":
    main()
