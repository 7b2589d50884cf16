"""What goes into each batch: reads ahead of writes, but never at a write's expense."""

from __future__ import annotations

import asyncio

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

    async def batch(self, commands: dict[str, str], methods: dict[str, str]) -> BatchResult:
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
