"""Reconcile reads a whole list once — every row exactly once, dense or sparse IDs — with start=-1 over ID
windows, 50 windows per batch request (the sandbox portal over HTTP, counting requests)."""

from __future__ import annotations

from bridge.b24 import client_from_settings
from bridge.reconcile import ListSpec, scan
from bridge.settings import Settings
from b24_sandbox import SandboxConfig, serve_in_thread


async def test_every_row_once_in_few_requests_dense_and_sparse_ids_alike():
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        portal = srv.sandbox
        ids = [portal.call("crm.company.add", {"fields": {"TITLE": f"К{i}", "ORIGIN_ID": f"o{i}"}}).result.value
               for i in range(3000)]
        for gone in ids[1000:2000]:  # a sparse stretch: 1 in 97 left
            if gone % 97:
                portal.call("crm.company.delete", {"id": gone})
        left = {i for i in ids if not (i in ids[1000:2000] and i % 97)}
        client = client_from_settings(Settings(b24_webhook_url=srv.webhook_url, b24_batch_linger=0))
        seen: list[tuple[int, int]] = []
        try:
            before = portal.stats()["http_requests"]
            rows = await scan(client, ListSpec("company", "crm.company.list", "ID", ("ID", "ORIGIN_ID")),
                              lambda what, done, total: seen.append((done, total)))
            requests = portal.stats()["http_requests"] - before
        finally:
            await client.aclose()
    got = [int(r["ID"]) for r in rows]
    assert sorted(got) == sorted(left) and len(got) == len(set(got))
    assert all(r["ORIGIN_ID"] for r in rows)
    assert seen[-1][0] == seen[-1][1] == max(left)  # the progress ends at the highest ID
    # 2 010 rows: one request for the highest ID, then batches of 50 windows (widening over the gap), where
    # start=-1 with a >ID window alone takes one request per 50 rows (41)
    assert len(got) == 2010 and requests <= 6, requests
