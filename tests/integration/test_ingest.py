"""The HTTP ingest follows the transport of contract v1 exactly, and stores nothing it refuses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import ops_http
from bridge.errors import ConfigError
from bridge.ingest import IngestConfig, create_app
from bridge.settings import Settings
from tests.contract.samples import event, payload_with
from tests.integration.test_heartbeat import beat
from tests.helpers import free_port

TOKEN = "ingest-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def fresh(entity: str = "counterparty", **envelope) -> dict:
    return event(entity, event_id=str(uuid.uuid4()), **envelope)


@pytest.fixture
async def ingest(db_pool):
    """The ingest app served by uvicorn on a real port; yields (base url, pool)."""
    app = create_app(IngestConfig([TOKEN.encode()], max_body_bytes=256 * 1024, max_batch=1000), pool=db_pool)
    async with serving(app) as client:
        yield client, db_pool


@contextlib.asynccontextmanager
async def serving(app):
    """``app`` on a free local port until the block ends; yields a client of it, once it answers."""
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(ops_http.serve(app, "127.0.0.1", port, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(100):
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            yield client
    finally:
        stop.set()
        await task


async def stored(pool) -> list[dict]:
    return [dict(r) for r in await pool.fetch("SELECT event_id::text, version, body FROM outbox ORDER BY id")]


async def test_one_event_is_accepted_and_stored_before_the_answer(ingest):
    client, pool = ingest
    e = fresh()
    r = await client.post("/v1/events", json=e, headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {"results": [{"event_id": e["event_id"], "status": "accepted", "errors": []}]}
    rows = await stored(pool)
    assert [row["event_id"] for row in rows] == [e["event_id"]]
    assert rows[0]["body"]["payload"]["inn"] == "7707083893"


async def test_a_batch_gets_one_result_per_event_in_request_order_and_only_valid_ones_are_stored(ingest):
    client, pool = ingest
    good, bad, other = fresh("product"), payload_with("counterparty", inn="7707083894"), fresh("customer_order")
    bad["event_id"] = str(uuid.uuid4())
    r = await client.post("/v1/events", json=[good, bad, other], headers=AUTH)
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected", "accepted"]
    assert [x["event_id"] for x in results] == [good["event_id"], bad["event_id"], other["event_id"]]
    assert results[1]["errors"][0]["path"] == "payload.inn"
    assert results[1]["errors"][0]["code"] == "inn_checksum"
    assert {row["event_id"] for row in await stored(pool)} == {good["event_id"], other["event_id"]}


async def test_the_same_event_twice_is_a_duplicate_and_the_first_write_wins(ingest):
    client, pool = ingest
    first = fresh()
    second = json.loads(json.dumps(first))
    second["payload"]["name"] = "Другое имя"
    assert (await client.post("/v1/events", json=first, headers=AUTH)).json()["results"][0]["status"] == "accepted"
    assert (await client.post("/v1/events", json=second, headers=AUTH)).json()["results"][0]["status"] == "duplicate"
    in_one = await client.post("/v1/events", json=[fresh(), first], headers=AUTH)
    assert [x["status"] for x in in_one.json()["results"]] == ["accepted", "duplicate"]
    rows = await stored(pool)
    assert len(rows) == 2 and rows[0]["body"]["payload"]["name"] == "Ромашка ООО"


async def test_an_event_repeated_inside_one_batch_is_stored_once(ingest):
    client, pool = ingest
    e = fresh()
    r = await client.post("/v1/events", json=[e, e], headers=AUTH)
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "duplicate"]
    assert len(await stored(pool)) == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer"}])
async def test_a_missing_or_unknown_token_gets_401_and_nothing_is_stored(ingest, headers):
    client, pool = ingest
    r = await client.post("/v1/events", json=fresh(), headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer ")  # which scheme to use (RFC 9110 requires it)
    assert ('error="invalid_token"' in r.headers["www-authenticate"]) == (headers.get("Authorization") == "Bearer wrong")
    assert await stored(pool) == []
    beat = await client.post("/v1/heartbeat", json={}, headers=headers)
    assert beat.status_code == 401 and beat.headers["www-authenticate"].startswith("Bearer ")


async def test_a_body_that_is_not_json_gets_400_saying_where(ingest):
    client, pool = ingest
    r = await client.post("/v1/events", content=b'{"event_id": ', headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    assert "line 1" in r.json()["message"]
    assert await stored(pool) == []


async def test_a_byte_order_mark_is_refused_with_a_hint_for_1c(ingest):
    client, _ = ingest
    body = b"\xef\xbb\xbf" + json.dumps(fresh()).encode()
    r = await client.post("/v1/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and "ИспользованиеByteOrderMark" in r.json()["message"]


@pytest.mark.parametrize("body", [b"42", b'"text"', b"null", b"true"])
async def test_json_that_is_neither_an_event_nor_an_array_gets_400(ingest, body):
    client, _ = ingest
    r = await client.post("/v1/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_body"


async def test_a_wrong_content_type_gets_415(ingest):
    client, pool = ingest
    r = await client.post("/v1/events", content=json.dumps(fresh()).encode(),
                          headers={**AUTH, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = await client.post("/v1/events", content=json.dumps(fresh()).encode(),
                          headers={**AUTH, "Content-Type": "application/json; charset=windows-1251"})
    assert r.status_code == 415
    assert await stored(pool) == []


async def test_an_oversize_batch_gets_413_and_nothing_is_stored(ingest):
    client, pool = ingest
    small = [{"event_id": str(uuid.uuid4())} for _ in range(1001)]
    r = await client.post("/v1/events", json=small, headers=AUTH)
    assert r.status_code == 413 and r.json()["error"] == "batch_too_large"
    big = [fresh() for _ in range(400)]  # over this app's 256 KB limit
    r = await client.post("/v1/events", json=big, headers=AUTH)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert await stored(pool) == []


async def test_each_kind_of_bad_event_is_rejected_with_its_own_path_and_code(ingest):
    client, pool = ingest
    bad_inn = payload_with("counterparty", inn="7707083894")
    unknown = fresh(event_type="warehouse.upserted")
    missing = fresh()
    del missing["payload"]["name"]
    money_float = payload_with("customer_order", amount=2250.0)
    for e in (bad_inn, money_float):
        e["event_id"] = str(uuid.uuid4())
    r = await client.post("/v1/events", json=[bad_inn, unknown, missing, money_float], headers=AUTH)
    errors = [x["errors"] for x in r.json()["results"]]
    assert all(x["status"] == "rejected" for x in r.json()["results"])
    assert (errors[0][0]["path"], errors[0][0]["code"]) == ("payload.inn", "inn_checksum")
    assert errors[1][0]["path"] == "event_type" and "counterparty.upserted" in errors[1][0]["message"]
    assert errors[2][0]["path"] == "payload.name"
    assert errors[3][0]["path"] == "payload.amount"
    assert await stored(pool) == []


async def test_a_storage_failure_answers_503_with_retry_after_not_500(db_url):
    from bridge import db

    pool = await db.create_pool(db_url)
    app = create_app(IngestConfig([TOKEN.encode()]), pool=pool)
    await pool.close()  # the database is gone for this app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        r = await client.post("/v1/events", json=fresh(), headers=AUTH)
    assert r.status_code == 503 and r.headers["retry-after"] == "5"


@contextlib.asynccontextmanager
async def ingest_on(db_url: str, **server_settings: str):
    """The ingest on its own pool, every connection with these PostgreSQL settings; yields (client, that
    pool, a pool without them to look with)."""
    import asyncpg

    from bridge import db

    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2, server_settings=server_settings)
    plain = await db.create_pool(db_url, max_size=2)
    try:
        async with serving(create_app(IngestConfig([TOKEN.encode()]), pool=pool)) as client:
            yield client, pool, plain
    finally:
        await pool.close()
        await plain.close()


async def test_a_read_only_database_answers_503_and_rejects_nothing_so_1c_sends_again(db_url):
    """After a failover the server may take reads but no writes: that is the store failing, not the events.
    Answered ``rejected``, 1C would take them out of its queue for good (lost)."""
    events = [fresh(), fresh("product")]
    async with ingest_on(db_url, default_transaction_read_only="on") as (client, _, plain):
        r = await client.post("/v1/events", json=events, headers=AUTH)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5" and r.json()["error"] == "storage_unavailable"
        h = await client.post("/v1/heartbeat", json=beat(), headers=AUTH)
        assert h.status_code == 503 and h.headers["retry-after"] == "5", h.text
        assert h.json()["error"] == "storage_unavailable"
        assert await stored(plain) == []


async def test_a_lock_timeout_answers_503_and_the_retry_stores_every_event(db_url):
    """A migration or a long maintenance statement holding the outbox: the ingest gives up after its lock
    timeout with 503; the sender's next try, once the lock is gone, stores each event once."""
    events = [fresh(), fresh("customer_order")]
    async with ingest_on(db_url, lock_timeout="200ms") as (client, _, plain):
        async with plain.acquire() as holder, holder.transaction():
            await holder.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
            r = await client.post("/v1/events", json=events, headers=AUTH)
        assert r.status_code == 503, r.text
        assert await stored(plain) == []
        again = await client.post("/v1/events", json=events, headers=AUTH)
        assert [x["status"] for x in again.json()["results"]] == ["accepted", "accepted"], again.text
        assert sorted(e["event_id"] for e in await stored(plain)) == sorted(e["event_id"] for e in events)


