"""A document whose order's deal is being pushed does not wait for that push: it stores its facts and hands
the recompute to the push, which redoes the order once more when it gives the lease back — in this process
or in another replica — and a push that dies after taking a hand-over is made good by the sweep.  Nothing
is lost, nothing is pushed twice, and the event's latency ends when its facts reach Bitrix24."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import asyncpg
import pytest

from bridge import db, metrics
from bridge.b24 import calls as b24_calls
from bridge.consumer import RECEIVED_AT, Outcome
from bridge.errors import DependencyMissing
from bridge.links import leases_of, unit_of_work
from bridge.sql import Q
from bridge.sync.deal import DealHandler, order_key
from onec_outbox.contract import parse_event
from tests.helpers import finish_args
from tests.support.deals import deal_of, seed_links
from tests.support.orders import Lifecycle


class Gate:
    """Holds the first Bitrix24 call of one task (its push) until opened: the push keeps the order's lease."""

    def __init__(self, handler: DealHandler) -> None:
        self.task: asyncio.Task | None = None
        self.reached = asyncio.Event()
        self.open = asyncio.Event()
        client = handler._b24
        for name in ("call", "call_chain"):
            setattr(client, name, self._gated(getattr(client, name)))

    def _gated(self, real):
        async def call(*args, **kwargs):
            if asyncio.current_task() is self.task and not self.open.is_set():
                await b24_calls.before_call()  # as the real call does first: the unit of work commits
                self.reached.set()
                await self.open.wait()
            return await real(*args, **kwargs)
        return call

    async def hold(self, coro) -> asyncio.Task:
        self.task = asyncio.create_task(coro)
        await asyncio.wait_for(self.reached.wait(), 10)
        return self.task


def _count(counter, **labels) -> float:
    return next((s.value for f in counter.collect() for s in f.samples
                 if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items())), 0.0)


async def _waiting(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM order_resync")


async def test_a_payment_during_the_invoices_push_is_handed_over_and_applied_by_that_push(
        db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product)
    await deal_handler.handle(parse_event(a.order()))
    gate = Gate(deal_handler)
    invoice_push = await gate.hold(deal_handler.handle(parse_event(a.invoice())))  # holds the order's lease
    before = _count(metrics.HAND_OVERS, holder="this_process")
    payment = a.payment()
    # the push is held until the gate opens: returning at all means the payment did not wait for it
    assert await asyncio.wait_for(deal_handler.handle(parse_event(payment)), 5) is Outcome.HANDED_OVER
    assert not invoice_push.done()
    assert _count(metrics.HAND_OVERS, holder="this_process") == before + 1
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] != "B24B_PAID"  # not applied yet
    gate.open.set()
    assert await invoice_push is Outcome.APPLIED
    deal = deal_of(portal.sandbox, a.order_id)
    assert deal["STAGE_ID"] == "B24B_PAID" and deal["UF_CRM_B24B_PAID_SUM"] == "1200.00|RUB"
    assert deal["paid_notifications"] == 1
    assert await _waiting(db_pool) == 0  # every fact settled: the sweep has nothing to do
    assert await deal_handler.sweep(older_than=0) == 0


async def test_a_redelivered_handed_over_event_is_recorded_only_when_its_facts_are_applied(
        db_pool, portal, deal_handler):
    """A handed-over event delivered again (its consumer died before the ack) hands over again and stays out
    of the inbox until the push applies it: the inbox means "applied" (drains and the console read it so)."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product)
    await deal_handler.handle(parse_event(a.order()))
    gate = Gate(deal_handler)
    invoice_push = await gate.hold(deal_handler.handle(parse_event(a.invoice())))
    payment = a.payment()
    for _ in range(2):  # the delivery, then its redelivery while the push still runs
        assert await asyncio.wait_for(deal_handler.handle(parse_event(payment)), 5) is Outcome.HANDED_OVER
    recorded = "SELECT count(*) FROM inbox WHERE event_id = $1"
    assert await db_pool.fetchval(recorded, payment["event_id"]) == 0
    gate.open.set()
    assert await invoice_push is Outcome.APPLIED
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_PAID"
    assert await db_pool.fetchval(recorded, payment["event_id"]) == 1


async def test_a_newer_version_of_the_document_being_pushed_does_not_wait_for_that_push(
        db_pool, portal, deal_handler):
    """The document's own lease is given back with its merge: the next version merges at once and hands
    the order over, where it once waited for the whole push (half the waits of the end-to-end run)."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product)
    await deal_handler.handle(parse_event(a.order()))
    gate = Gate(deal_handler)
    first = a.invoice(number="СЧ-1")
    push = await gate.hold(deal_handler.handle(parse_event(first)))
    renumbered = a.invoice(first["entity_id"], number="СЧ-1/2", date="2026-11-30")
    assert await asyncio.wait_for(deal_handler.handle(parse_event(renumbered)), 5) is Outcome.HANDED_OVER
    assert not push.done()  # held until the gate opens: it did not wait for the push
    gate.open.set()
    assert await push is Outcome.APPLIED
    deal = deal_of(portal.sandbox, a.order_id)
    assert deal["UF_CRM_B24B_INVOICE_NO"] == "СЧ-1/2" and deal["UF_CRM_B24B_INVOICE_DATE"] == "2026-11-30"
    assert await _waiting(db_pool) == 0


