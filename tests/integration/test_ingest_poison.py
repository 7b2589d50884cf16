"""Issue 13, item 1: nothing a client sends gets a 500 or jams a batch; limits hold while decoding.

One poisonous event among good ones is rejected alone (with its field path) and the others are stored;
a slow body times out and frees the connection; a huge list is refused fast; unknown fields keep their
values exactly; every answer is counted.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from bridge.ingest import IngestConfig, create_app
from bridge.outbox import NewEvent, Outbox
from tests.contract.samples import event
from tests.integration.test_ingest import serving

TOKEN = "ingest-poison-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}


def fresh(entity: str = "counterparty", **envelope) -> dict:
    return event(entity, event_id=str(uuid.uuid4()), **envelope)


@pytest.fixture
async def served(db_pool):
    """The ingest on a real port (1 s body timeout); yields (client, pool, port)."""
    app = create_app(IngestConfig([TOKEN.encode()], body_timeout=1.0), pool=db_pool)
    async with serving(app) as client:
        yield client, db_pool, client.base_url.port


async def stored_ids(pool) -> list[str]:
    return [r["event_id"] for r in await pool.fetch("SELECT event_id::text FROM outbox ORDER BY id")]


def _with_unknown(text: str) -> str:
    """A counterparty event whose payload has an unknown field ``extra`` holding the JSON text ``text``."""
    e = fresh()
    return json.dumps(e, ensure_ascii=False)[:-2] + f', "extra": {text}}}}}', e["event_id"]


# (name, JSON text of the poisoned event, the field path expected in its rejection)
def _poisons() -> list[tuple[str, object, str]]:
    late = fresh()
    late["occurred_at"] = "9999-12-31T23:59:59-00:01"
    early = fresh()
    early["occurred_at"] = "0001-01-01T00:00:00+00:01"
    minus_zero = fresh("customer_order")
    minus_zero["payload"]["amount"] = "-0"
    long_name = fresh()
    long_name["payload"]["name"] = "Я" * 200_001
    long_list = fresh()
    long_list["payload"]["phones"] = ["+7 495 000-00-00"] * 20_000
    return [
        ("occurred_at after year 9999 in UTC", late, "occurred_at"),
        ("occurred_at before year 1 in UTC", early, "occurred_at"),
        ("money -0", minus_zero, "payload.amount"),
        ("5,000-digit integer in an unknown field", _with_unknown("9" * 5000), "payload.extra"),
        ("NaN in an unknown field", _with_unknown("NaN"), "payload.extra"),
        ("Infinity in an unknown field", _with_unknown("Infinity"), "payload.extra"),
        ("-Infinity in an unknown field", _with_unknown("[1, -Infinity]"), "payload.extra[1]"),
        ("1e400 in an unknown field", _with_unknown('{"x": 1e400}'), "payload.extra.x"),
        # a double (0.0), but stored as sent into jsonb, whose numeric holds at most 16,383 decimals
        ("1e-16384 in an unknown field", _with_unknown('{"x": 1e-16384}'), "payload.extra.x"),
        ("a 19-digit negative exponent", _with_unknown('{"x": 1e-9999999999999999999}'), "payload.extra.x"),
        ("a zero with a 20-digit exponent", _with_unknown('{"x": 0e99999999999999999999}'), "payload.extra.x"),
        ("a zero with an exponent numeric refuses", _with_unknown('{"x": 0e1073741823}'), "payload.extra.x"),
        ("a name over the string limit", long_name, "payload.name"),
        ("a list over the items limit", long_list, "payload.phones"),
        # echoed as sent (escaped: it is not UTF-8), not a 500 after the good ones were stored
        ("half an emoji in event_id", (json.dumps({**fresh(), "event_id": "x\ud83d"}), "x\ud83d"), "event_id"),
    ]


@pytest.mark.parametrize("poison", _poisons(), ids=lambda p: p[0])
async def test_one_poisonous_event_is_rejected_alone_and_the_nine_good_ones_are_stored(served, poison):
    client, pool, _ = served
    _, bad, path = poison
    if isinstance(bad, tuple):
        bad_text, bad_id = bad
    else:
        bad_text, bad_id = json.dumps(bad, ensure_ascii=False), bad["event_id"]
    good = [fresh(entity) for entity in ("counterparty", "product", "customer_order") for _ in range(3)]
    texts = [json.dumps(e, ensure_ascii=False) for e in good]
    texts.insert(4, bad_text)
    r = await client.post("/v1/events", content=("[" + ",".join(texts) + "]").encode(), headers=JSON)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted"] * 4 + ["rejected"] + ["accepted"] * 5
    assert results[4]["event_id"] == bad_id
    assert path in [e["path"] for e in results[4]["errors"]], results[4]["errors"]
    assert sorted(await stored_ids(pool)) == sorted(e["event_id"] for e in good)


async def test_an_event_postgresql_refuses_after_validation_is_rejected_alone_via_savepoints(db_pool):
    """The last line: if an INSERT still fails with a data error, the batch is retried event by event."""
    def new(**change) -> NewEvent:
        base = dict(event_id=uuid.uuid4(), event_type="counterparty.upserted", entity="counterparty",
                    source="ut", entity_id=uuid.uuid4(), version=1,
                    occurred_at=datetime(2026, 1, 1, tzinfo=timezone.utc), body='{"a": 1}')
        return NewEvent(**{**base, **change})

    good = [new() for _ in range(4)]
    overflow = new(occurred_at=datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(minutes=-1))))
    nul = new(body='{"a": "\\u0000"}')  # jsonb refuses it on the server
    stored, refused = await Outbox(db_pool).store_isolated([good[0], overflow, good[1], nul, good[2], good[3]])
    assert stored == {e.event_id for e in good}
    assert sorted(refused) == [1, 3] and all(refused.values())
    assert len(await db_pool.fetch("SELECT 1 FROM outbox")) == 4


async def test_a_body_that_stops_arriving_gets_408_and_the_connection_is_closed(served):
    _, _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"event_".encode())
    await writer.drain()
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(65536), 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_timeout" in answer
    rest = await asyncio.wait_for(reader.read(65536), 10)  # the server hung up: EOF, not a kept-alive socket
    assert rest == b""
    assert time.monotonic() - started < 5
    writer.close()


async def test_a_huge_list_is_refused_fast_with_413_naming_the_field(served):
    client, pool, _ = served
    e = fresh()
    e["payload"]["extra"] = list(range(1_350_000))
    body = json.dumps(e, separators=(",", ":")).encode()
    assert 8_000_000 < len(body) < 16 * 1024 * 1024
    started = time.perf_counter()
    r = await client.post("/v1/events", content=body, headers=JSON)
    elapsed = time.perf_counter() - started
    assert r.status_code == 413 and r.json()["error"] == "too_many_values"
    assert "payload.extra" in r.json()["message"]
    assert elapsed < 2.5, f"took {elapsed:.2f} s"
    assert await stored_ids(pool) == []


async def test_the_event_loop_keeps_running_while_a_large_body_is_decoded(served):
    """A 16 MB batch is decoded and checked off the event loop: the loop never stalls for long."""
    client, _, _ = served
    events = [fresh() for _ in range(1000)]
    for e in events:
        e["payload"]["comment"] = "Комментарий " * 600  # ~15 KB each: a 15 MB batch, under every limit
    body = json.dumps(events, ensure_ascii=False).encode()
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    r = await client.post("/v1/events", content=body, headers=JSON)
    done.set()
    await ticker
    assert r.status_code == 200 and {x["status"] for x in r.json()["results"]} == {"accepted"}
    assert max(gaps) < 0.5, f"the loop stalled {max(gaps):.2f} s"


async def test_unknown_fields_keep_exactly_the_values_sent(served):
    client, pool, _ = served
    e = fresh()
    raw = ('{"big": 123456789012345678901234567890, "precise": 0.1000000000000000055511151231257827, '
           '"scaled": 1.50, "tiny": 1e-7, "large": 1.5e300, "nested": [2.50, {"deep": 10.0}], "text": "как есть"}')
    text = json.dumps(e, ensure_ascii=False)[:-2] + f', "extra": {raw}}}, "envelope_extra": 7.00}}'
    r = await client.post("/v1/events", content=text.encode(), headers=JSON)
    assert r.json()["results"][0]["status"] == "accepted", r.text
    body = await pool.fetchval("SELECT body::text FROM outbox WHERE event_id = $1::uuid", e["event_id"])
    for literal in ("123456789012345678901234567890", "0.1000000000000000055511151231257827", '"scaled": 1.50',
                    "2.50", '"deep": 10.0', '"envelope_extra": 7.00', "как есть"):
        assert literal in body, (literal, body)
    from decimal import Decimal
    stored = json.loads(body, parse_float=Decimal)
    assert stored["payload"]["extra"]["tiny"] == Decimal("1e-7")
    assert stored["payload"]["extra"]["large"] == Decimal("1.5e300")


async def test_every_answer_of_the_endpoint_is_counted(served):
    client, _, _ = served

    async def count(status: str) -> float:
        text = (await client.get("/metrics")).text
        found = re.search(rf'^bridge_ingest_requests_total{{status="{status}"}} (\S+)$', text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    cases = [
        ("200", dict(content=json.dumps(fresh()).encode(), headers=JSON)),
        ("400", dict(content=b"{not json", headers=JSON)),
        ("400", dict(content=b'{"a": ' + b"9" * 5000 + b"}" + b"[", headers=JSON)),
        ("401", dict(content=b"[]", headers={"Content-Type": "application/json"})),
        ("413", dict(content=b"[" + b"0," * 600_000 + b"0]", headers=JSON)),
        ("415", dict(content=b"[]", headers={**AUTH, "Content-Type": "text/plain"})),
    ]
    for status, request in cases:
        before = await count(status)
        r = await client.post("/v1/events", **request)
        assert str(r.status_code) == status, (status, r.text[:200])
        assert await count(status) == before + 1, status
    # the slow body's 408
    before = await count("408")
    with socket.create_connection(("127.0.0.1", client.base_url.port)) as s:
        s.sendall(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[".encode())
        s.settimeout(10)
        assert (await asyncio.to_thread(s.recv, 100)).startswith(b"HTTP/1.1 408")
    assert await count("408") == before + 1


async def test_a_client_that_hangs_up_mid_body_is_not_counted_as_a_bridge_failure(served):
    client, _, port = served

    async def count(status: str) -> float:
        text = (await client.get("/metrics")).text
        return float(re.search(rf'^bridge_ingest_requests_total{{status="{status}"}} (\S+)$', text, re.MULTILINE)[1])

    failed, refused = await count("500"), await count("400")
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{".encode())
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    for _ in range(50):
        if await count("400") == refused + 1:
            break
        await asyncio.sleep(0.05)
    assert (await count("400"), await count("500")) == (refused + 1, failed)


async def test_each_event_id_is_echoed_as_the_sender_spelled_it(served):
    """The 1C sender matches the results against its queue by the event_id it sent: an upper-case UUID
    comes back upper-case, accepted or duplicate (the outbox keeps one event per UUID whatever the spelling)."""
    client, pool, _ = served
    e = fresh()
    upper = {**e, "event_id": e["event_id"].upper()}
    r = await client.post("/v1/events", json=[upper], headers=AUTH)
    assert r.json()["results"][0] == {"event_id": upper["event_id"], "status": "accepted", "errors": []}
    r = await client.post("/v1/events", json=[e], headers=AUTH)
    assert r.json()["results"][0] == {"event_id": e["event_id"], "status": "duplicate", "errors": []}
    assert await stored_ids(pool) == [e["event_id"]]