async def test_health_readiness_metrics_and_openapi_are_served(ingest):
    client, _ = ingest
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["postgresql"] == "ok"
    await client.post("/v1/events", json=fresh(), headers=AUTH)
    text = (await client.get("/metrics")).text
    assert 'bridge_ingest_events_total{entity="counterparty",result="accepted"}' in text
    assert 'bridge_ingest_requests_total{status="503"}' in text  # there before the first failure
    assert "bridge_build_info{" in text and "_created" not in text
    assert not re.search(r"^bridge_(consumer|relay|outbox|b24|deal)_", text, re.MULTILINE), "another process's families"
    spec = (await client.get("/openapi.json")).json()
    assert "Event" in spec["components"]["schemas"] and "/v1/events" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_the_token_never_appears_in_the_logs(ingest, caplog):
    client, _ = ingest
    caplog.set_level("DEBUG")
    await client.post("/v1/events", json=fresh(), headers=AUTH)
    await client.post("/v1/events", json=fresh(), headers={"Authorization": "Bearer not-the-token-123"})
    assert TOKEN not in caplog.text and "not-the-token-123" not in caplog.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200),
                      st.builds(lambda e, k, v: json.dumps({**e, k: v}).encode(),
                                st.just(event()), st.sampled_from(["event_id", "version", "occurred_at",
                                                                   "payload", "entity_id", "source"]), json_values)))