async def test_a_replica_pushing_the_order_applies_what_another_replica_handed_over(
        db_url, db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product)
    await deal_handler.handle(parse_event(a.order()))
    other_pool = await db.create_pool(db_url, max_size=5)  # another consumer process: its own lease holder
    try:
        replica = DealHandler(other_pool, deal_handler._b24, deal_handler._mapping)
        gate = Gate(replica)
        invoice_push = await gate.hold(replica.handle(parse_event(a.invoice())))
        before = _count(metrics.HAND_OVERS, holder="another_process")
        payment = a.payment()
        token = RECEIVED_AT.set(time.time() - 1.0)  # as the consumer sets it: the ingest's acceptance
        try:
            assert await asyncio.wait_for(deal_handler.handle(parse_event(payment)), 5) is Outcome.HANDED_OVER
        finally:
            RECEIVED_AT.reset(token)
        assert _count(metrics.HAND_OVERS, holder="another_process") == before + 1
        handed_at = await db_pool.fetchval("SELECT processed_at FROM inbox WHERE event_id = $1",
                                           payment["event_id"])
        applied_before = _latency_count("payment")
        gate.open.set()
        assert await invoice_push is Outcome.APPLIED  # ... and its redo applied the payment
        assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_PAID"
        assert await _waiting(db_pool) == 0
        # the payment is recorded applied (its inbox row) when the other replica's push applied it
        applied_at = await db_pool.fetchval("SELECT processed_at FROM inbox WHERE event_id = $1", payment["event_id"])
        assert handed_at is None and applied_at is not None
        assert _latency_count("payment") == applied_before + 1
    finally:
        await other_pool.close()


async def test_a_hand_over_to_a_replica_that_dies_is_applied_by_the_sweep(db_pool, portal, deal_handler):
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a = Lifecycle(cp, product)
    for e in (a.order(), a.invoice()):
        await deal_handler.handle(parse_event(e))
    payment = a.payment()
    key = f"{payment['source']}/order/{a.order_id}"
    await db_pool.execute("INSERT INTO object_leases (key, holder, expires_at) "
                          "VALUES ($1, 'a-replica-killed-mid-push', now() + interval '1 second')", key)
    assert await deal_handler.handle(parse_event(payment)) is Outcome.HANDED_OVER
    # not applied yet, so not in the inbox: a redelivery is handed over again, its facts stored once
    assert await deal_handler.handle(parse_event(payment)) is Outcome.HANDED_OVER
    assert await _waiting(db_pool) == 1
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_INVOICE"  # its holder never came back
    assert await deal_handler.sweep(older_than=3600) == 0  # not overdue yet
    await asyncio.sleep(1.2)  # the dead holder's lease expires
    settled = _count(metrics.RESYNC_SWEPT, result="settled")
    assert await deal_handler.sweep(older_than=0) == 1
    assert _count(metrics.RESYNC_SWEPT, result="settled") == settled + 1
    deal = deal_of(portal.sandbox, a.order_id)
    assert deal["STAGE_ID"] == "B24B_PAID" and deal["paid_notifications"] == 1
    assert await _waiting(db_pool) == 0
    assert await deal_handler.sweep(older_than=0) == 0


