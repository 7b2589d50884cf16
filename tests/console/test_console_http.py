"""The console over HTTP on a real database: nothing without credentials, CSRF rules on every POST,
replay and purge recorded with who and why, pipeline counts from the outbox, inboxes and dead letters."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from click.testing import CliRunner

from bridge import console, heartbeat, metrics, review
from bridge.cli import main
from bridge.console import auth, health
from bridge.outbox import Outbox
from onec_outbox.contract.heartbeat import Heartbeat
from tests.console.support import PASSWORD, TOKEN, USER, app, config, store_dead_letter
from tests.contract.samples import event as sample_event
from tests.helpers import new_event

BASE = "http://console.test"
HTML = {"Accept": "text/html"}


def client(pool, cfg=None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app(pool, cfg)), base_url=BASE)


async def logged_in(c: httpx.AsyncClient) -> httpx.AsyncClient:
    reply = await c.post("/login", data={"user": USER, "password": PASSWORD, "next": "/dead-letters"})
    assert reply.status_code == 303 and reply.headers["location"] == "/dead-letters"
    return c


def form_token(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


async def letter_state(pool, event_id: str) -> dict:
    return dict(await pool.fetchrow("SELECT replayed_at IS NOT NULL AS replayed, purged_at IS NOT NULL AS purged, "
                                    "replayed_by, replay_reason, purged_by, purge_reason FROM dead_letters "
                                    "WHERE event_id = $1", event_id))


@pytest.mark.parametrize("path", ["/", "/dead-letters", "/dead-letters/1", "/trace?q=x"])
async def test_no_page_without_credentials(db_pool, path):
    async with client(db_pool) as c:
        browser = await c.get(path, headers=HTML)
        assert browser.status_code == 303 and browser.headers["location"].startswith("/login?next=")
        script = await c.get(path)
        assert script.status_code == 401 and script.headers["www-authenticate"].startswith("Basic")
        assert "dead" not in script.text.lower()


async def test_a_wrong_password_is_refused_and_sets_no_session(db_pool):
    async with client(db_pool) as c:
        reply = await c.post("/login", data={"user": USER, "password": PASSWORD + "x", "next": "/"})
        assert reply.status_code == 401 and "Wrong user name or password" in reply.text
        assert auth.SESSION_COOKIE not in reply.cookies
        assert (await c.get("/", headers=HTML)).status_code == 303


async def test_login_goes_only_to_a_page_of_the_console(db_pool):
    async with client(db_pool) as c:
        reply = await c.post("/login", data={"user": USER, "password": PASSWORD, "next": "//evil.example/x"})
        assert reply.headers["location"] == "/"
        cookie = reply.cookies[auth.SESSION_COOKIE]
        assert "httponly" in reply.headers["set-cookie"].lower() and "samesite=strict" in reply.headers["set-cookie"].lower()
        assert PASSWORD not in cookie


async def test_basic_auth_and_bearer_tokens_let_scripts_in_and_wrong_ones_do_not(db_pool):
    async with client(db_pool) as c:
        assert (await c.get("/dead-letters", auth=(USER, PASSWORD))).status_code == 200
        assert (await c.get("/dead-letters", auth=(USER, "nope-nope-nope"))).status_code == 401
        assert (await c.get("/dead-letters", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
        assert (await c.get("/dead-letters", headers={"Authorization": "Bearer not-the-token-at-all"})).status_code == 401


async def test_probes_and_static_files_need_no_login(db_pool):
    async with client(db_pool) as c:
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        assert (await c.get("/readyz")).status_code == 200
        text = (await c.get("/metrics")).text
        assert 'bridge_console_logins_total{result="refused"}' in text  # born at 0 with the process
        assert 'bridge_console_dead_letters_marked_total{action="replay"}' in text
        assert (await c.get("/static/console.css")).status_code == 200
        assert (await c.get("/static/../app.py")).status_code == 404


async def test_a_session_post_without_the_form_token_or_from_another_origin_changes_nothing(db_pool):
    e = await store_dead_letter(db_pool)
    (letter_id,) = [r["id"] for r in await db_pool.fetch("SELECT id FROM dead_letters")]
    async with client(db_pool) as c:
        await logged_in(c)
        token = form_token((await c.get("/dead-letters")).text)
        data = {"id": str(letter_id), "reason": "fixed"}
        assert (await c.post("/dead-letters/replay", data=data)).status_code == 403
        assert (await c.post("/dead-letters/replay", data={**data, "csrf": "0" * 64})).status_code == 403
        other = await c.post("/dead-letters/replay", data={**data, "csrf": token},
                             headers={"Origin": "https://evil.example"})
        assert other.status_code == 403
        assert (await letter_state(db_pool, e["event_id"]))["replayed"] is False
        done = await c.post("/dead-letters/replay", data={**data, "csrf": token}, headers={"Origin": BASE})
        assert done.status_code == 303 and "done=replay&n=1" in done.headers["location"]
    state = await letter_state(db_pool, e["event_id"])
    assert (state["replayed"], state["replayed_by"], state["replay_reason"]) == (True, USER, "fixed")


async def test_basic_auth_posts_need_the_form_token_too_but_bearer_posts_do_not(db_pool):
    first, second = await store_dead_letter(db_pool), await store_dead_letter(db_pool)
    ids = {r["event_id"]: r["id"] for r in await db_pool.fetch("SELECT id, event_id FROM dead_letters")}
    async with client(db_pool) as c:
        refused = await c.post("/dead-letters/purge", data={"id": ids[first["event_id"]], "reason": "dup"},
                               auth=(USER, PASSWORD))
        assert refused.status_code == 403
        page = (await c.get("/dead-letters", auth=(USER, PASSWORD))).text
        ok = await c.post("/dead-letters/purge", auth=(USER, PASSWORD),
                          data={"id": ids[first["event_id"]], "reason": "dup", "csrf": form_token(page)})
        assert ok.status_code == 303
        scripted = await c.post("/dead-letters/purge", data={"id": ids[second["event_id"]], "reason": "dup too"},
                                headers={"Authorization": f"Bearer {TOKEN}"})
        assert scripted.status_code == 303
    assert (await letter_state(db_pool, first["event_id"]))["purged_by"] == USER
    assert (await letter_state(db_pool, second["event_id"]))["purged_by"].startswith("token:")


@pytest.mark.parametrize("verb", ["replay", "purge"])
async def test_replay_and_purge_need_a_reason(db_pool, verb):
    e = await store_dead_letter(db_pool)
    letter_id = await db_pool.fetchval("SELECT id FROM dead_letters")
    async with client(db_pool) as c:
        reply = await c.post(f"/dead-letters/{verb}", data={"id": letter_id, "reason": "   "},
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert reply.status_code == 400 and "give a reason" in reply.text
    state = await letter_state(db_pool, e["event_id"])
    assert not state["replayed"] and not state["purged"]


async def test_the_pipeline_counts_what_each_stage_did_per_entity(db_pool):
    outbox = Outbox(db_pool)
    events = [new_event("counterparty") for _ in range(4)] + [new_event("product")]
    await outbox.store(events)
    applied, published = events[0], events[:3]
    await db_pool.execute("UPDATE outbox SET published_at = now() WHERE event_id = ANY($1::uuid[])",
                          [e.event_id for e in published] + [events[4].event_id])
    await db_pool.execute("INSERT INTO inbox (consumer, event_id) VALUES ('counterparty', $1)", applied.event_id)
    await store_dead_letter(db_pool, json.loads(events[1].body))
    rows = {r.entity: r for r in await health.pipeline(db_pool, 3600)}
    c = rows["counterparty"]
    assert (c.consumer, c.ingested, c.published, c.applied, c.dead_lettered, c.waiting) == \
        ("counterparty", 4, 3, 1, 1, 1)
    assert c.unpublished == 1 and c.oldest_unpublished_seconds is not None
    assert c.median_apply_seconds is not None and c.oldest_waiting_seconds is not None
    assert (rows["product"].ingested, rows["product"].waiting) == (1, 1)
    assert rows["customer_order"].ingested == 0 and rows["customer_order"].consumer == "deal"
    async with client(db_pool) as c:
        page = (await c.get("/?window=1h", auth=(USER, PASSWORD))).text
    assert 'data-entity="counterparty"' in page and "https://grafana.example/d/bridge" in page


async def test_the_trace_page_shows_what_the_trace_found_and_says_when_nothing_is_known(db_pool):
    e = await store_dead_letter(db_pool)
    async with client(db_pool) as c:
        page = (await c.get("/trace", params={"q": e["event_id"]}, auth=(USER, PASSWORD))).text
        assert 'id="trace"' in page and "ERROR_CORE: Bad e-mail" in page
        unknown = (await c.get("/trace", params={"q": str(uuid.uuid4())}, auth=(USER, PASSWORD))).text
        assert 'id="not-found"' in unknown
        bad = (await c.get("/trace", params={"q": "<script>"}, auth=(USER, PASSWORD))).text
        assert "<script>" not in bad and "&lt;script&gt;" in bad


def test_the_console_command_refuses_to_start_without_credentials():
    result = CliRunner().invoke(main, ["console"], env={"BRIDGE_CONSOLE_USERS": "", "BRIDGE_CONSOLE_TOKENS": ""})
    assert result.exit_code == 2
    assert "Error: the console needs credentials" in result.stderr


def test_the_console_command_never_logs_a_password():
    result = CliRunner().invoke(main, ["console"], env={"BRIDGE_CONSOLE_USERS": "anna:shortpw",
                                                        "BRIDGE_CONSOLE_TOKENS": ""})
    assert result.exit_code == 2 and "shortpw" not in result.stderr and "shorter than 8" in result.stderr


def test_run_serves_the_console_only_when_it_has_credentials():
    from bridge import bootstrap
    from bridge.settings import Settings

    assert not bootstrap.console_wanted(Settings(console_users=[], console_tokens=[]))
    assert bootstrap.console_wanted(Settings(console_users=[f"{USER}:{PASSWORD}"]))
    assert isinstance(config(), console.ConsoleConfig) and metrics.COMPONENTS["console"]


async def test_one_dead_letter_shows_its_headers_body_and_buttons(db_pool):
    e = await store_dead_letter(db_pool)
    letter_id = await db_pool.fetchval("SELECT id FROM dead_letters")
    async with client(db_pool) as c:
        page = (await c.get(f"/dead-letters/{letter_id}", auth=(USER, PASSWORD))).text
        assert e["event_id"] in page and "x-bridge-reason" in page and e["payload"]["name"] in page
        assert 'formaction="/dead-letters/replay"' in page and 'name="csrf"' in page
        assert (await c.get("/dead-letters/999999", auth=(USER, PASSWORD))).status_code == 404


def test_a_richer_trace_shows_up_as_tables_without_a_change_to_the_console():
    """The trace grows (outcomes per consumer, Bitrix24 calls, URLs): nested rows and mappings render."""
    from dataclasses import dataclass, field

    from bridge.console.app import _environment, sections

    @dataclass
    class Richer:
        query: str
        found_by: str = "document number"
        events: list = field(default_factory=lambda: [{"event_id": "e1", "outcomes": [
            {"consumer": "deal", "outcome": "waiting", "missing": ["counterparty c-1"]}]}])
        deal: dict = field(default_factory=lambda: {"id": 7, "url": "https://portal.example/crm/deal/details/7/"})

    html = _environment().get_template("trace.html").render(
        principal=None, csrf="", grafana_url=None, path="/trace", has_users=True, q="ТД000004914", problem=None,
        found=True, sections=sections(Richer("ТД000004914")))
    assert "document number" in html and "waiting" in html and "counterparty c-1" in html
    assert '<a href="https://portal.example/crm/deal/details/7/"' in html


async def test_the_pipeline_page_shows_each_1c_base_from_its_heartbeat_and_flags_a_silent_one(db_pool):
    await heartbeat.receive(db_pool, Heartbeat(source="ut-moscow", module_version="1.5.0",
                                               platform_version="8.3.24.1548", pending=12,
                                               oldest_pending_seconds=300, rejected=2))
    await heartbeat.receive(db_pool, Heartbeat(source="ut-kazan", module_version="1.5.0",
                                               platform_version="8.3.6.2530", pending=0,
                                               oldest_pending_seconds=0, rejected=0))
    await db_pool.execute("UPDATE source_heartbeats SET received_at = now() - interval '2 hours' "
                          "WHERE source = 'ut-kazan'")
    async with client(db_pool) as c:
        page = (await c.get("/", auth=(USER, PASSWORD))).text
    table = page.split('id="sources"', 1)[1].split("</table>", 1)[0]
    moscow, kazan = (table.split(f">{name}</th>", 1)[1].split("</tr>", 1)[0] for name in ("ut-moscow", "ut-kazan"))
    assert ">12<" in moscow and ">2<" in moscow and "silent" not in moscow  # rejected flags it, not silence
    assert "silent" in kazan and "8.3.6.2530" in kazan
    assert table.count('class="bad"') == 2


async def test_a_parked_event_is_shown_and_resolved_from_the_review_page(db_pool):
    store = review.ReviewStore(db_pool)
    e = sample_event("counterparty", event_id=str(uuid.uuid4()), entity_id=str(uuid.uuid4()))
    item = await store.park(consumer="counterparty", onec_type="counterparty", onec_id=e["entity_id"],
                            reason="several_candidates", summary="компания «Ромашка»: #12; #15", error="x",
                            candidates=[{"id": 12, "step": "requisite", "strong": True, "note": "ИНН",
                                         "title": "Ромашка (дубль)"},
                                        {"id": 15, "step": "requisite", "strong": True, "note": "ИНН"}],  # parked
                            event=e, body=json.dumps(e).encode())  # before candidates had titles
    async with client(db_pool) as c:
        await logged_in(c)
        listing = (await c.get("/review")).text
        assert f'data-onec-id="{e["entity_id"]}"' in listing and "12, 15" in listing
        page = (await c.get(f"/review/{item}")).text
        assert 'id="resolve"' in page and "several_candidates" in page
        assert "<td>12</td><td>Ромашка (дубль)</td>" in page and "<td>15</td><td></td>" in page
        refused = await c.post(f"/review/{item}/resolve", data={"decision": "adopt", "target": "12"},
                               headers={"Origin": BASE})
        assert refused.status_code == 403  # no form token
        typo = await c.post(f"/review/{item}/resolve", data={"decision": "adopt", "target": "21",
                                                              "csrf": form_token(page)}, headers={"Origin": BASE})
        assert typo.status_code == 400 and "#21 is not a candidate" in typo.text and "#12, #15" in typo.text
        assert (await store.decision(e["source"], "counterparty", e["entity_id"])).open  # nothing decided
        page = (await c.get(f"/review/{item}")).text
        assert 'name="any_record"' in page  # the override for a record matching did not find
        done = await c.post(f"/review/{item}/resolve", data={"decision": "adopt", "target": "12", "note": "T-1",
                                                              "csrf": form_token(page)}, headers={"Origin": BASE})
        assert done.status_code == 303 and done.headers["location"] == f"/review?done={item}"
    decided = await store.decision(e["source"], "counterparty", e["entity_id"])
    assert (decided.decision, decided.target_id) == ("adopt", 12)
    # the stored event is back in the outbox, whole, to be published again
    body = await db_pool.fetchval("SELECT body FROM outbox WHERE event_id = $1::uuid AND published_at IS NULL",
                                  e["event_id"])
    assert body == e
