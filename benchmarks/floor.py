"""The least a consumer process can spend per event on this machine, at the rate events reach it.

    python -m benchmarks.floor                        # 50, 100 and 2,000 messages/s, 10 s each
    python -m benchmarks.floor --rates 50 --seconds 30

Issue 12 asks for consumers at ≤ 1.5 CPU ms per event; end to end, at 100 events/s over two consumer
processes, each process receives 50 a second.  This measures what any consumer would pay for that before
doing anything of its own.  A child process publishes ~1.3 KB messages to one queue at a fixed rate (its CPU
is not counted); this process consumes them with aio-pika on uvloop, prefetch 32, the way the bridge does,
and per message does:

- **ack** — the delivery and its ack, nothing else: the floor of any consumer that acknowledges each message;
- **+pg** — then one PostgreSQL statement (an idempotent insert of the message id into a temporary table,
  autocommit, one pooled connection): the least an idempotent consumer can store;
- **+http** — then one HTTP request to a local server process through the bridge's own client
  (``bridge.b24.http11``): the least a consumer that writes to the portal sends (the bridge sends ≈ 0.7
  requests per event at a steady 100/s, fewer when batches fill).

Then the same rate as it reaches a consumer end to end (``benchmarks.e2e`` posts a tenth of a second's events
per ingest request and the relay publishes them together): **100 ms bursts**, first per message as above
(``+http``), then **batched** — what arrived within ``--linger`` seconds of the first waiting message in one
statement (a multi-row insert), one request and one ack (``multiple``): the floor of a consumer that applies
events in batches, against which a per-event design's cost is read.

In the same bursts, **the bridge's consumer around a handler that does nothing** (``bridge.consumer.Consumer``
with a handler that answers "applied"): simulator events as the relay publishes them, each checked against
its checksum, parsed, counted in the metrics, logged (one JSON line, to ``/dev/null``), acked and noted for
the trace (when the database has the bridge's schema) — what the framework costs before any handler work,
read against **ack** in the same bursts.

And **one event's parse** (checksum and contract, ``bridge.consumer.parse``) run back to back and after 1 and
20 ms of idling: code that runs after the process slept pays for caches (and a clock) gone cold, which a
benchmark that replays a backlog at full speed never sees.

And, on its own, the CPU of one **timer wake-up** (``asyncio.sleep`` of 1, 5, 20 ms on uvloop): a process
that goes idle between events pays a wake-up for each; on some virtual machines that costs more than the
work it wakes for.

CPU is this process's run time from ``/proc/self/schedstat`` (nanoseconds, what the scheduler charged it),
divided by the messages.  docs/performance.md ("Consumer", *The floor at a steady rate*) reads it beside the
end-to-end consumers' CPU per event at the same rate per process.  Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

import aio_pika
import asyncpg

from bridge import db, logs, outcomes, topology, wire
from bridge.b24 import http11
from bridge.consumer import Consumer, ConsumerConfig, Outcome, parse
from bridge.runner import loop_factory
from bridge.settings import Settings
from onec_outbox.contract import ENTITIES

MESSAGE_BYTES = 1300  # about a 1C event as the relay publishes it
BURST = 0.1  # s: benchmarks.e2e posts a tenth of a second's events per ingest request, and the relay publishes them together
PUBLISHER = """
import asyncio, sys, time, uuid, aio_pika
async def main(url, queue, rate, n, size, period):
    if size:
        messages = [(b"x" * size, None, None)]
    else:  # simulator events as the relay publishes them (run from the project's root)
        from benchmarks.consumer import Message
        from onec_outbox.simulator import ScenarioConfig, generate
        messages = [(m.body, m.headers, m.type) for m in map(Message, generate(ScenarioConfig(seed=1, days=3)).events)]
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    due = time.perf_counter()
    each = max(round(rate * period), 1)  # a period's messages published together (period 0: one at a time)
    for i in range(n):
        body, headers, kind = messages[i % len(messages)]
        await channel.default_exchange.publish(aio_pika.Message(body, headers=headers, message_id=str(uuid.uuid4()),
                                                                type=kind), routing_key=queue)
        if (i + 1) % each:
            continue
        due += each / rate
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
    await connection.close()
asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])))
"""
SERVER = """
import asyncio, sys
REPLY = b'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 42\\r\\n\\r\\n'
REPLY += b'{"result":{"ID":"1"},"time":{"start":0.01}}'[:42]
class Echo(asyncio.Protocol):
    def connection_made(self, transport): self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\\r\\n\\r\\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\\r\\n\\r\\n")
            length = next((int(l.split(b":")[1]) for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length:")), 0)
            if len(rest) < length: return
            self.buffer = rest[length:]
            self.transport.write(REPLY)
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


def run_time() -> int:
    """Nanoseconds this process has run (the scheduler's own account, not sampled ticks)."""
    with open("/proc/self/schedstat", encoding="ascii") as f:
        return int(f.read().split()[0])


async def consume(amqp_url: str, rate: float, seconds: float, work, *, period: float = 0.0,
                  linger: float | None = None) -> tuple[float, float]:
    """CPU µs per message of this process while it receives ``rate`` messages/s for ``seconds`` (a
    ``period``'s messages at once, 0: evenly), and messages per call of ``work``.  ``linger`` None: ``work(message)``
    before each ack; else ``work(messages)`` for what arrived within ``linger`` s of the first one waiting, then
    one ack of them all (``multiple``), as a consumer that applies events in batches would."""
    n = max(int(rate * seconds), 20)
    loop = asyncio.get_running_loop()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=32)
        queue = await channel.declare_queue(f"bench-floor-{uuid.uuid4().hex[:8]}", exclusive=True)
        done: asyncio.Future[float] = loop.create_future()
        seen, started, calls = 0, 0, 0
        waiting: list[aio_pika.abc.AbstractIncomingMessage] = []
        in_order = asyncio.Lock()

        def count(k: int) -> None:
            nonlocal seen, calls
            seen, calls = seen + k, calls + 1
            if seen >= n and not done.done():
                done.set_result((run_time() - started) / (seen - 1) / 1000)

        async def flush() -> None:
            await asyncio.sleep(linger)
            batch = waiting[:]
            waiting.clear()
            async with in_order:  # a later batch's ack(multiple) must not ack an earlier one still at work
                await work(batch)
                await batch[-1].ack(multiple=True)
            count(len(batch))

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal started
            if started == 0:
                started = run_time()
            if linger is None:
                await work(message)
                await message.ack()
                count(1)
                return
            waiting.append(message)
            if len(waiting) == 1:
                await flush()

        await queue.consume(on_message)
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, amqp_url, queue.name, str(rate), str(n), str(MESSAGE_BYTES),
            str(period))
        await publisher.wait()
        return await asyncio.wait_for(done, 60), seen / max(calls, 1)
    finally:
        await connection.close()


class _Nothing:
    """A consumer target's handler that applies nothing: every event is "applied" at once."""

    name = "floor"
    mapping_keys = ()
    event_types = frozenset(topology.upserted(entity) for entity in ENTITIES)

    def __init__(self, target: topology.Target) -> None:
        self.target = target

    async def handle(self, event) -> Outcome:
        return Outcome.APPLIED


async def framework(amqp_url: str, dsn: str, rate: float, seconds: float) -> tuple[float, bool]:
    """CPU µs per event of the bridge's Consumer with a handler that does nothing, events arriving in
    ``BURST`` bursts; and whether the outcomes were recorded (the database has the bridge's schema)."""
    n = max(int(rate * seconds), 20)
    target = topology.Target(f"floor-{uuid.uuid4().hex[:8]}", ())
    pool = await db.create_pool(dsn, max_size=2)
    recorded = await pool.fetchval("SELECT to_regclass('event_outcomes') IS NOT NULL")
    consumer = Consumer(_Nothing(target), lambda: aio_pika.connect(amqp_url), ConsumerConfig(prefetch=64),
                        recorder=outcomes.OutcomeRecorder(pool) if recorded else None)
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    seen, started = 0, 0
    process = consumer._process

    async def counted(message) -> None:
        nonlocal seen, started
        started = started or run_time()
        await process(message)
        seen += 1
        if seen >= n and not done.done():
            done.set_result((run_time() - started) / (seen - 1) / 1000)

    consumer._process = counted  # type: ignore[method-assign]
    logs.configure("INFO", "json", open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - as a consumer logs
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        while consumer._publish_channel is None:  # its queue is declared
            await asyncio.sleep(0.05)
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, amqp_url, target.queue, str(rate), str(n), "0", str(BURST))
        await publisher.wait()
        return await asyncio.wait_for(done, 60), recorded
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        logs.configure("WARNING", "json")
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            for spec in topology.queues_for(target):
                await channel.queue_delete(spec.name)
        await pool.close()


def cold_parse(events: int = 60) -> dict[float, float]:
    """CPU µs of one event's parse (checksum and contract) right after the last one and after idling."""
    from benchmarks.consumer import Message
    from onec_outbox.simulator import ScenarioConfig, generate

    messages = [Message(e) for e in generate(ScenarioConfig(seed=1, days=3)).events][:events]
    types = _Nothing.event_types
    figures = {}
    for gap in (0.0, 0.001, 0.02):
        spent = 0
        for m in messages:
            if gap:
                time.sleep(gap)
            before = time.thread_time_ns()
            parse(wire.decode(m), types)  # type: ignore[arg-type]
            spent += time.thread_time_ns() - before
        figures[gap] = spent / len(messages) / 1000
    return figures