async def test_a_holder_giving_the_lease_back_while_a_document_hands_over_sees_the_hand_over(db_pool):
    """The race the hand-over must win: a document's claim fails inside its transaction, which keeps the
    holder's lease row locked, so the holder's release waits for the hand-over and answers it; a release
    that came first leaves no row to hand over to, and the document claims the lease instead."""
    key, source = "ut103-main/order/7f6f8e2a-0000-4000-8000-000000000001", "ut103-main"
    await db_pool.execute("INSERT INTO object_leases (key, holder, expires_at) "
                          "VALUES ($1, 'holder', now() + interval '20 seconds')", key)
    async with db_pool.acquire() as document:
        async with document.transaction():
            assert await document.fetchval(Q.lease_claim, key, "document", 20.0) is None
            release = asyncio.create_task(db_pool.fetchrow(Q.uow_finish, *finish_args(source, "holder", [key])))
            await asyncio.sleep(0.3)
            assert not release.done()  # the holder's release waits for the document's transaction
            assert await document.fetchval(Q.lease_hand_over, key, "document")
        assert (await release)["handed_back"] == [key]
    await db_pool.execute("INSERT INTO object_leases (key, holder, expires_at) "
                          "VALUES ($1, 'holder', now() + interval '20 seconds')", key)
    assert (await db_pool.fetchrow(Q.uow_finish, *finish_args(source, "holder", [key])))["handed_back"] == []
    assert await db_pool.fetchval(Q.lease_hand_over, key, "document") is None  # given back: claim it
    assert await db_pool.fetchval(Q.lease_claim, key, "document", 20.0)


def _latency_count(entity: str) -> float:
    return next((s.value for f in metrics.APPLY_LATENCY.collect() for s in f.samples
                 if s.name.endswith("_count") and s.labels.get("entity") == entity), 0.0)


async def test_the_sweep_reaches_a_left_behind_order_past_orders_that_keep_failing(db_pool, portal, deal_handler):
    """Orders whose event keeps failing (their company is not in Bitrix24) rest between attempts and
    do not take the sweep's places: the order a dead holder left behind is reached."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    failing = [Lifecycle(str(uuid.uuid4()), product) for _ in range(2)]
    for lc in failing:
        with pytest.raises(DependencyMissing):
            await deal_handler.handle(parse_event(lc.order()))
    a = Lifecycle(cp, product)
    for e in (a.order(), a.invoice()):
        await deal_handler.handle(parse_event(e))
    payment = a.payment()
    await db_pool.execute("INSERT INTO object_leases (key, holder, expires_at) "
                          "VALUES ($1, 'killed-mid-push', now() + interval '0.5 seconds')",
                          f"{payment['source']}/order/{a.order_id}")
    assert await deal_handler.handle(parse_event(payment)) is Outcome.HANDED_OVER
    await asyncio.sleep(0.6)  # ... to a holder that never gives the lease back
    await db_pool.execute("UPDATE order_resync SET written_at = now() - interval '2 hours' WHERE order_id = ANY($1)",
                          [lc.order_id for lc in failing])
    await db_pool.execute("UPDATE order_resync SET written_at = now() - interval '1 hour' WHERE order_id = $1",
                          a.order_id)
    failed = _count(metrics.RESYNC_SWEPT, result="failed")
    for _ in range(3):  # one place per round: the two failing orders, then the left-behind one
        await deal_handler.sweep(limit=1)
    assert _count(metrics.RESYNC_SWEPT, result="failed") == failed + 2
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_PAID"


async def test_a_claim_that_fails_on_a_statement_gives_the_order_back(db_pool):
    """An error inside take_or_hand_over (a broken connection, a deadlock victim) must not leave the
    order's in-process lock held: every later document would hand over to a holder that never ends."""
    key = "ut103-main/order/7f6f8e2a-0000-4000-8000-000000000002"
    with pytest.raises(asyncpg.PostgresError):
        async with unit_of_work(db_pool, "deal", "ut103-main", None) as uow:
            with contextlib.suppress(asyncpg.PostgresError):
                await uow.conn.execute("SELECT 1 / 0")  # the transaction is broken from here on
            await uow.take_or_hand_over(key)
    assert not leases_of(db_pool).locked(key)
    async with unit_of_work(db_pool, "deal", "ut103-main", None) as uow:
        assert await uow.take_or_hand_over(key)


