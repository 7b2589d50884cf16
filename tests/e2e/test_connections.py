"""The whole bridge stays within its PostgreSQL connection budget under a burst, whatever the prefetch.

A consumer used to hold a pooled connection for every message in flight (prefetch × consumers: ~100 at
the defaults, PostgreSQL's max_connections, and the ingest answered 503 "too many clients").  Now a
message takes a connection only for its short transactions, so the pools' sizes are the bound: ingest and
relay (here in this process, `run` with no consumer) plus a consumer process with a prefetch of 300.
"""

from __future__ import annotations

import asyncio

from bridge import bootstrap
from onec_outbox.simulator import ScenarioConfig, Sizes, generate
from tests.helpers import wait_for
from tests.support.pgcount import PeakConnections, observer


async def test_a_burst_with_a_large_prefetch_stays_within_the_connection_budget(bare_stack, db_url):
    run = generate(ScenarioConfig(seed=3, days=1, sizes=Sizes(counterparties=60, products=120, orders=0)))
    events = [e for e in run.events if e["event_type"] in ("counterparty.upserted", "product.upserted")]
    async with PeakConnections(db_url) as peak:
        bare_stack.spawn("consume", BRIDGE_CONSUMER_PREFETCH="300",
                         BRIDGE_CONSUMER_ENTITIES="counterparty,product")
        answers = await asyncio.gather(*(bare_stack.post(events[i:i + 20]) for i in range(0, len(events), 20)))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]

        conn = await observer(db_url)
        try:
            async def all_applied() -> bool:
                return await conn.fetchval("SELECT count(*) FROM inbox") == len(events)

            done = await wait_for(all_applied, timeout=120, interval=0.5)
            assert done, (len(events), await conn.fetch(
                "SELECT consumer, outcome, count(*) FROM event_outcomes GROUP BY 1, 2"))
        finally:
            await conn.close()
    assert peak.peak <= bootstrap.BRIDGE_CONNECTIONS_MAX, peak.peak