async def timer_wake(gap: float, seconds: float) -> float:
    """CPU µs of one ``asyncio.sleep(gap)`` (the wake-up after it)."""
    n = max(int(seconds / gap), 20)
    started = run_time()
    for _ in range(n):
        await asyncio.sleep(gap)
    return (run_time() - started) / n / 1000


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    amqp_url = settings.amqp_url.get_secret_value()
    pool = await asyncpg.create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=1,
                                     init=lambda c: c.execute("CREATE TEMP TABLE IF NOT EXISTS floor_inbox "
                                                              "(id text PRIMARY KEY)"))
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER, stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE)
    assert server.stdout is not None and server.stdin is not None
    port = int(await asyncio.wait_for(server.stdout.readline(), 10))
    http = http11.Http11(connect_timeout=5, read_timeout=30, pool_timeout=30)
    url = f"http://127.0.0.1:{port}/rest/1/code/crm.deal.update"

    async def ack_only(message) -> None:
        return None

    async def with_pg(message) -> None:
        async with pool.acquire() as conn:
            await conn.execute("INSERT INTO floor_inbox VALUES ($1) ON CONFLICT DO NOTHING",
                               f"{time.monotonic_ns()}-{message.message_id}")

    async def with_http(message) -> None:
        await with_pg(message)
        reply = await http.request("POST", url, b'{"id":1,"fields":{"TITLE":"x"}}',
                                   [("Content-Type", "application/json")])
        if reply.status != 200:
            raise RuntimeError(f"the local server answered {reply.status}")

    async def batched(messages) -> None:
        async with pool.acquire() as conn:
            await conn.execute("INSERT INTO floor_inbox SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                               [f"{time.monotonic_ns()}-{m.message_id}" for m in messages])
        commands = ",".join(f'"c{i}":"crm.deal.update?id={i}&fields[TITLE]=x"' for i in range(len(messages)))
        reply = await http.request("POST", url, f'{{"halt":0,"cmd":{{{commands}}}}}'.encode(),
                                   [("Content-Type", "application/json")])
        if reply.status != 200:
            raise RuntimeError(f"the local server answered {reply.status}")

    works = {"ack": ack_only, "+pg": with_pg, "+http": with_http}
    print(f"CPU µs per message of one consumer process (aio-pika, uvloop, prefetch 32; {MESSAGE_BYTES} B messages, "
          f"{args.seconds:g} s per rate; /proc/self/schedstat)")
    try:
        for rate in args.rates:
            figures = {name: (await consume(amqp_url, rate, args.seconds, work))[0] for name, work in works.items()}
            print(f"{rate:7g} msg/s: " + "   ".join(f"{name} {value:6.0f} µs" for name, value in figures.items()),
                  flush=True)
            one, _ = await consume(amqp_url, rate, args.seconds, with_http, period=BURST)
            many, size = await consume(amqp_url, rate, args.seconds, batched, period=BURST, linger=args.linger)
            print(f"{'':7} {BURST * 1000:g} ms bursts: +http {one:6.0f} µs   batched {many:6.0f} µs "
                  f"({size:.1f} messages per statement and request)", flush=True)
            acked, _ = await consume(amqp_url, rate, args.seconds, ack_only, period=BURST)
            bridge, recorded = await framework(amqp_url, settings.database_url.get_secret_value(), rate, args.seconds)
            print(f"{'':7} {BURST * 1000:g} ms bursts: ack {acked:6.0f} µs   the bridge's consumer around a handler "
                  f"that does nothing {bridge:6.0f} µs ({bridge / acked:.2f}×; "
                  f"{'outcomes recorded' if recorded else 'no bridge schema: outcomes not recorded'})", flush=True)
        parsed = cold_parse()
        print("one event's parse (checksum and contract): " + "   ".join(
            f"{'back to back' if gap == 0 else f'after {gap * 1000:g} ms idle'} {us:5.0f} µs"
            for gap, us in parsed.items()), flush=True)
        wakes = {gap: await timer_wake(gap, min(args.seconds, 2.0)) for gap in (0.001, 0.005, 0.02)}
        print("one timer wake-up (asyncio.sleep): " + "   ".join(f"{gap * 1000:g} ms {us:5.0f} µs"
                                                                 for gap, us in wakes.items()))
    finally:
        await http.aclose()
        await pool.close()
        server.stdin.close()
        await server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 100.0, 2000.0],
                        help="messages per second, comma-separated (default 50,100,2000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per rate and kind of work")
    parser.add_argument("--linger", type=float, default=0.02,
                        help="seconds a batched consumer waits for more after the first message (default 0.02, "
                             "the Bitrix24 client's own batch linger)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI): 200 msg/s for 0.5 s")
    parsed = parser.parse_args()
    if parsed.smoke:
        parsed.rates, parsed.seconds = [200.0], 0.5
    with asyncio.Runner(loop_factory=loop_factory(Settings().event_loop)) as runner:
        runner.run(main(parsed))
