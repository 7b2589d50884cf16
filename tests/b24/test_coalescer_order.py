"""What goes into each batch: urgent callers ahead of bulk, reads ahead of writes, but never at a write's
expense, and bulk never starved."""

from __future__ import annotations

import asyncio

from bridge.b24 import calls
from bridge.b24 import coalescer as coalescer_module
from bridge.b24.coalescer import Coalescer
from bridge.b24.envelope import BatchResult, Page
from bridge.b24.limits import Batching


class Recorder:
    """Stands in for the portal behind the coalescer: records each batch's commands, answers each one."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def slot(self) -> float:
        return 0.0

    async def one(self, method, params) -> Page:
        self.batches.append([method])
        return Page(result=True)

    async def batch(self, commands: dict[str, str], methods: dict[str, str], *, halt: bool = False) -> BatchResult:
        self.batches.append(list(commands.values()))
        return BatchResult(keys=tuple(commands), results={k: True for k in commands})


async def _run(calls: list[tuple[str, bool]]) -> Recorder:
    portal = Recorder()
    coalescer = Coalescer(Batching(linger=0.01), portal.slot, portal.one, portal.batch)
    await asyncio.gather(*(coalescer.submit(name, {}, name, first=read) for name, read in calls))
    return portal


async def test_reads_go_ahead_of_writes_queued_before_them():
    portal = await _run([("write-0", False), ("write-1", False), ("read-0", True), ("read-1", True)])
    assert portal.batches == [["read-0", "read-1", "write-0", "write-1"]]


async def test_a_flood_of_reads_never_keeps_a_write_out_of_the_next_request():
    calls = [(f"read-{i}", True) for i in range(120)] + [("write", False)]
    portal = await _run(calls)
    assert "write" in portal.batches[0]
    assert len(portal.batches[0]) == 50
    assert sorted(c for b in portal.batches for c in b) == sorted(name for name, _ in calls)


# --- priority: what a manager waits for goes ahead of bulk, and bulk is never starved ----------------------


class Limited(Recorder):
    """A portal that takes one request per ``every`` seconds (its rate limit is the bottleneck)."""

    def __init__(self, every: float = 0.02) -> None:
        super().__init__()
        self.every = every

    async def slot(self) -> float:
        await asyncio.sleep(self.every)
        return 0.0


async def _submit(coalescer: Coalescer, name: str, level: int) -> None:
    with calls.priority(level):
        await coalescer.submit(name, {}, name)


async def test_a_deal_queued_behind_two_thousand_product_updates_goes_in_the_next_request():
    portal = Limited()
    coalescer = Coalescer(Batching(linger=0.01), portal.slot, portal.one, portal.batch)
    bulk = [asyncio.ensure_future(_submit(coalescer, f"product-{i}", calls.BULK)) for i in range(2000)]
    await asyncio.sleep(0.05)  # the backlog is being worked through
    sent_before = len(portal.batches)
    await _submit(coalescer, "deal", calls.URGENT)
    deal_batch = next(i for i, batch in enumerate(portal.batches) if "deal" in batch)
    assert deal_batch <= sent_before + 1  # the next request (or the one already leaving), not the 40th
    await asyncio.gather(*bulk)
    assert sum(len(b) for b in portal.batches) == 2001


async def test_a_steady_stream_of_urgent_calls_does_not_starve_bulk(monkeypatch):
    monkeypatch.setattr(coalescer_module, "PRIORITY_AGING", 0.05)
    portal = Limited()
    coalescer = Coalescer(Batching(linger=0.01), portal.slot, portal.one, portal.batch)
    stop = asyncio.Event()
    urgent: list[asyncio.Future] = []

    async def stream() -> None:  # more urgent calls arrive than a request holds: urgent alone would fill them all
        while not stop.is_set():
            urgent.extend(asyncio.ensure_future(_submit(coalescer, f"deal-{len(urgent)}", calls.URGENT))
                          for _ in range(60))
            await asyncio.sleep(portal.every)

    producer = asyncio.ensure_future(stream())
    await asyncio.sleep(0.05)
    await asyncio.wait_for(_submit(coalescer, "product", calls.BULK), timeout=2)  # sent while the stream runs
    stop.set()
    await producer
    await asyncio.gather(*urgent)


# --- bulk lingers for company: a request that leaves with a few commands wastes a slot -------------------


async def _trickle(coalescer: Coalescer, names: list[str], every: float, priority: int) -> list:
    async def one(i: int, name: str):
        await asyncio.sleep(i * every)
        with calls.priority(priority):
            return await coalescer.submit(name, {}, name)

    return await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))


async def test_bulk_calls_trickling_in_share_one_request_instead_of_one_each():
    portal = Recorder()
    names = [f"product-{i}" for i in range(5)]
    coalescer = Coalescer(Batching(linger=0.01, bulk_linger=3600.0), portal.slot, portal.one, portal.batch)
    bulk = asyncio.create_task(_trickle(coalescer, names, 0.03, calls.BULK))
    await asyncio.sleep(0.3)
    assert portal.batches == []  # nobody waits for bulk: it waits for company
    with calls.priority(calls.BULK):  # ... until a full request's worth has come
        await asyncio.gather(*(coalescer.submit(f"more-{i}", {}, f"more-{i}") for i in range(45)))
    await bulk
    assert len(portal.batches) == 1 and len(portal.batches[0]) == 50

    normal = Recorder()  # the same trickle of calls someone waits for goes at the usual linger
    coalescer = Coalescer(Batching(linger=0.01, bulk_linger=3600.0), normal.slot, normal.one, normal.batch)
    await _trickle(coalescer, names, 0.03, calls.NORMAL)
    assert len(normal.batches) > 1


async def test_an_urgent_call_takes_the_bulk_calls_waiting_with_it_at_once():
    portal = Recorder()
    coalescer = Coalescer(Batching(linger=0.01, bulk_linger=3600.0), portal.slot, portal.one, portal.batch)
    bulk = asyncio.create_task(_trickle(coalescer, [f"product-{i}" for i in range(3)], 0.01, calls.BULK))
    await asyncio.sleep(0.1)
    assert portal.batches == []  # the bulk calls wait for company (an hour, here)
    with calls.priority(calls.URGENT):
        await coalescer.submit("deal", {}, "deal")
    await asyncio.wait_for(bulk, 5)  # answered with the deal's request, not after the hour
    assert portal.batches == [["deal", "product-0", "product-1", "product-2"]]
