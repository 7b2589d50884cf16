"""``bridge_review_open`` in a consumer process follows the review list, also when items are resolved by
another process (``b24bridge review resolve``, the console): the runbook reads "above 0" as work to do."""

from __future__ import annotations

import asyncio
import json

from bridge import metrics, review
from bridge.review import ReviewStore
from bridge.sql import Q
from tests.contract.samples import event


def _open(consumer: str) -> float:
    return metrics.REVIEW_OPEN.labels(consumer)._value.get()


async def test_the_open_gauge_falls_when_another_process_resolves_the_item(db_pool):
    parked = event("counterparty")
    item = await ReviewStore(db_pool).park(
        consumer="counterparty", onec_type="counterparty", onec_id=parked["entity_id"], reason="several_candidates",
        summary="two companies carry its ИНН", error="", candidates=[{"id": 15}, {"id": 16}], event=parked,
        body=json.dumps(parked).encode())
    assert _open("counterparty") == 1  # set by the park, in this (the consumer's) process
    await db_pool.execute(Q.review_mark_resolved, item, "adopt", 15, "operator", None)  # another process
    stop = asyncio.Event()
    keeper = asyncio.create_task(review.keep_open_gauge(db_pool, stop, every=0.05))
    try:
        for _ in range(100):
            if _open("counterparty") == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(keeper, 5)
    assert _open("counterparty") == 0
