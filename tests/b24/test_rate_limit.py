"""The client's leaky bucket: exact slot arithmetic, and a PostgreSQL bucket shared by replicas that keeps
several clients together under the portal's limit (real PostgreSQL; requests counted, not timed)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bridge import db
from bridge.b24 import B24Client, LocalBucket, PgBucket, RateLimit, RetryPolicy, WebhookAuth
from bridge.b24.limits import NO_BATCHING
from tests.b24.fakes import WEBHOOK_URL


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_burst_goes_at_once_and_then_one_slot_per_drain_interval():
    clock = FakeClock()
    bucket = LocalBucket(RateLimit(per_second=2, burst=3, jitter=0), clock)
    assert [bucket.reserve() for _ in range(5)] == [0, 0, 0, 0.5, 1.0]


def test_slots_for_half_a_second_of_jitter_are_kept_free():
    clock = FakeClock()
    bucket = LocalBucket(RateLimit(per_second=2, burst=3, jitter=0.5), clock)
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0.5]


def test_the_bucket_drains_while_idle():
    clock = FakeClock()
    bucket = LocalBucket(RateLimit(per_second=2, burst=3, jitter=0), clock)
    for _ in range(3):
        bucket.reserve()
    clock.now += 1.0  # two slots drained
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0.5]


async def test_a_refusal_by_the_portal_fills_the_bucket():
    clock = FakeClock()
    bucket = LocalBucket(RateLimit(per_second=2, burst=50, jitter=0.5), clock)
    await bucket.saturate()
    assert bucket.reserve() == 1.0  # the portal is full: wait for a slot to drain, plus the jitter one


class LeakyPortal:
    """A portal with the reference's leaky bucket: over ``burst`` in the bucket → 503 QUERY_LIMIT_EXCEEDED."""

    def __init__(self, rate: RateLimit) -> None:
        self.rate = rate
        self.level = 0.0
        self.updated = time.monotonic()
        self.accepted = 0
        self.refused = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        now = time.monotonic()
        self.level = max(self.level - (now - self.updated) * self.rate.per_second, 0.0)
        self.updated = now
        if self.level + 1 > self.rate.burst:
            self.refused += 1
            return httpx.Response(
                503, json={"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
            )
        self.level += 1
        self.accepted += 1
        return httpx.Response(200, json={"result": True, "time": {"operating": 0}})


async def test_three_replicas_sharing_the_database_bucket_never_hit_the_portals_limit(db_url):
    rate = RateLimit(per_second=20, burst=10)
    portal = LeakyPortal(rate)
    pools = [await db.create_pool(db_url, max_size=4) for _ in range(3)]
    clients = [
        B24Client(
            WebhookAuth(WEBHOOK_URL),
            transport=httpx.MockTransport(portal.handle),
            batching=NO_BATCHING,
            retry=RetryPolicy(max_retries=0),
            bucket=PgBucket(pool, "portal.example.com", rate),
        )
        for pool in pools
    ]
    try:
        await asyncio.gather(
            *(c.call("crm.company.update", {"id": i, "fields": {}}) for c in clients for i in range(30))
        )
    finally:
        for c in clients:
            await c.aclose()
        for pool in pools:
            await pool.close()
    assert portal.accepted == 90  # nine times the burst
    assert portal.refused == 0


async def test_without_the_shared_bucket_the_same_load_is_refused(db_url):
    """The control for the test above: per-process buckets let three replicas overrun the portal."""
    rate = RateLimit(per_second=20, burst=10)
    portal = LeakyPortal(rate)
    clients = [
        B24Client(
            WebhookAuth(WEBHOOK_URL),
            transport=httpx.MockTransport(portal.handle),
            batching=NO_BATCHING,
            retry=RetryPolicy(max_retries=0),
            rate=rate,
        )
        for _ in range(3)
    ]
    results = await asyncio.gather(
        *(c.call("crm.company.update", {"id": i, "fields": {}}) for c in clients for i in range(30)),
        return_exceptions=True,
    )
    for c in clients:
        await c.aclose()
    assert portal.refused > 0
    assert sum(isinstance(r, Exception) for r in results) == portal.refused


async def test_a_503_pushes_the_shared_bucket_to_full_for_every_replica(db_pool):
    rate = RateLimit(per_second=2, burst=50)
    first, second = PgBucket(db_pool, "p.example.com", rate), PgBucket(db_pool, "p.example.com", rate)
    assert await first.reserve() == 0
    await first.saturate()
    assert await second.reserve() == pytest.approx(1.0, abs=0.05)
    assert await db_pool.fetchval("SELECT count(*) FROM b24_rate_buckets") == 1


async def test_each_portal_has_its_own_bucket(db_pool):
    rate = RateLimit(per_second=1, burst=1, jitter=0)
    assert await PgBucket(db_pool, "a.example.com", rate).reserve() == 0
    assert await PgBucket(db_pool, "b.example.com", rate).reserve() == 0
    assert await PgBucket(db_pool, "a.example.com", rate).reserve() == pytest.approx(1.0, abs=0.05)