async def test_a_redo_waiting_for_its_company_is_tried_again_within_seconds(db_pool, portal, deal_handler):
    """The documents that handed an order over were acked: when the redo finds the order's company not in
    Bitrix24 yet, the handler itself tries again shortly (before, each document waited in hand)."""
    _, product, company = await seed_links(db_pool, portal.sandbox)
    lc = Lifecycle(str(uuid.uuid4()), product)
    with pytest.raises(DependencyMissing):
        await deal_handler.handle(parse_event(lc.order()))  # its facts stay in order_resync
    await deal_handler.redo({order_key(lc.source, lc.order_id)})  # a handed-over order, company still missing
    async with unit_of_work(db_pool, "counterparty", lc.source, "seed") as uow:  # the company arrives
        await uow.save_link("counterparty", lc.counterparty_id, "company", company, version=1,
                            pushed_state={"main": {"fields": {"TITLE": "ООО Ромашка"}}})
    await deal_handler.redo_due()
    assert [d for d in portal.sandbox.state()["deals"] if d["ORIGIN_ID"] == lc.order_id] == []  # not yet due
    await asyncio.sleep(0.6)
    await deal_handler.redo_due()
    assert deal_of(portal.sandbox, lc.order_id)["COMPANY_ID"] == str(company)
    assert await _waiting(db_pool) == 0


async def test_a_failing_redo_is_tried_again_until_the_sweep_takes_over(db_pool, portal):
    """A company that takes longer than the doubling pauses (0.5 s … 16 s, 31.5 s in all) still gets its
    handed-over orders pushed by the redo: it keeps trying every 16 s until the sweep is sure to have found the
    rows (``REDO_FOR``), never leaving a gap between the two; then the sweep's turn comes at once."""
    from bridge.sync import deal as deal_module

    async with _handler_on_a_fake_clock(db_pool, portal) as (handler, run_for, _):
        _, product, company = await seed_links(db_pool, portal.sandbox)
        lc = Lifecycle(str(uuid.uuid4()), product)
        with pytest.raises(DependencyMissing):
            await handler.handle(parse_event(lc.order()))
        await handler.redo({order_key(lc.source, lc.order_id)})
        await run_for(40.0)  # past the doubling's 31.5 s, still inside REDO_FOR
        async with unit_of_work(db_pool, "counterparty", lc.source, "seed") as uow:
            await uow.save_link("counterparty", lc.counterparty_id, "company", company, version=1,
                                pushed_state={"main": {"fields": {"TITLE": "ООО Ромашка"}}})
        await run_for(16.5)
        assert deal_of(portal.sandbox, lc.order_id)["COMPANY_ID"] == str(company)

        other = Lifecycle(str(uuid.uuid4()), product)  # a company that never comes: left to the sweep after REDO_FOR
        key = order_key(other.source, other.order_id)
        with pytest.raises(DependencyMissing):
            await handler.handle(parse_event(other.order()))
        await handler.redo({key})
        now = handler._clock()
        handler._sweep_backoff[key] = (now + 3600, 1800, now)  # the sweep had failed on it meanwhile
        await run_for(deal_module.REDO_FOR - 17)
        assert key in handler._redo_due
        await run_for(34)
        assert key not in handler._redo_due and handler._sweep_backoff[key][0] <= handler._clock()  # the sweep's


async def _company_made(db_pool, portal, counterparty_id: str) -> None:
    """The counterparty's consumer made its company meanwhile (a waiting deal can go on now)."""
    company = portal.sandbox.call("crm.company.add", {"fields": {"TITLE": "ООО Лютик"}}).result.value
    async with unit_of_work(db_pool, "test", "ut103-main", f"seed/{counterparty_id}") as uow:
        await uow.save_link("counterparty", counterparty_id, "company", company, version=1,
                            pushed_state={"main": {"fields": {"TITLE": "ООО Лютик"}}})


