"""POST /v1/heartbeat: the 1C sender's health is stored per source, refused with a reason when wrong, and
shown on the relay's /metrics (read from PostgreSQL, so it does not matter which ingest replica heard it)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bridge import bootstrap, heartbeat, metrics, ops_http
from bridge.ingest import IngestConfig, create_app
from bridge.settings import Settings
from onec_outbox.contract import parse_heartbeat
from tests.helpers import free_port, wait_for

TOKEN = "heartbeat-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def beat(**change) -> dict:
    return {"source": "ut103-main", "module_version": "1.5.0", "platform_version": "8.3.22.1709", "pending": 12,
            "oldest_pending_seconds": 95, "rejected": 3, **change}


@pytest.fixture
async def ingest(db_pool):
    app = create_app(IngestConfig([TOKEN.encode()]), pool=db_pool)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(ops_http.serve(app, "127.0.0.1", port, stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        await wait_for(lambda: _answers(client))
        yield client, db_pool
    stop.set()
    await task


async def _answers(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_heartbeat_is_kept_as_its_sources_latest(ingest):
    client, pool = ingest
    first = await client.post("/v1/heartbeat", json=beat(), headers=AUTH)
    assert first.status_code == 200, first.text
    assert first.json()["source"] == "ut103-main"
    again = await client.post("/v1/heartbeat", json=beat(pending=0, oldest_pending_seconds=0, rejected=1),
                              headers=AUTH)
    assert again.status_code == 200
    await client.post("/v1/heartbeat", json=beat(source="ut103-branch", module_version="1.4.2"), headers=AUTH)

    health = await heartbeat.latest(pool)
    assert [(h.source, h.module_version, h.pending, h.oldest_pending_seconds, h.rejected) for h in health] == [
        ("ut103-branch", "1.4.2", 12, 95, 3), ("ut103-main", "1.5.0", 0, 0, 1)]
    assert health[1].received_at.isoformat() == again.json()["received_at"]
    assert health[1].platform_version == "8.3.22.1709"


async def test_a_bad_or_missing_token_is_refused_with_401_and_nothing_is_kept(ingest):
    client, pool = ingest
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": TOKEN}):
        r = await client.post("/v1/heartbeat", json=beat(), headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"] == "unauthorized"
    assert await heartbeat.latest(pool) == []


async def test_a_malformed_heartbeat_is_refused_with_400_naming_the_field(ingest):
    client, pool = ingest
    r = await client.post("/v1/heartbeat", json=beat(pending=-1, module_version=""), headers=AUTH)
    assert r.status_code == 400
    answer = r.json()
    assert answer["error"] == "invalid_heartbeat"
    assert {e["path"]: e["code"] for e in answer["errors"]} == {"pending": "out_of_range", "module_version": "blank"}
    assert "pending" in answer["message"] and "module_version" in answer["message"]

    missing = {k: v for k, v in beat().items() if k != "rejected"}
    r = await client.post("/v1/heartbeat", json=missing, headers=AUTH)
    assert r.status_code == 400 and r.json()["errors"] == [
        {"path": "rejected", "code": "required", "message": "обязательное поле отсутствует"}]

    r = await client.post("/v1/heartbeat", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = await client.post("/v1/heartbeat", json=[beat()], headers=AUTH)
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"
    r = await client.post("/v1/heartbeat", content=b"{}", headers={**AUTH, "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert await heartbeat.latest(pool) == []


async def test_the_relays_metrics_show_each_sources_pending_and_rejected_from_its_heartbeat(ingest, db_url, amqp_url):
    client, _ = ingest
    assert (await client.post("/v1/heartbeat", json=beat(pending=41, rejected=2), headers=AUTH)).status_code == 200
    port = free_port()
    settings = Settings(database_url=db_url, amqp_url=amqp_url, ingest_host="127.0.0.1", relay_metrics_port=port)
    stop = asyncio.Event()
    relay = asyncio.create_task(bootstrap.run_relay(settings, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as scraper:
            async def shown() -> str | None:
                try:
                    text = (await scraper.get("/metrics")).text
                except httpx.TransportError:
                    return None
                return text if 'bridge_onec_pending{source="ut103-main"} 41.0' in text else None

            text = await wait_for(shown)
    finally:
        stop.set()
        await relay
    assert 'bridge_onec_rejected{source="ut103-main"} 2.0' in text
    assert 'bridge_onec_oldest_pending_seconds{source="ut103-main"} 95.0' in text
    assert 'bridge_onec_sender_info{module_version="1.5.0",platform_version="8.3.22.1709",source="ut103-main"} 1.0' in text
    assert 'bridge_onec_last_heartbeat_timestamp_seconds{source="ut103-main"}' in text


async def test_a_forgotten_source_leaves_the_metrics(db_pool):
    await heartbeat.receive(db_pool, parse_heartbeat(beat()))
    await heartbeat.receive(db_pool, parse_heartbeat(beat(source="old-base")))
    await heartbeat.refresh_gauges(db_pool)
    assert await heartbeat.forget(db_pool, "old-base") and not await heartbeat.forget(db_pool, "old-base")
    await heartbeat.refresh_gauges(db_pool)
    text = metrics.exposition(metrics.registry("relay"))[0].decode()
    assert 'source="ut103-main"' in text and 'source="old-base"' not in text


async def test_an_empty_heartbeat_body_is_named_empty(ingest):
    client, pool = ingest
    r = await client.post("/v1/heartbeat", content=b"", headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json" and "empty" in r.json()["message"]
    assert await heartbeat.latest(pool) == []


async def test_half_an_emoji_in_a_heartbeat_is_refused_at_its_field_not_answered_500(ingest):
    """A string cut in the middle of a surrogate pair cannot be stored (nor echoed in UTF-8): the heartbeat is
    refused with 400 naming the field, as an event would be; an unknown field's value is ignored as before."""
    client, pool = ingest
    headers = {**AUTH, "Content-Type": "application/json"}
    for field in ("module_version", "platform_version", "source"):
        body = json.dumps(beat(**{field: "1.5.0 \ud83d"}))  # ensure_ascii: the escape as a client sends it
        r = await client.post("/v1/heartbeat", content=body.encode(), headers=headers)
        assert r.status_code == 400, (field, r.status_code, r.text)
        assert r.json()["error"] == "invalid_heartbeat"
        assert [(e["path"], e["code"]) for e in r.json()["errors"]] == [(field, "invalid_character")]
    r = await client.post("/v1/heartbeat", content=json.dumps(beat(module_version="a\x00", pending=-1)).encode(),
                          headers=headers)  # every bad field named, not only the first kind found
    assert {e["path"]: e["code"] for e in r.json()["errors"]} == {"module_version": "invalid_character",
                                                                   "pending": "out_of_range"}
    r = await client.post("/v1/heartbeat", content=b'{"pending": ' + b"9" * 5000 + b"}", headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "invalid_json", r.text  # (was a 500)
    assert await heartbeat.latest(pool) == []
    r = await client.post("/v1/heartbeat", content=json.dumps({**beat(), "x\ud83d": 1}).encode(), headers=headers)
    assert r.status_code == 400 and r.json()["error"] == "invalid_heartbeat", r.text  # a key no model can hold
    assert await heartbeat.latest(pool) == []
    r = await client.post("/v1/heartbeat", content=json.dumps({**beat(), "note": "x\ud83d"}).encode(), headers=headers)
    assert r.status_code == 200, r.text  # an unknown field's value is ignored, whatever it holds


async def test_a_heartbeat_with_a_bom_is_told_how_to_stop_1c_writing_it(ingest):
    client, _ = ingest
    r = await client.post("/v1/heartbeat", content=b"\xef\xbb\xbf" + json.dumps(beat()).encode(),
                          headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and "ИспользованиеByteOrderMark" in r.json()["message"]


async def test_probes_answer_head_as_uptime_checkers_send_it(ingest):
    client, _ = ingest
    for path in ("/healthz", "/readyz", "/metrics"):
        r = await client.head(path)
        assert r.status_code == 200, path
