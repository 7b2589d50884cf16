"""What one Bitrix24 request costs the consumer's CPU, by layer: the HTTP stack against a bare socket.

    python -m benchmarks.b24_http                 # 3 rounds of 300 batch requests per path
    python -m benchmarks.b24_http --requests 1000 --rounds 5

A consumer's batch request (20 look-ups by key, as a burst of events makes them) is sent to a sandbox
portal running as its own process (its CPU is not counted) over loopback, on the consumers' event loop,
one request at a time, six ways, alternating in every round:

- **floor**: the same JSON body written to a kept-alive asyncio stream as a hand-written HTTP/1.1 request,
  the reply read by its Content-Length and decoded with ``json.loads`` — the least any client can do;
- **httpx**: ``httpx.AsyncClient.post`` of that body plus ``json.loads``, the HTTP library the bridge used
  for every request until its own client (and still uses behind a proxy or with a test transport);
- **edge**: the same body through the bridge's HTTP edge (``bridge.b24.transport.Edge.send``: its own
  HTTP/1.1 client, ``bridge.b24.http11``, the timeouts, the request-latency metric) plus ``json.loads``;
  **edge/httpx** the same edge with ``BRIDGE_B24_HTTP_CLIENT=httpx`` (the secret URL swapped in below httpx);
- **bridge**: ``B24Client.batch`` — the commands encoded, the request through the bridge's edge, the
  envelope read and each command's result, metrics and call notes; **bridge/httpx** the same over httpx.

Printed per path: the process's CPU µs per request (``time.process_time``, user + system: on loopback the
kernel's TCP work is the sender's system time) per round, the medians and each path against the floor.
docs/performance.md ("Consumer", *One Bitrix24 request*) puts it beside the consumer benchmark's
requests per event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from benchmarks.initial_load import Portal
from bridge.b24 import B24Client, client_from_settings
from bridge.b24.limits import Timeouts
from bridge.b24.query import build_command, json_body
from bridge.b24.transport import Edge
from bridge.runner import loop_factory
from bridge.settings import Settings

COMMANDS = 20


def commands() -> dict[str, tuple[str, dict]]:
    return {f"p{i}": ("crm.product.list", {"filter": {"XML_ID": f"1c-main-{i:06d}"}, "select": ["ID", "NAME"]})
            for i in range(COMMANDS)}


def batch_body() -> bytes:
    """The batch request's JSON body, commands encoded as the bridge encodes them."""
    cmd = {key: build_command(method, params) for key, (method, params) in commands().items()}
    return json_body({"halt": 0, "cmd": cmd})


class Floor:
    """A hand-written HTTP/1.1 client on one kept-alive asyncio stream (Content-Length replies only)."""

    def __init__(self, url: str) -> None:
        self.url = urlsplit(url)

    async def __aenter__(self) -> Floor:
        self.reader, self.writer = await asyncio.open_connection(self.url.hostname, self.url.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()
        await self.writer.wait_closed()

    async def post(self, body: bytes) -> object:
        request = (f"POST {self.url.path} HTTP/1.1\r\nHost: {self.url.netloc}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        try:
            self.writer.write(request)
            status = await self.reader.readline()
        except (ConnectionResetError, BrokenPipeError):
            status = b""
        if not status:  # the server closed the kept-alive connection while the other paths ran: a new one
            with contextlib.suppress(OSError):
                await self.__aexit__()
            await self.__aenter__()
            self.writer.write(request)
            status = await self.reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"the sandbox answered {status!r}")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return json.loads(await self.reader.readexactly(length))


async def cpu_per_request(send, requests: int) -> float:
    for _ in range(10):  # connections open, caches warm
        await send()
    started = time.process_time()
    for _ in range(requests):
        await send()
    return (time.process_time() - started) * 1e6 / requests


async def main(args: argparse.Namespace) -> None:
    portal = Portal(rate=0, burst=50)
    try:
        url = portal.webhook_url + "batch.json"
        display = f"{portal.base}/rest/1/***/batch.json"  # what logs and errors may show (the edge's rule)
        body = batch_body()
        # the client's own leaky bucket opened wide (the sandbox has no limit either): its sleeps are not CPU,
        # but 300 requests per round at the portal's 2/s would take minutes
        clients = {kind: client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_rate_per_second=1e6,
                                                       b24_rate_burst=1_000_000, b24_http_client=kind))
                   for kind in ("builtin", "httpx")}
        edges = {kind: Edge(Timeouts(), list, client=kind) for kind in ("builtin", "httpx")}
        sends: dict[str, Callable[[], Awaitable[object]]] = {}
        figures: dict[str, list[float]] = {}
        print(f"one batch request of {COMMANDS} look-ups ({len(body)} B), {args.requests} per path and round; "
              "CPU µs per request of this process (the sandbox runs in its own)")
        async with Floor(url) as floor, httpx.AsyncClient() as http, contextlib.AsyncExitStack() as closing:
            for closeable in [*clients.values(), *edges.values()]:
                closing.push_async_callback(closeable.aclose)

            async def with_httpx() -> object:
                reply = await http.post(url, content=body, headers={"Content-Type": "application/json"})
                reply.raise_for_status()
                return json.loads(reply.content)

            def with_edge(edge: Edge) -> Callable[[], Awaitable[object]]:
                async def send() -> object:
                    reply = await edge.send("batch", "POST", display, url, body)
                    if reply.status != 200:
                        raise RuntimeError(f"the sandbox answered {reply.status}")
                    return json.loads(reply.content)
                return send

            def with_bridge(b24: B24Client) -> Callable[[], Awaitable[object]]:
                async def send() -> object:
                    result = await b24.batch(commands())
                    if result.errors:
                        raise RuntimeError(f"the batch failed: {result.errors}")
                    return result
                return send

            sends = {"floor": lambda: floor.post(body), "httpx": with_httpx,
                     "edge": with_edge(edges["builtin"]), "edge/httpx": with_edge(edges["httpx"]),
                     "bridge": with_bridge(clients["builtin"]), "bridge/httpx": with_bridge(clients["httpx"])}
            figures = {name: [] for name in sends}
            for r in range(args.rounds):
                for name, send in sends.items():
                    figures[name].append(await cpu_per_request(send, args.requests))
                print(f"round {r + 1}: " + "   ".join(f"{name} {xs[-1]:7.0f} µs" for name, xs in figures.items()),
                      flush=True)
    finally:
        portal.close()
    floor_median = statistics.median(figures["floor"])
    print("median:  " + "   ".join(f"{name} {statistics.median(xs):7.0f} µs" for name, xs in figures.items()))
    print("against the floor: " + "   ".join(f"{name} {statistics.median(xs) / floor_median:4.2f}×"
                                              for name, xs in figures.items() if name != "floor"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI): 20 requests per path, one round")
    parsed = parser.parse_args()
    if parsed.smoke:
        parsed.requests, parsed.rounds = 20, 1
    with asyncio.Runner(loop_factory=loop_factory(Settings().event_loop)) as loop:
        loop.run(main(parsed))