async def test_a_retried_event_that_hands_over_an_order_it_had_settled_is_still_recorded(
        db_pool, portal, deal_handler):
    """A payment for two orders: the first delivery applies order A and fails on B (B's company is not in
    Bitrix24 yet); its retry applies B while A's lease is held, so it hands A over.  A's row naming the
    payment was settled by the first delivery, so the push holding A has nothing that names the payment:
    the retry must record it itself (it once stayed out of the inbox for good — a drain that never ended)."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a, b = Lifecycle(cp, product), Lifecycle(str(uuid.uuid4()), product)  # b's counterparty: not linked yet
    await deal_handler.handle(parse_event(a.order()))
    with pytest.raises(DependencyMissing):
        await deal_handler.handle(parse_event(b.order()))
    payment = a.payment(orders=[(a.order_id, "1200.00"), (b.order_id, "1200.00")])
    with pytest.raises(DependencyMissing):  # A applied, B waits for its company
        await deal_handler.handle(parse_event(payment))
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == "B24B_PAID"
    await _company_made(db_pool, portal, b.counterparty_id)
    gate = Gate(deal_handler)
    invoice_push = await gate.hold(deal_handler.handle(parse_event(a.invoice())))  # holds A's lease
    # B applied, A handed over with nothing of the payment left in it: applied, and recorded by itself
    assert await asyncio.wait_for(deal_handler.handle(parse_event(payment)), 5) is Outcome.APPLIED
    assert await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", payment["event_id"]) == 1
    assert deal_of(portal.sandbox, b.order_id)["STAGE_ID"] == "B24B_PAID"
    gate.open.set()
    assert await invoice_push is Outcome.APPLIED
    assert await _waiting(db_pool) == 0


async def test_two_deliveries_of_one_event_at_once_that_hand_over_to_each_other_record_it(
        db_pool, portal, deal_handler):
    """A payment for orders A and B delivered twice at once (a redelivery while the first still runs): the
    first pushes A; the second hands A over and pushes B; the first then hands B over.  Each settled the
    row naming the payment on the order it pushed, and neither is left for the other's redo: the payment
    must be recorded by its own settling (it was lost for good)."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a, b = sorted([Lifecycle(cp, product), Lifecycle(cp, product)], key=lambda lc: lc.order_id)  # A goes first
    await deal_handler.handle(parse_event(a.order()))
    await deal_handler.handle(parse_event(b.order()))
    payment = a.payment(orders=[(a.order_id, "1200.00"), (b.order_id, "1200.00")])
    first_gate, second_gate = Gate(deal_handler), Gate(deal_handler)
    first = await first_gate.hold(deal_handler.handle(parse_event(payment)))  # A's push, held
    second = await second_gate.hold(deal_handler.handle(parse_event(payment)))  # hands A over; B's push, held
    first_gate.open.set()
    assert await asyncio.wait_for(first, 10) is Outcome.HANDED_OVER  # B is held by the second
    second_gate.open.set()
    assert await asyncio.wait_for(second, 10) is Outcome.HANDED_OVER
    assert deal_of(portal.sandbox, a.order_id)["STAGE_ID"] == deal_of(portal.sandbox, b.order_id)["STAGE_ID"] \
        == "B24B_PAID"
    assert await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", payment["event_id"]) == 1
    assert await _waiting(db_pool) == 0


async def test_a_retry_recorded_by_the_push_it_handed_over_to_still_applies_the_order_it_failed_on(
        db_pool, portal, deal_handler):
    """A payment for orders A and B: its first delivery hands A over (A's push is running) and fails on B
    (B's company is not in Bitrix24 yet).  The push settles A's row naming the payment and records it; the
    retry must still apply B — not answer "duplicate" and leave B to the sweep, a minute or more later."""
    cp, product, _ = await seed_links(db_pool, portal.sandbox)
    a, b = Lifecycle(cp, product), Lifecycle(str(uuid.uuid4()), product)
    await deal_handler.handle(parse_event(a.order()))
    with pytest.raises(DependencyMissing):
        await deal_handler.handle(parse_event(b.order()))
    gate = Gate(deal_handler)
    invoice_push = await gate.hold(deal_handler.handle(parse_event(a.invoice())))  # holds A's lease
    payment = a.payment(orders=[(a.order_id, "1200.00"), (b.order_id, "1200.00")])
    with pytest.raises(DependencyMissing):  # A handed over, B waits for its company
        await asyncio.wait_for(deal_handler.handle(parse_event(payment)), 5)
    gate.open.set()
    assert await invoice_push is Outcome.APPLIED  # and it redid A with the payment: recorded
    assert await db_pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", payment["event_id"]) == 1
    await _company_made(db_pool, portal, b.counterparty_id)
    assert await deal_handler.handle(parse_event(payment)) is Outcome.APPLIED  # the retry
    assert deal_of(portal.sandbox, b.order_id)["STAGE_ID"] == "B24B_PAID"
    assert await _waiting(db_pool) == 0
    assert await deal_handler.handle(parse_event(payment)) is Outcome.DUPLICATE  # nothing of it waits now


