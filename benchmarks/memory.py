"""Memory against backlog size: the relay and the consumers catching up on 10,000 and 100,000 events.

    python -m benchmarks.memory                                 # backlogs of 10,000 and 100,000 events
    python -m benchmarks.memory --backlogs 10000,50000 --consumers 1
    python -m benchmarks.memory --smoke                         # seconds: what the CI smoke test runs
    python -m benchmarks.memory --backlogs 10000 --world 100000 --compare 9e048ad --rounds 3   # beside a commit

Issue 12 asks for memory flat in backlog size, for the relay and the consumers: a bridge that was down
for a day must catch up without its memory growing with what piled up.  Per backlog size, on a fresh
database, vhost and sandbox portal (unlimited, so the bridge is measured):

1. the ingest alone accepts the simulator's mix (the first N events of the same business days for every
   size, in requests of 500; ``--world`` to draw them from a longer mix) — the outbox holds the backlog;
2. the relay starts and publishes it all — the queues hold the backlog;
3. ``--consumers`` consumer processes start and drain it (documents that arrive before their
   counterparty wait, as they would after an outage).

Each process is a ``b24bridge`` of its own; its resident memory is read from ``/proc/<pid>/status``:
``VmRSS`` once a consumer's endpoint answers, at each quarter of the backlog handled and when the work is
done (the relay's when everything is published), and ``VmHWM`` (the peak).  Beside memory, what the
catching up cost: the consumers' CPU per event and their trips to a wait queue per event (documents
whose counterparty or products were not applied yet).  The baseline is the
smallest backlog of the same run: the figure is how much more the larger backlog's peak is, in MB and as
a ratio.

**Beside another commit** (``--compare COMMIT [--rounds N]``): every backlog is drained also by the ingest,
relay and consumers of COMMIT (a detached git worktree; its own migrations and ``portal setup``; the sandbox
and this harness are today's), the sides alternating which goes first, each on a database and vhost of its
own; then per backlog the medians of each side's drain time, trips to a wait queue and CPU per event.

Needs PostgreSQL and RabbitMQ with the management plugin (the run's database and vhost are made
and dropped as in ``benchmarks.e2e``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from ._worktree import ROOT
from .e2e import HANDLED, Bridge, close_all, cpu_seconds, mix, setup
from .initial_load import say

MB = 1024 * 1024
WAITS = "bridge_consumer_dependency_waits"  # the counter's family (samples end in _total)


def memory(pid: int) -> tuple[float, float]:
    """A process's resident and peak resident memory in bytes (``VmRSS``, ``VmHWM``)."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


@dataclass
class Run:
    backlog: int
    accept_seconds: float = 0.0
    relay_peak: float = 0.0  # bytes
    relay_end: float = 0.0  # once everything was published
    publish_seconds: float = 0.0  # from the relay's start (its imports and connections included)
    consumer_start: float = 0.0  # the largest of the consumer processes'
    consumer_peak: float = 0.0
    consumer_end: float = 0.0
    consumer_quarters: list[float] = field(default_factory=list)  # RSS at 25, 50, 75 and 100 % handled
    drain_seconds: float = 0.0
    waits: float = 0.0  # trips to a wait queue (a document before its counterparty or products), all consumers
    consumer_cpu: float = 0.0  # seconds, all consumer processes, while draining
    note: str = ""

    def row(self) -> str:
        def mb(v: float) -> str:
            return f"{v / MB:8.1f}"

        return (f"backlog {self.backlog:>7}  {mb(self.relay_peak)}  {mb(self.relay_end)}  {mb(self.consumer_start)}"
                f"  {mb(self.consumer_peak)}  {mb(self.consumer_end)}  {self.publish_seconds:8.1f}"
                f"  {self.drain_seconds:8.1f}  {self.waits / self.backlog:6.2f}  {self.consumer_cpu * 1000 / self.backlog:7.2f}"
                f"  {self.note}")


HEADER = ("                  relay MB            consumers MB (largest)      seconds           per event\n"
          "                  peak     end      start     peak      end   publish     drain   waits  CPU ms")


def exited(bridge: Bridge) -> str:
    """Which of the bridge's processes has exited, with the end of its log ("" while all run)."""
    for name, proc in bridge.procs.items():
        if proc.poll() is not None:
            return f"{name} exited ({proc.returncode}): " + (bridge.logs / f"{name}.log").read_text(errors="replace")[-500:]
    return ""


