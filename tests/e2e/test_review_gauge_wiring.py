"""A consumer process counts the review list from its start: ``b24bridge consume`` runs the gauge refresh
(``review.keep_open_gauge``), so an item parked before it started — by another replica, or before a restart —
shows in its ``bridge_review_open``, which the runbook reads as work waiting for an operator."""

from __future__ import annotations

import json

import httpx

from bridge.review import ReviewStore
from tests.contract.samples import event
from tests.helpers import free_port, wait_for


async def test_a_started_consumer_counts_the_items_parked_before_it(bare_stack, db_pool):
    parked = event("counterparty")
    await ReviewStore(db_pool).park(
        consumer="counterparty", onec_type="counterparty", onec_id=parked["entity_id"], reason="several_candidates",
        summary="two companies carry its ИНН", error="", candidates=[{"id": 15}, {"id": 16}], event=parked,
        body=json.dumps(parked).encode())
    port = free_port()
    bare_stack.spawn("consume", BRIDGE_CONSUMER_METRICS_PORT=str(port), BRIDGE_CONSUMER_ENTITIES="counterparty")
    seen: list[str] = []

    async def counted() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.HTTPError:
            return False
        seen[:] = [line for line in text.splitlines() if line.startswith("bridge_review_open{")]
        return 'bridge_review_open{consumer="counterparty"} 1.0' in seen

    assert await wait_for(counted, timeout=60, interval=0.3), seen