@contextlib.asynccontextmanager
async def _handler_on_a_fake_clock(db_pool, portal):
    """A deal handler whose client does not retry in itself (a 502 reaches the handler at once) and whose
    redo and sweep read ``clock[0]``; ``run_for`` calls redo_due every half second, as background() does."""
    from bridge.b24 import client_from_settings
    from bridge.settings import Settings
    from tests.integration.conftest import MAPPING

    client = client_from_settings(Settings(b24_webhook_url=portal.webhook_url, b24_batch_linger=0,
                                           b24_max_retries=0))
    handler = DealHandler(db_pool, client, MAPPING)
    clock = [1000.0]
    handler._clock = lambda: clock[0]
    tries = [0]
    recompute = handler._recompute

    async def counted(*args):
        tries[0] += 1
        return await recompute(*args)

    handler._recompute = counted

    async def run_for(seconds: float) -> None:
        end = clock[0] + seconds
        while clock[0] < end:
            clock[0] += 0.5
            await handler.redo_due()

    try:
        yield handler, run_for, tries
    finally:
        portal.sandbox.faults.clear()
        await client.aclose()


async def _orders_stuck_in_an_outage(db_pool, portal, handler, n: int = 3) -> tuple[int, list[Lifecycle]]:
    """``n`` new orders of a company in Bitrix24 whose pushes failed while the portal answered 502: their facts
    wait in ``order_resync``.  The outage goes on (``portal.sandbox.faults.clear()`` ends it).  Returns the
    company's id and the orders."""
    from bridge.errors import ServiceUnavailable

    cp, product, company = await seed_links(db_pool, portal.sandbox)
    orders = [Lifecycle(cp, product) for _ in range(n)]
    portal.sandbox.faults.outage(mode="502")
    for lc in orders:
        with pytest.raises(ServiceUnavailable):
            await handler.handle(parse_event(lc.order()))
    return company, orders


async def test_a_redo_that_fails_while_the_portal_is_down_catches_up_within_seconds_of_its_return(db_pool, portal):
    """The documents that handed their orders over were acked, and the portal then went down for longer than
    the redo's own patience (``REDO_FOR``).  An outage is no fault of the orders: their redo keeps trying, one
    order per round and at most every 3 s, and every deal is right within seconds of the portal's return —
    not left to the sweep, whose pauses after a failure begin at a minute (it was up to 90 s stale)."""
    from bridge.sync import deal as deal_module

    async with _handler_on_a_fake_clock(db_pool, portal) as (handler, run_for, tries):
        company, orders = await _orders_stuck_in_an_outage(db_pool, portal, handler)
        await handler.redo({order_key(lc.source, lc.order_id) for lc in orders})
        tries[0] = 0
        await run_for(deal_module.REDO_FOR + 60)
        assert tries[0] <= (deal_module.REDO_FOR + 60) / deal_module.OUTAGE_RETRY[1] + 5  # one probe a round
        assert {order_key(lc.source, lc.order_id) for lc in orders} <= set(handler._redo_due)
        portal.sandbox.faults.clear()
        await run_for(deal_module.OUTAGE_RETRY[1] + 0.5)
        for lc in orders:
            assert deal_of(portal.sandbox, lc.order_id)["COMPANY_ID"] == str(company)
        assert await _waiting(db_pool) == 0
        assert handler._redo_due == {}