async def accept(bridge: Bridge, events: list[dict[str, Any]]) -> float:
    from onec_outbox.simulator.sender import SendOptions, send

    started = time.monotonic()
    report = await send(events, url=bridge.ingest_url, token=bridge.token,
                        options=SendOptions(batch_size=500, timeout=120))
    report.raise_for_problems()
    return time.monotonic() - started


async def measure(args: argparse.Namespace, events: list[dict[str, Any]], code: Path | None = None) -> Run:
    """One backlog through this checkout's processes, or (``code``) another checkout's."""
    n = len(events)
    run = Run(n)
    suffix = f"_{n}" if code is None else f"_{n}_old"
    dsn, amqp_url, portal, mapping_file = await setup(args, suffix, 0, 0, code)
    bridge = pool = None
    try:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        bridge = Bridge(dsn, amqp_url, portal.webhook_url, mapping_file, consumers=0, prefetch=args.prefetch,
                        rate=1000, burst=1000, relay=False, code=code or ROOT)
        run.accept_seconds = await accept(bridge, events)
        say(f"  the ingest accepted {n} events in {run.accept_seconds:.1f} s (relay and consumers stopped)")

        started = time.monotonic()
        bridge.start_relay()
        relay = bridge.procs["relay"].pid
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            if exited(bridge):
                run.note = exited(bridge)
                return run
            if time.monotonic() - started > args.timeout:
                run.note = f"relay: not published after {args.timeout:.0f} s"
                return run
            await asyncio.sleep(0.2)
        run.publish_seconds = time.monotonic() - started
        run.relay_end, run.relay_peak = memory(relay)
        say(f"  the relay published them in {run.publish_seconds:.1f} s from its start: RSS "
            f"{run.relay_end / MB:.1f} MB after, peak {run.relay_peak / MB:.1f} MB")

        for i in range(args.consumers):
            bridge.start_consumer(i)
        for url in bridge.metrics_urls:
            bridge._wait(url)
        consumers = [p.pid for name, p in bridge.procs.items() if name.startswith("consumer-")]
        run.consumer_start = max(memory(pid)[0] for pid in consumers)
        cpu0 = sum(cpu_seconds(pid) for pid in consumers)
        started = last_say = time.monotonic()
        quarters = [n * q // 4 for q in (1, 2, 3, 4)]
        while True:
            handled = await pool.fetchval(HANDLED)
            rss = max(memory(pid)[0] for pid in consumers)
            while quarters and handled >= quarters[0]:
                quarters.pop(0)
                run.consumer_quarters.append(rss)
            if handled >= n:
                break
            if exited(bridge):
                run.note = exited(bridge)
                break
            if time.monotonic() - started > args.timeout:
                run.note = f"consumers: {handled} of {n} handled after {args.timeout:.0f} s"
                break
            if time.monotonic() - last_say >= 10:
                last_say = time.monotonic()
                say(f"  {handled} of {n} handled after {last_say - started:.0f} s, consumers' RSS {rss / MB:.1f} MB")
            await asyncio.sleep(1.0)
        run.drain_seconds = time.monotonic() - started
        run.consumer_end = max(memory(pid)[0] for pid in consumers)
        run.consumer_peak = max(memory(pid)[1] for pid in consumers)
        run.consumer_cpu = sum(cpu_seconds(pid) for pid in consumers) - cpu0
        run.waits = sum(x.value for x in bridge._samples(WAITS) if x.name == WAITS + "_total")
        say(f"  {args.consumers} consumer(s) drained them in {run.drain_seconds:.1f} s: RSS "
            f"{run.consumer_start / MB:.1f} MB at start, at each quarter handled "
            f"{' / '.join(f'{q / MB:.1f}' for q in run.consumer_quarters)} MB, peak {run.consumer_peak / MB:.1f} MB; "
            f"{run.waits:.0f} trips to a wait queue, {run.consumer_cpu * 1000 / n:.2f} CPU ms per event")
        return run
    finally:
        await close_all(args, suffix, dsn, pool, bridge, portal)


def compared(runs: list[Run]) -> list[str]:
    """Each larger backlog's peaks against the smallest's (the baseline of the same run)."""
    base, lines = runs[0], []
    for run in runs[1:]:
        parts = []
        for what, mine, theirs in (("the relay's", run.relay_peak, base.relay_peak),
                                   ("the consumers'", run.consumer_peak, base.consumer_peak)):
            if mine and theirs:
                parts.append(f"{what} peak {(mine - theirs) / MB:+.1f} MB ({mine / theirs:.2f}×)")
        lines.append(f"backlog {run.backlog} against {base.backlog} (same run): "
                     + (", ".join(parts) if parts else "not measured on both"))
    return lines


def compare(args: argparse.Namespace, sizes: list[int], events: list[dict[str, Any]]) -> None:
    """Each backlog on this checkout and on ``args.compare``, alternating, ``args.rounds`` times; the medians."""
    from ._worktree import alternate, checkout, short

    old = short(args.compare)
    runs: dict[tuple[str, int], list[Run]] = {}
    with checkout(args.compare) as tree:
        for n in sizes:
            for r, name, code in alternate([("now", None), (old, tree)], args.rounds):
                say(f"backlog of {n} events, round {r + 1}: {name}")
                runs.setdefault((name, n), []).append(asyncio.run(measure(args, events[:n], code)))
    say("")
    say(HEADER)
    for (name, _), rs in runs.items():
        for run in rs:
            say(f"{name:>8} " + run.row())
    for n in sizes:
        m = {name: [statistics.median(getattr(r, f) / (n if f != "drain_seconds" else 1) for r in runs[(name, n)])
                    for f in ("drain_seconds", "waits", "consumer_cpu")] for name in ("now", old)}
        say(f"backlog {n}, medians of {args.rounds}: drained in {m['now'][0]:.1f} s now, {m[old][0]:.1f} s at {old}; "
            f"trips to a wait queue per event {m['now'][1]:.2f} / {m[old][1]:.2f}; consumers' CPU ms per event "
            f"{m['now'][2] * 1000:.2f} / {m[old][2] * 1000:.2f}: {old}/now = {m[old][2] / max(m['now'][2], 1e-9):.2f}×")
    notes = [f"{name}: {r.note}" for (name, _), rs in runs.items() for r in rs if r.note]
    if notes:
        raise SystemExit("a backlog was not handled: " + "; ".join(notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlogs", default="10000,100000", help="backlog sizes, comma-separated; the "
                        "smallest is the baseline")
    parser.add_argument("--consumers", type=int, default=2, help="consumer processes")
    parser.add_argument("--prefetch", type=int, help="BRIDGE_CONSUMER_PREFETCH (default: the setting's)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to publish, and to drain")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--world", type=int, help="draw the backlogs from the first events of a mix this long "
                        "(default: the largest backlog), so a run of one size repeats a part of a longer run")
    parser.add_argument("--smoke", action="store_true", help="tiny backlogs (CI smoke test)")
    parser.add_argument("--namespace", default="bench_memory")
    parser.add_argument("--rabbitmq-api", help="management API URL (default: http://<amqp host>:15672/api)")
    parser.add_argument("--compare", metavar="COMMIT", help="drain every backlog also with the ingest, relay and "
                        "consumers of COMMIT (a git worktree), alternating")
    parser.add_argument("--rounds", type=int, default=1, help="with --compare: runs of each side (medians)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: the component processes go too
    if args.smoke:
        args.backlogs, args.consumers, args.timeout = "150" if args.compare else "150,400", 1, 180.0
    sizes = sorted({int(b) for b in str(args.backlogs).split(",") if b.strip()})
    if not sizes or sizes[0] < 1:
        parser.error("--backlogs needs one or more positive sizes")
    world = max(sizes[-1], args.world or 0)
    say(f"the simulator's mix: {world} events, the backlogs its first {', '.join(map(str, sizes))} (pid {os.getpid()})")
    events = mix(args.seed, world)
    if args.compare:
        if args.rounds < 1:
            parser.error("--rounds must be 1 or more")
        compare(args, sizes, events)
        return
    runs = []
    for n in sizes:
        say(f"backlog of {n} events, {args.consumers} consumer process(es)")
        runs.append(asyncio.run(measure(args, events[:n])))
    say("")
    say(HEADER)
    for run in runs:
        say(run.row())
    for line in compared(runs):
        say(line)
    if any(run.note for run in runs):
        raise SystemExit("a backlog was not handled: " + "; ".join(r.note for r in runs if r.note))


if __name__ == "__main__":
    main()
