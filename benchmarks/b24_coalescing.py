"""How close transparent batching gets to the portal's floor: N companies created through the sandbox.

    python benchmarks/b24_coalescing.py --n 3000 --workers 96 --rate 2 --burst 50

``workers`` tasks each create companies one after another (as consumers do: prefetch × replicas), all
through one client with coalescing on, against a sandbox with the given leaky bucket.  Printed: wall
time, HTTP requests, commands per request, and both against the theoretical minimum (ceil(N/50)
requests, or ceil(N/workers) with fewer than 50 workers; those beyond the burst at ``rate`` per second) and against the same load without coalescing
(N requests; computed, since running it at 2/s would take N/2 seconds).  Refusals (503) must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

from bridge.b24 import B24Client, Batching, RateLimit, WebhookAuth
from bridge.b24.limits import MAX_BATCH_COMMANDS


def _floor_seconds(requests: int, rate: RateLimit) -> float:
    return max(0, requests - rate.burst) / rate.per_second


async def run(n: int, workers: int, rate: RateLimit, linger: float) -> None:
    from b24_sandbox import SandboxConfig, serve_in_thread

    with serve_in_thread(SandboxConfig(rate=rate.per_second, burst=rate.burst), port=0) as srv:
        queue = list(range(n))

        async def worker(b24: B24Client) -> None:
            while queue:
                i = queue.pop()
                await b24.call(
                    "crm.company.add", {"fields": {"TITLE": f"Company {i}", "ORIGIN_ID": f"bench-{i}"}}
                )

        started = time.perf_counter()
        async with B24Client(
            WebhookAuth(srv.webhook_url), rate=rate, batching=Batching(linger=linger)
        ) as b24:
            await asyncio.gather(*(worker(b24) for _ in range(workers)))
        wall = time.perf_counter() - started
        stats = srv.sandbox.stats()

    # at most `workers` calls are in flight, so at most that many can share one request
    minimum = math.ceil(n / min(workers, MAX_BATCH_COMMANDS))
    requests = stats["http_requests"]
    print(
        f"companies created          {n} by {workers} concurrent workers, portal {rate.per_second}/s burst {rate.burst}"
    )
    print(
        f"wall time                  {wall:8.1f} s   (floor {_floor_seconds(minimum, rate):.1f} s;"
        f" without coalescing at least {_floor_seconds(n, rate):.1f} s)"
    )
    print(f"HTTP requests              {requests:8d}     (minimum {minimum}; without coalescing {n})")
    print(
        f"commands per request       {stats['commands_per_request']:8.2f}     (maximum {MAX_BATCH_COMMANDS})"
    )
    print(f"requests / minimum         {requests / minimum:8.2f}")
    print(f"refused (503)              {stats['rate_limited']:8d}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=96)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--linger", type=float, default=0.02)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI): 120 companies, 8 workers, 20/s")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.workers, args.rate = 120, 8, 20.0
    asyncio.run(run(args.n, args.workers, RateLimit(args.rate, args.burst), args.linger))


if __name__ == "__main__":
    main()