def test_no_malformed_input_ever_gets_a_500(db_url, body):
    async def run() -> int:
        from bridge import db

        pool = await db.create_pool(db_url, max_size=2)
        try:
            app = create_app(IngestConfig([TOKEN.encode()]), pool=pool)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as client:
                r = await client.post("/v1/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
                return r.status_code
        finally:
            await pool.close()

    assert asyncio.run(run()) in (200, 400, 413)


@pytest.mark.parametrize("text", ["Доставка\u0000до склада", "Эмодзи обрезан: \ud83d"])
async def test_text_postgresql_cannot_store_rejects_that_event_alone_and_the_rest_are_stored(ingest, text):
    client, pool = ingest
    good, bad = fresh("product"), fresh("customer_order")
    bad["payload"]["comment"] = text
    body = json.dumps([good, bad])  # ASCII-escaped, so the lone surrogate survives the HTTP body
    r = await client.post("/v1/events", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]
    error = r.json()["results"][1]["errors"][0]
    assert (error["path"], error["code"]) == ("payload.comment", "invalid_character")
    assert [row["event_id"] for row in await stored(pool)] == [good["event_id"]]


async def test_a_body_nested_absurdly_deep_gets_400_not_500(ingest):
    client, _ = ingest
    r = await client.post("/v1/events", content=b"[" * 100_000 + b"]" * 100_000,
                          headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 400


BOUND = "ingest-bound-token"


@pytest.fixture
async def bound_ingest(db_pool):
    """An ingest with one token bound to the 1C base ``ut-a`` (BRIDGE_INGEST_TOKENS entry ``token@ut-a``)."""
    app = create_app(IngestConfig([TOKEN.encode(), BOUND.encode()], sources={BOUND.encode(): frozenset({"ut-a"})}),
                     pool=db_pool)
    async with serving(app) as client:
        yield client, db_pool


async def test_a_token_bound_to_one_base_is_refused_for_another_and_nothing_is_stored(bound_ingest):
    client, pool = bound_ingest
    auth = {"Authorization": f"Bearer {BOUND}"}
    own, other = fresh(source="ut-a"), fresh(source="ut-b")
    r = await client.post("/v1/events", json=[own, other], headers=auth)
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden_source"
    assert "events[1].source" in r.json()["message"] and "ut-b" in r.json()["message"]
    assert await stored(pool) == []
    r = await client.post("/v1/events", json=own, headers=auth)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted"
    # a token without binding keeps sending any base
    r = await client.post("/v1/events", json=other, headers=AUTH)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted"
    assert {row["event_id"] for row in await stored(pool)} == {own["event_id"], other["event_id"]}
    # its heartbeat too: a base's token cannot speak for another base
    r = await client.post("/v1/heartbeat", json=beat(source="ut-b"), headers=auth)
    assert r.status_code == 403 and r.json()["error"] == "forbidden_source"
    assert (await client.post("/v1/heartbeat", json=beat(source="ut-a"), headers=auth)).status_code == 200


def test_the_token_setting_binds_tokens_to_sources(monkeypatch):
    monkeypatch.setenv("BRIDGE_INGEST_TOKENS", "free-token, bound-token@ut-a|ut-b")
    assert Settings().token_bindings() == [(b"free-token", None), (b"bound-token", frozenset({"ut-a", "ut-b"}))]
    assert Settings().token_values() == [b"free-token", b"bound-token"]


@pytest.mark.parametrize("value", ["tok@ut-a,tok@ut-b", "tok,tok@ut-a", "tok@ut-a, tok"])
def test_a_token_listed_twice_with_different_bases_is_refused_not_silently_narrowed(monkeypatch, value):
    """``tok@ut-a,tok@ut-b`` used to bind tok to ut-b alone (the last entry won), so ut-a's events got 403;
    ``tok,tok@ut-a`` bound a token the operator also listed as free.  Refused at start, naming the entries
    (never the token: it is a secret)."""
    monkeypatch.setenv("BRIDGE_INGEST_TOKENS", value)
    with pytest.raises(ConfigError, match=r"entries 1 and 2") as refused:
        Settings().token_bindings()
    assert "tok@ut-a|ut-b" not in str(refused.value) and "tok" not in str(refused.value).replace("token", "")


def test_a_token_repeated_with_the_same_bases_is_one_token(monkeypatch):
    monkeypatch.setenv("BRIDGE_INGEST_TOKENS", "tok@ut-a|ut-b,tok@ut-b|ut-a,free,free")
    assert Settings().token_bindings() == [(b"tok", frozenset({"ut-a", "ut-b"})), (b"free", None)]


async def test_a_bound_token_gets_a_field_error_not_403_for_an_event_without_a_source(bound_ingest):
    """An event with no ``source`` (or not an object at all) is of no other base: it is rejected on its own
    with the field's error, and the rest of the batch is stored, as for a free token.  It used to refuse the
    whole request with 403 "events[1].source: None is not a 1C base …"."""
    client, pool = bound_ingest
    auth = {"Authorization": f"Bearer {BOUND}"}
    own, sourceless = fresh(source="ut-a"), fresh(source="ut-a")
    del sourceless["source"]
    r = await client.post("/v1/events", json=[own, sourceless, 5], headers=auth)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected", "rejected"]
    assert [(e["path"], e["code"]) for e in results[1]["errors"]] == [("source", "required")]
    assert results[2]["errors"][0]["code"] == "not_an_object"
    assert [row["event_id"] for row in await stored(pool)] == [own["event_id"]]


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"42"])
async def test_a_bound_tokens_heartbeat_that_is_not_an_object_gets_400_not_403(bound_ingest, body):
    client, _ = bound_ingest
    r = await client.post("/v1/heartbeat", content=body,
                          headers={"Authorization": f"Bearer {BOUND}", "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] in ("invalid_json", "invalid_body"), r.text


@pytest.mark.parametrize("path", ["/v1/events", "/v1/heartbeat"])
async def test_a_compressed_body_gets_415_naming_the_content_encoding(ingest, path):
    """A gzip body (a proxy or client compressing) used to get 400 "the body is not UTF-8 (byte 1)"; the
    ingest does not decode content codings, so it says so (RFC 9110 §15.5.16: 415, with Accept-Encoding)."""
    import gzip
    client, pool = ingest
    r = await client.post(path, content=gzip.compress(json.dumps(fresh()).encode()),
                          headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    assert "gzip" in r.json()["message"] and r.headers["accept-encoding"] == "identity"
    assert await stored(pool) == []
    r = await client.post(path, json=fresh(), headers={**AUTH, "Content-Encoding": "identity"})
    assert r.status_code != 415


async def test_a_trailing_slash_is_the_same_endpoint_not_a_redirect(ingest):
    """A sender configured with ``…/v1/events/`` got 307 to ``/v1/events``, and 1C's HTTP client does not
    follow a redirect for a POST: every run would fail on a slash."""
    client, pool = ingest
    body = fresh()
    r = await client.post("/v1/events/", json=body, headers=AUTH)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted", (r.status_code, r.text)
    assert [e["event_id"] for e in await stored(pool)] == [body["event_id"]]
    r = await client.post("/v1/heartbeat/", json=beat(), headers=AUTH)
    assert r.status_code == 200, (r.status_code, r.text)


async def test_a_wrong_method_or_path_gets_the_documented_error_shape(ingest):
    client, _ = ingest
    r = await client.get("/v1/events", headers=AUTH)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["error"] == "method_not_allowed" and "POST" in r.json()["message"]
    r = await client.post("/v1/event", json=fresh(), headers=AUTH)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert "/v1/events" in r.json()["message"]


@pytest.mark.parametrize("token", [TOKEN, "not-a-token"])
async def test_a_sender_that_sends_its_whole_body_first_reads_the_refusal_not_a_reset(ingest, token):
    """urllib (like the 1C sender, which splits a batch on 413 and pauses on anything else) writes the whole
    body before it reads the answer: refused without its body being read, it met "connection reset by peer",
    and a batch over the limit would have been retried as "bridge unreachable" for ever."""
    import urllib.error
    import urllib.request

    client, pool = ingest
    request = urllib.request.Request(str(client.base_url.join("/v1/events")), data=b" " * 16_000_000,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def send() -> urllib.error.HTTPError:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=30)
        return info.value

    refused = await asyncio.to_thread(send)
    expected = (413, "body_too_large") if token == TOKEN else (401, "unauthorized")
    assert (refused.code, json.loads(refused.read())["error"]) == expected
    assert await stored(pool) == []
