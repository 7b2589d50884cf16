"""`b24bridge trace` on the whole path (ingest → outbox → relay → RabbitMQ → consumers → the sandbox): why an
order is not in Bitrix24 yet, what a dead letter's Bitrix24 error was, look-up by number and by Bitrix24 id,
the Bitrix24 calls without secrets, and the CLI through a pipe."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import pytest

from bridge.b24.urls import portal_origin
from bridge.trace import Ambiguous, trace
from tests.e2e.test_counterparty import full_company
from tests.e2e.test_deals import MAPPING, product_event, settled
from tests.helpers import wait_for
from tests.support.orders import Lifecycle
from tests.support.portal import prepare_deals_async

CALL_KEYS = {"method", "ids", "code", "status", "ms", "rows"}


@pytest.fixture
async def crm(stack):
    await prepare_deals_async(stack.portal.webhook_url, MAPPING)
    return stack


async def cli(stack, *args: str) -> subprocess.CompletedProcess:
    """`b24bridge trace …` as an operator runs it through a pipe (stdout is not a terminal)."""
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bridge.cli", "trace", *args],
                                   env=stack.env, capture_output=True, text=True, timeout=120)


async def traced(stack, db_pool, ident: str, check, **kw):
    async def probe():
        try:
            found = await trace(db_pool, ident, portal=portal_origin(stack.portal.webhook_url), **kw)
        except ValueError:
            return None
        return found if check(found) else None
    found = await wait_for(probe, timeout=60, interval=0.3)
    assert found is not None, f"trace {ident} never showed what was expected"
    return found


def outcomes(found, consumer="deal") -> list[str]:
    return [o["outcome"] for e in found.events for o in e["outcomes"] if o["consumer"] == consumer]


async def test_an_order_waiting_for_its_counterparty_says_which_and_since_when_then_shows_its_deal(crm, db_pool):
    cp, product = str(uuid.uuid4()), str(uuid.uuid4())
    lc = Lifecycle(cp, product)
    order = lc.order()
    number = order["payload"]["number"]
    await crm.post(order)

    waiting = await traced(crm, db_pool, number, lambda f: f.waiting)
    [why] = [w for w in waiting.waiting if w["kind"] == "counterparty"]
    assert (why["id"], why["in_b24"], why["dependency_event"], why["consumer"]) == (cp, [], None, "deal")
    assert why["since"] is not None and waiting.links == []
    text = await cli(crm, number)
    assert text.returncode == 0, text.stderr
    assert f"waiting for counterparty {cp}: not in Bitrix24 yet, since " in text.stdout
    assert "1C has not sent this counterparty" in text.stdout
    assert f"deal: waiting for counterparty/{cp}" in text.stdout
    assert "in Bitrix24: nothing yet" in text.stdout

    company = full_company()
    company["entity_id"] = cp
    await crm.post([company, product_event(product)])
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_ORDER")

    by_deal = await traced(crm, db_pool, f"deal:{d['ID']}", lambda f: "applied" in outcomes(f))
    assert by_deal.object["entity_id"] == lc.order_id and by_deal.waiting == []
    assert outcomes(by_deal)[0] == "waiting" and outcomes(by_deal)[-1] == "applied"
    [link] = [link for link in by_deal.links if link["b24_type"] == "deal"]
    assert link["url"] == f"{portal_origin(crm.portal.webhook_url)}/crm/deal/details/{d['ID']}/"
    applied = [o for e in by_deal.events for o in e["outcomes"] if o["outcome"] == "applied"][-1]
    assert any(c["method"] == "crm.deal.add" and c["ids"]["result"] == int(d["ID"]) for c in applied["calls"])


async def test_an_orders_trace_says_where_each_of_its_documents_is(crm, db_pool):
    """The order's documents with their latest outcome, and which of them the deal does not show yet: an
    operator asked "why is the invoice not in the deal?" needs no second trace to see it waits too."""
    cp, product = str(uuid.uuid4()), str(uuid.uuid4())
    lc = Lifecycle(cp, product)
    invoice = lc.invoice(number="СЧ-" + lc.order_id[:4])
    await crm.post(lc.order())
    await traced(crm, db_pool, lc.order_id, lambda f: f.waiting)  # the order waits for its counterparty
    await crm.post(invoice)  # so the invoice's recompute of the order fails too, and its facts wait

    def row(found, doc_type):
        return next((d for d in found.order_documents if d["doc_type"] == doc_type), None) or {}

    def line(text, doc_type, doc_id):
        [found] = [x for x in text.stdout.splitlines() if x.startswith(f"  {doc_type} {doc_id} ")]
        return found

    waiting = await traced(crm, db_pool, lc.order_id, lambda f: all(
        row(f, t).get("last_outcome") and row(f, t).get("deal_pending_since") for t in ("customer_order", "invoice")))
    text = await cli(crm, lc.order_id)
    # each waits for the counterparty itself, or left the order to the push holding it (which waits): the
    # order's redelivery from the wait queue may meet the invoice's push
    for doc_type, doc_id in (("customer_order", lc.order_id), ("invoice", invoice["entity_id"])):
        found = row(waiting, doc_type)
        assert (found["last_consumer"], found["last_outcome"]) in {("deal", "waiting"), ("deal", "handed_over")}
        if found["last_outcome"] == "waiting":
            assert found["last_missing"] == [f"counterparty/{cp}"]
            assert f"; last: deal waiting for counterparty/{cp} " in line(text, doc_type, doc_id)
        assert "; not in the deal yet: waits for its recompute since " in line(text, doc_type, doc_id)

    company = full_company()
    company["entity_id"] = cp
    await crm.post([company, product_event(product)])
    await settled(crm, lc.order_id, STAGE_ID="B24B_INVOICE")
    # in the deal: applied by its own delivery or by the push it was handed to (its own event may not be back
    # from the wait queue yet, or be back and find itself applied)
    def in_the_deal(f):
        return len(f.order_documents) == 2 and all(d["deal_pending_since"] is None for d in f.order_documents)

    def latest(f):
        return [(d["doc_id"], d["last_outcome"]) for d in f.order_documents]

    # the CLI's text and the structure from the same moment: an outcome is written up to 0.1 s after the
    # deal is (outcomes.RECORD_LINGER), and a document's own event may come back from the wait queue
    done = await traced(crm, db_pool, lc.order_id, in_the_deal)
    for _ in range(20):
        text = await cli(crm, lc.order_id)
        again = await traced(crm, db_pool, lc.order_id, in_the_deal)
        if latest(again) == latest(done):
            break
        done = again
    assert "not in the deal yet" not in text.stdout
    for d in done.order_documents:
        assert d["last_outcome"] in ("applied", "handed_over", "duplicate", "waiting"), d
        shown = line(text, d["doc_type"], d["doc_id"])
        said = {"applied": "; last: deal applied ", "duplicate": "; last: deal applied (a later delivery found it so",
                "handed_over": "then applied by the push it was handed to",
                "waiting": f"; last: deal waited for counterparty/{cp} (last "}[d["last_outcome"]]
        assert said in shown, shown
    assert "its facts are in the deal now" in text.stdout or "waited for" not in text.stdout


async def test_a_dead_lettered_counterparty_shows_the_portals_error_and_the_call_it_refused(stack, db_pool):
    stack.portal.sandbox.faults.add_error("ERROR_CORE", method="crm.company.add", status=400, nested=True,
                                          description="Invalid e-mail")
    company = full_company()
    company["entity_id"] = cp = str(uuid.uuid4())
    await stack.post(company)
    found = await traced(stack, db_pool, cp, lambda f: "dead_lettered" in outcomes(f, "counterparty"))
    [dead] = [o for o in found.events[0]["outcomes"] if o["outcome"] == "dead_lettered"]
    assert dead["reason"] == "b24_rejected" and "ERROR_CORE" in dead["error"]
    refused = [c for c in dead["calls"] if c.get("code")]
    # a new company goes with its requisite, accounts, addresses and contacts in one chained batch: the
    # portal's error for that command comes inside the batch reply, without an HTTP status of its own
    assert [(c["method"], c["code"]) for c in refused] == [("crm.company.add", "ERROR_CORE")]
    text = await cli(stack, cp)
    assert "counterparty: dead-lettered (b24_rejected)" in text.stdout
    assert "crm.company.add() ✗ ERROR_CORE" in text.stdout


async def test_a_document_number_shared_by_two_invoices_lists_both_and_date_picks_one(crm, db_pool):
    first, second = Lifecycle(str(uuid.uuid4()), str(uuid.uuid4())), Lifecycle(str(uuid.uuid4()), str(uuid.uuid4()))
    number = f"СЧ-{uuid.uuid4().hex[:6]}"
    one = first.invoice(number=number, date="2026-11-28")
    two = second.invoice(number=number, date="2026-11-29")
    await crm.post([one, two])

    async def both():
        try:
            await trace(db_pool, number)
        except Ambiguous as exc:
            return exc.candidates
        return None
    candidates = await wait_for(both, timeout=30)
    assert sorted(c["entity_id"] for c in candidates) == sorted([one["entity_id"], two["entity_id"]])
    listed = await cli(crm, number)
    assert listed.returncode == 2
    assert one["entity_id"] in listed.stderr and two["entity_id"] in listed.stderr  # whole ids, through a pipe
    picked = await cli(crm, number, "--date", "2026-11-29", "--json")
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout)["object"]["entity_id"] == two["entity_id"]


async def test_json_has_the_whole_structure_and_no_secret(crm, db_pool):
    cp, product = str(uuid.uuid4()), str(uuid.uuid4())
    company = full_company()
    company["entity_id"] = cp
    lc = Lifecycle(cp, product)
    await crm.post([company, product_event(product), lc.order()])
    d = await settled(crm, lc.order_id, STAGE_ID="B24B_ORDER")
    await traced(crm, db_pool, lc.order_id, lambda f: "applied" in outcomes(f))
    out = await cli(crm, f"deal:{d['ID']}", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"query", "object", "events", "links", "order_documents", "waiting", "dead_letters"}
    assert data["object"]["entity"] == "customer_order" and data["object"]["entity_id"] == lc.order_id
    event = data["events"][0]
    assert {"event_id", "event_type", "received_at", "published_at", "outcomes"} <= set(event)
    assert {"consumer", "outcome", "at", "reason", "error", "retry_tier", "missing", "waiting_since",
            "calls"} == set(event["outcomes"][-1])
    calls = [c for e in data["events"] for o in e["outcomes"] for c in o["calls"]]
    assert calls and all(set(c) <= CALL_KEYS for c in calls)
    code = crm.portal.webhook_url.rstrip("/").rsplit("/", 1)[-1]
    assert code not in out.stdout and "/rest/" not in out.stdout
    assert "Гвоздь" not in out.stdout  # no payload: the product's name is not in the calls


async def test_an_unknown_bitrix24_id_or_number_is_a_clear_error(stack):
    unknown = await cli(stack, "deal:999999")
    assert unknown.returncode == 1 and "no 1C object is linked to deal 999999" in unknown.stderr
    wrong = await cli(stack, "lead:5")
    assert wrong.returncode == 2 and "unknown Bitrix24 object type 'lead'" in wrong.stderr
    number = await cli(stack, "ТД000004914")
    assert number.returncode == 1 and "number of an order, invoice, payment or shipment" in number.stderr