async def test_an_order_the_sweep_finds_while_the_portal_is_down_is_pushed_within_seconds_of_its_return(
        db_pool, portal):
    """The sweep reaches an order left behind while the portal is down: that failure is not the order's, so
    the order is not put off for a minute (the sweep's pause) but tried again within seconds, with the
    other orders of that round, which are not each tried against a portal that is down."""
    from bridge.sync import deal as deal_module

    async with _handler_on_a_fake_clock(db_pool, portal) as (handler, run_for, tries):
        company, orders = await _orders_stuck_in_an_outage(db_pool, portal, handler)
        await db_pool.execute("UPDATE order_resync SET written_at = now() - interval '1 hour'")
        tries[0] = 0
        assert await handler.sweep() == 0
        assert tries[0] == 1  # the first failed for the outage: the rest of the round waits with it
        assert handler._sweep_backoff == {}
        portal.sandbox.faults.clear()
        await run_for(deal_module.OUTAGE_RETRY[0] + 0.5)
        for lc in orders:
            assert deal_of(portal.sandbox, lc.order_id)["COMPANY_ID"] == str(company)
        assert await _waiting(db_pool) == 0


async def test_a_redo_on_a_database_that_cannot_write_is_tried_again_like_an_outage(db_pool, db_url, portal):
    """PostgreSQL up but read-only (a failover under way, a DSN that reached a standby) is an outage as well:
    the handed-over order is tried again every few seconds for as long as it lasts, and pushed once the
    primary is back."""
    from bridge.sync import deal as deal_module

    async with _handler_on_a_fake_clock(db_pool, portal) as (handler, run_for, _):
        company, (lc,) = await _orders_stuck_in_an_outage(db_pool, portal, handler, 1)
        key = order_key(lc.source, lc.order_id)
        portal.sandbox.faults.clear()
        read_only = await asyncpg.create_pool(db_url, min_size=1, max_size=2, init=db._init_connection,
                                              server_settings={"default_transaction_read_only": "on"})
        try:
            handler._pool = read_only
            await handler.redo({key})
            await run_for(deal_module.REDO_FOR + 10)
            assert key in handler._redo_due  # not the order's fault: still the redo's, not the sweep's
        finally:
            await read_only.close()
        handler._pool = db_pool  # the primary is back
        await run_for(deal_module.OUTAGE_RETRY[1] + 0.5)
        assert deal_of(portal.sandbox, lc.order_id)["COMPANY_ID"] == str(company)
        assert await _waiting(db_pool) == 0


async def test_one_order_the_portal_keeps_refusing_does_not_hold_up_the_others(db_pool, portal):
    """A 5xx for one order's own request does not hold up the others: the probe goes to a different order each
    round, so the other handed-over orders are pushed at once (the failing one was the probe of every round
    and they waited behind it for ever); the failing one is probed at most every 3 s, and after
    ``OUTAGE_FOR`` left to the sweep, once a minute (it was every 3 s for ever)."""
    from bridge.errors import B24ServerError
    from bridge.sync import deal as deal_module

    async with _handler_on_a_fake_clock(db_pool, portal) as (handler, run_for, tries):
        company, orders = await _orders_stuck_in_an_outage(db_pool, portal, handler)
        portal.sandbox.faults.clear()
        bad, sync = orders[0], handler._sync_order

        async def refusing(uow, source, order_id):
            if order_id == bad.order_id:
                raise B24ServerError("crm.deal.add", "INTERNAL_SERVER_ERROR", "the portal fails on this deal", 500)
            return await sync(uow, source, order_id)

        handler._sync_order = refusing
        for _ in range(3):  # whichever order probes first, the others are pushed within a round or two
            await handler.redo({order_key(lc.source, lc.order_id) for lc in orders})
        await run_for(1.0)
        for lc in orders[1:]:
            assert deal_of(portal.sandbox, lc.order_id)["COMPANY_ID"] == str(company)
        tries[0] = 0
        await run_for(60)  # nothing else gets through: it may be an outage, so one probe every 3 s at most
        assert tries[0] <= 60 / deal_module.OUTAGE_RETRY[1] + 2, tries[0]
        await run_for(deal_module.OUTAGE_FOR)
        assert order_key(bad.source, bad.order_id) not in handler._redo_due  # then the sweep's, once a minute
        assert handler._sweep_backoff[order_key(bad.source, bad.order_id)][1] == deal_module.SWEEP_AFTER
        other = Lifecycle(bad.counterparty_id, bad.product_id)
        assert await handler.handle(parse_event(other.order())) is Outcome.APPLIED  # a push gets through
        before = tries[0]
        await handler.sweep(older_than=0)  # its minute's rest ends early: the portal answers again
        assert tries[0] == before + 1
        assert handler._sweep_backoff[order_key(bad.source, bad.order_id)][1] == 2 * deal_module.SWEEP_AFTER
