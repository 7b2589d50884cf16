"""The client against the Bitrix24 sandbox over real HTTP (``b24_sandbox``, a real uvicorn server)."""

from __future__ import annotations

import asyncio

import pytest

from bridge import db
from bridge.b24 import B24Client, Batching, PgBucket, RateLimit, RetryPolicy, WebhookAuth
from bridge.b24.limits import NO_BATCHING
from bridge.errors import B24MethodNotFound, B24NotFound, B24ValidationError
from b24_sandbox import SandboxConfig, serve_in_thread

UNLIMITED = SandboxConfig(rate=0, burst=0)


@pytest.fixture
def sandbox():
    with serve_in_thread(UNLIMITED, port=0) as srv:
        yield srv


def make(srv, **kwargs) -> B24Client:
    kwargs.setdefault("rate", RateLimit(1000, 1000))
    kwargs.setdefault("retry", RetryPolicy(max_retries=2, base_delay=0.05))
    return B24Client(WebhookAuth(srv.webhook_url), **kwargs)


async def test_crud_round_trip_and_typed_errors(sandbox):
    async with make(sandbox, batching=NO_BATCHING) as b24:
        company_id = await b24.call("crm.company.add", {"fields": {"TITLE": "ACME", "ORIGIN_ID": "g-1"}})
        assert isinstance(company_id, int)
        assert await b24.call("crm.company.update", {"id": company_id, "fields": {"TITLE": "ACME 2"}}) is True
        company = await b24.call("crm.company.get", {"id": company_id})
        assert (company["ID"], company["TITLE"]) == (str(company_id), "ACME 2")
        with pytest.raises(B24NotFound):
            await b24.call("crm.company.get", {"id": company_id + 1000})
        with pytest.raises(B24MethodNotFound):
            await b24.call("crm.nothing.here")
        with pytest.raises(B24ValidationError):
            await b24.call("crm.company.get", {"id": 0})


async def test_concurrent_calls_are_coalesced_into_few_requests(sandbox):
    async with make(sandbox, batching=Batching(linger=0.05)) as b24:
        ids = await asyncio.gather(*(b24.call("crm.company.add", {"fields": {"TITLE": f"Co {i}"}}) for i in range(120)))
    assert len(set(ids)) == 120
    stats = sandbox.sandbox.stats()
    assert stats["commands"] == 120
    assert stats["http_requests"] == 3


async def test_a_batch_refers_to_an_earlier_command(sandbox):
    async with make(sandbox) as b24:
        result = await b24.batch({
            "co": ("crm.company.add", {"fields": {"TITLE": "Parent"}}),
            "ct": ("crm.contact.add", {"fields": {"NAME": "Ivan", "COMPANY_ID": "$result[co]"}}),
            "bad": ("crm.company.get", {"id": 999999}),
        })
        assert result.ok is False and isinstance(result.errors["bad"], B24NotFound)
        contact = await b24.call("crm.contact.get", {"id": result["ct"]})
    assert contact["COMPANY_ID"] == str(result["co"])


async def test_every_row_is_listed_once_in_both_paging_modes(sandbox):
    async with make(sandbox, batching=Batching(linger=0.05)) as b24:
        ids = await asyncio.gather(*(b24.call("crm.company.add", {"fields": {"TITLE": f"Co {i}"}}) for i in range(130)))
        paged = await b24.list_all("crm.company.list", {"select": ["ID"]})
        fast = await b24.list_all("crm.company.list", {"select": ["ID"]}, fast=True)
    expected = sorted(ids)
    assert [int(r["ID"]) for r in paged if int(r["ID"]) in set(ids)] == expected
    assert [int(r["ID"]) for r in fast if int(r["ID"]) in set(ids)] == expected


async def test_replicas_sharing_the_database_bucket_get_no_503_from_a_portal_with_the_same_limit(db_url):
    rate = RateLimit(per_second=20, burst=10)
    with serve_in_thread(SandboxConfig(rate=20, burst=10), port=0) as srv:
        pools = [await db.create_pool(db_url, max_size=4) for _ in range(3)]
        clients = [make(srv, rate=rate, batching=NO_BATCHING, retry=RetryPolicy(max_retries=0),
                        bucket=PgBucket(pool, "sandbox", rate)) for pool in pools]
        try:
            await asyncio.gather(*(c.call("crm.company.list", {"select": ["ID"], "start": -1})
                                   for c in clients for _ in range(30)))
        finally:
            for c in clients:
                await c.aclose()
            for pool in pools:
                await pool.close()
        stats = srv.sandbox.stats()
    assert stats["http_requests"] == 90  # nine times the burst
    assert stats["rate_limited"] == 0
