"""Apply the order lifecycle (orders, invoices, payments, shipments) to Bitrix24 deals.

For each event: (1) under the document's lock, skip it if the inbox has it and no waiting resync row of
the document names it, else merge its snapshot into the order projection (``bridge.projection``:
version-guarded, recording every order it touches now or touched before in ``order_resync``), then give the
document's lock back; (2) for each of those orders (and any still pending from an earlier attempt), under
that order's lock, recompute the deal from all facts known for it (pure: ``bridge.domain.deal``), push only
what differs from the last push, and clear its resync row — or, when another push (task or replica) holds
the order, hand the order over to it: that push recomputes it once more when it ends, so an order's
documents never queue on its lock; (3) record the event in the inbox once every order is done — an event
that handed over an order whose resync row names it is recorded by whoever settles a row naming it (the
push it handed over to, or its own settling when it failed nowhere); a delivery that fails comes back for
what is left.  A push that dies after taking a hand-over leaves the resync rows behind; the sweep (every
30 s, rows over a minute old) recomputes those orders.  A crash anywhere repeats (2) on redelivery, which
changes nothing that already happened: the deal is found by its external key, fields are three-way diffed,
the product rows are replaced whole, and the paid notification carries a TAG.  A new deal is made with its
rows and notes in one chained request (one the redelivery finds by its key takes its notes as posted); a
linked deal gets its update, rows and notes in one request that halts at a refused step, the responsible
person a paid notification goes to read with its owned fields.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from onec_outbox.contract import CustomerOrderEvent, InvoiceEvent, PaymentEvent, ShipmentEvent

from .. import edges, metrics, topology
from ..b24 import B24, chain_ref
from ..b24.limits import MAX_BATCH_COMMANDS
from ..b24.query import Unencodable
from ..backoff import sleep_or_stop
from ..consumer import RECEIVED_AT, Outcome
from ..domain import deal as domain
from ..domain.diff import owned_changes, unconfirmed
from ..errors import B24Error, B24NotFound, DependencyMissing, ServiceUnavailable
from ..links import Link, UnitOfWork, state_hash, unit_of_work
from ..mapping import STAGE_KEYS, USER_FIELD_KEYS, Mapping
from ..projection import OrderProjection
from ..sql import Q
from . import owned
from .keyed import How, find_or_create
from .responsible import Responsibles

log = logging.getLogger(__name__)

ONEC_ORDER = "customer_order"
# sent only when 1C's value changes, not put back on every 1C change: CONTACT_IDS (Bitrix24 does not show it
# back) and STAGE_ID (a manager may move a deal by hand; the next stage 1C computes moves it on, docs/deals.md)
THREE_WAY = frozenset({"CONTACT_IDS", "STAGE_ID"})
DocumentEvent = CustomerOrderEvent | InvoiceEvent | PaymentEvent | ShipmentEvent  # one order's lifecycle
SWEEP_EVERY = 30.0  # seconds between two sweeps of orders whose facts wait for their deal
SWEEP_AFTER = 60.0  # facts waiting this long were left behind (a hand-over's push died, or its event fails)
SWEEP_MAX_PAUSE = 1800.0  # longest pause before an order that keeps failing is swept again
REDO_RETRY = (0.5, 16.0)  # a redo that failed (its company not in Bitrix24 yet) is tried again after 0.5 s,
# doubling to every 16 s (the documents that handed it over were acked: nothing else brings them back) ...
REDO_FOR = SWEEP_AFTER + SWEEP_EVERY  # ... until the sweep is sure to have found its rows
# a redo or a swept order that failed because Bitrix24 or PostgreSQL is down (nothing got through since its
# last try) is no fault of the order: it is tried again like a paused consumer's probe (bridge.pause), one
# order per round and a different one each round, every 0.5 s growing to 3 s, for as long as the outage
# lasts (up to OUTAGE_FOR; then the sweep probes for it, once a round), so its deal catches up within seconds
# of the return, not a minute later.  One that fails so while other pushes get through fails on its own (a
# request of its own the portal answers 5xx): the usual pauses
OUTAGE_RETRY = (0.5, 3.0)
OUTAGE_FOR = 15 * 60.0  # as long as a consumer holds a message through an outage (bridge.consumer)


def order_key(source: str, order_id: str) -> str:
    """The lease of one order's deal (every document of the order recomputes it under this lease)."""
    return f"{source}/order/{order_id}"


class DealHandler:
    name = "deal"
    target = topology.TARGETS["deal"]
    mapping_keys = ("deals", "users", "default_responsible_id")
    event_types = target.event_types

    def __init__(self, pool: asyncpg.Pool, b24: B24, mapping: Mapping) -> None:
        self._pool = pool
        self._b24 = b24
        self._mapping = mapping
        self._responsibles = Responsibles(b24, mapping)
        self.wait_budget = mapping.deals.dependency_wait_hours * 3600
        self._sweep_backoff: dict[str, tuple[float, float, float]] = {}  # order key → (not before, pause, tried)
        # order key → (when, pause, first failed, last tried: None if not since it was put off)
        self._redo_due: dict[str, tuple[float, float, float, float | None]] = {}
        self._last_through = float("-inf")  # (clock) when a push last changed a deal: Bitrix24 answered
        self._clock = time.monotonic  # the redo's and the sweep's (tests move it)

    async def handle(self, event: DocumentEvent) -> Outcome:
        source, doc_type, doc_id = event.source, event.entity, str(event.entity_id)
        document = f"{doc_type}/{doc_id}"
        changed, failures, handed, failed = False, [], [], set()
        # one unit of work holding the document for its first transaction (an advisory lock taken with the
        # inbox read: versions of one document merge one at a time, without a lease row to write and delete)
        # and each order's lease as its deal is synced: the
        # first transaction merges the snapshot and reads what the deal needs, the last saves the link,
        # the resync and the inbox row — two transactions for an event that changes one deal.  An order
        # whose deal another push is working on is handed to that push (it recomputes once more when it
        # ends) instead of waiting for it with a prefetch slot.
        async with unit_of_work(self._pool, self.name, source, document, lease=False) as uow:
            seen = await uow.seen(event.event_id)
            projection = OrderProjection(await uow.connection(), source)
            # recorded, and nothing of it waits: a duplicate (a push it handed an order over to records it
            # applied, while the order it failed on may still wait for this retry)
            if seen and not await projection.names_event(doc_type, doc_id, event.event_id):
                return Outcome.DUPLICATE
            uow.event_id = event.event_id  # recorded by mark_processed, or by whoever settles a row naming it
            received = RECEIVED_AT.get()
            merged = await projection.merge(
                doc_type, doc_id, event.version, event.payload, event_id=event.event_id,
                received_at=datetime.fromtimestamp(received, UTC) if received is not None else None)
            # merged: the next event of this document may merge as soon as this commits (it finds the orders
            # in order_resync and hands them to the pushes below), not after them
            await uow.give_back(f"{source}/{document}")
            for order_id in sorted(merged.affected):  # every order, even when one of them fails
                try:
                    if await uow.take_or_hand_over(order_key(source, order_id)):
                        changed |= await self._sync_order(uow, source, order_id)
                    else:
                        handed.append(order_id)
                except Exception as exc:  # noqa: BLE001 - re-raised below, after the other orders had their turn
                    failures.append(exc)
                    failed.add(order_key(source, order_id))
            # handed over: recorded by the push that settles a row naming it (also when redelivered) — unless
            # no handed order has one (a retry whose earlier delivery settled them): then it records itself
            left_to_others = bool(merged.named.intersection(handed))
            if not failures:  # failed: it comes back, so its own settling must not record it
                if left_to_others:  # two deliveries at once may each hand over the order the other settles:
                    uow.event_id = None  # a row naming it that this work settles records it too
                else:
                    await uow.mark_processed(event.event_id)
        await self.redo(uow.handed_back - failed)
        for key in uow.handed_back & failed:  # the event's retry redoes it too (it is no duplicate while a
            self._redo_later(key)  # row of it waits), but a company may arrive before its wait is over
        if failures:  # the event comes back (retry or wait) and recomputes what is still pending
            raise next((f for f in failures if not isinstance(f, DependencyMissing)), failures[0])
        if left_to_others:  # (its latency is measured when the push it handed over to applies it)
            return Outcome.HANDED_OVER
        if changed:
            return Outcome.APPLIED
        return Outcome.UNCHANGED if merged.newer else Outcome.STALE

    async def redo(self, keys: set[str]) -> None:
        """Recompute the orders other documents handed over to a push of this process while it ran (their
        lease ``keys``), and those handed over to these recomputes in turn, the one tried longest ago first.
        One that fails keeps its ``order_resync`` rows: the sweep (or the retry of the event that failed on
        it) recomputes it."""
        pending = sorted(set(keys), key=self._last_tried)
        while pending:
            key = pending.pop(0)
            source, _, order_id = key.rpartition("/order/")
            try:
                _, more = await self._recompute(key, source, order_id)
            except Exception as exc:  # noqa: BLE001 - tried again shortly, then by the sweep
                down = self._down(key, exc)
                retry_in = self._redo_later(key, exc)
                log.log(logging.INFO if isinstance(exc, DependencyMissing) else logging.WARNING,
                        "could not recompute a deal handed over; tried again later", extra={
                            "action": "deal.redo_failed", "order_id": order_id, "retry_in": retry_in,
                            "error": f"{type(exc).__name__}: {exc}"})
                if down and retry_in is not None:  # the others would fail alike: they wait with it, untried
                    for other in pending:
                        self._put_off(other, retry_in)
                    return
                continue
            self._redo_due.pop(key, None)
            pending += [k for k in more if k not in pending]

    def _tried(self, key: str) -> float | None:
        """When the redo last tried ``key`` (None: not since it was put off, or not the redo's)."""
        entry = self._redo_due.get(key)
        return None if entry is None else entry[3]

    def _last_tried(self, key: str) -> float:
        tried = self._tried(key)
        return float("-inf") if tried is None else tried

    def _down(self, key: str, exc: BaseException, tried: float | None = None) -> bool:
        """Whether ``exc`` says Bitrix24 or PostgreSQL is down rather than the order failing on its own: a
        ServiceUnavailable, and no push has got through since the order was last tried (``tried``; default:
        the redo's last try; never tried: taken as down)."""
        tried = self._tried(key) if tried is None else tried
        return isinstance(exc, ServiceUnavailable) and (tried is None or self._last_through <= tried)

    def _redo_later(self, key: str, exc: BaseException | None = None) -> float | None:
        """When the failed redo of ``key`` is tried again (seconds), None: left to the sweep.  An outage
        (:meth:`_down`) is tried again every few seconds for ``OUTAGE_FOR``, the order's own failures for
        ``REDO_FOR`` (both counted from its first failure)."""
        now = self._clock()
        _, pause, first, _ = self._redo_due.get(key, (0.0, 0.0, now, None))
        if exc is not None and self._down(key, exc):
            if now - first > OUTAGE_FOR:  # the sweep probes for it now, once a round
                self._redo_due.pop(key, None)
                self._sweep_backoff[key] = (now + SWEEP_AFTER, SWEEP_AFTER, now)
                return None
            pause = min(max(pause * 2, OUTAGE_RETRY[0]), OUTAGE_RETRY[1])
            self._redo_due[key] = (now + pause, pause, first, now)
            self._sweep_backoff.pop(key, None)
            return pause
        if now - first > REDO_FOR:  # the sweep's turn: at once, not after a pause it may have begun (it
            self._redo_due.pop(key, None)  # tells the order's own failure from an outage as the redo does)
            self._sweep_backoff[key] = (now, 0.0, now)
            return None
        pause = min(max(pause * 2, REDO_RETRY[0]), REDO_RETRY[1])
        self._redo_due[key] = (now + pause, pause, first, now)
        return pause

    def _put_off(self, key: str, delay: float) -> None:
        """``key`` waits ``delay`` seconds untried (another order probes an outage for it)."""
        now = self._clock()
        _, pause, first, tried = self._redo_due.get(key, (0.0, 0.0, now, None))
        self._redo_due[key] = (now + delay, pause, first, tried)

    async def redo_due(self) -> None:
        """Try again the redos whose pause is over (:meth:`background` calls this twice a second)."""
        now = self._clock()
        due = {key for key, (when, _, _, _) in self._redo_due.items() if when <= now}
        if due:
            await self.redo(due)

    async def _recompute(self, key: str, source: str, order_id: str) -> tuple[bool, set[str]]:
        """Recompute one order's deal now (True), or hand it to the push holding it (False); and the
        orders handed over to this recompute meanwhile (for :meth:`redo`)."""
        with edges.postgres("PostgreSQL"):  # a lost database is an outage, as for a message (bridge.consumer)
            async with unit_of_work(self._pool, self.name, source, None) as uow:
                taken = await uow.take_or_hand_over(key)
                if taken:
                    await self._sync_order(uow, source, order_id)
        return taken, uow.handed_back

    async def sweep(self, *, older_than: float = SWEEP_AFTER, limit: int = 100) -> int:
        """Recompute the orders whose facts have waited longer than ``older_than`` seconds for their deal
        (the push a document handed them to died, or their event failed and waits); returns how many were
        settled.  An order that fails is tried again after a growing pause (1 min doubling to 30 min); one
        that fails because a service is down is left to the redo's short pauses (``OUTAGE_RETRY``)."""
        now = self._clock()
        settled = 0
        # (an order the redo tries again is not swept meanwhile: its pauses are the redo's)
        # (a rest ends early once a push got through after the order's last try: the portal is back)
        resting = [k for k, (not_before, _, tried) in self._sweep_backoff.items()
                   if now < not_before and self._last_through <= tried] + list(self._redo_due)
        rows = await self._pool.fetch(Q.projection_resync_overdue, older_than, limit, resting)
        for n, row in enumerate(rows):
            key = order_key(row["source"], row["order_id"])
            _, pause, tried = self._sweep_backoff.get(key, (0.0, 0.0, None))
            try:
                taken, more = await self._recompute(key, row["source"], row["order_id"])
            except ServiceUnavailable as exc:
                if not self._down(key, exc, tried):  # others got through since its last try: its own failure
                    self._sweep_failed(key, row["order_id"], pause, exc)
                    continue
                if pause:  # an outage longer than the redo's OUTAGE_FOR: this sweep's one probe, every minute
                    self._sweep_backoff[key] = (now + SWEEP_AFTER, SWEEP_AFTER, now)
                    metrics.RESYNC_SWEPT.labels("failed").inc()
                    log.warning("could not recompute a deal whose facts waited: a service is still down", extra={
                        "action": "deal.sweep_failed", "order_id": row["order_id"], "retry_in": SWEEP_AFTER,
                        "error": f"{type(exc).__name__}: {exc}"})
                    break
                # the redo tries it again within seconds, with the rest of this round, which would fail alike
                # and wait untried; it tells an outage from the order's own failure on its next try
                self._sweep_backoff.pop(key, None)
                retry_in = self._redo_later(key, exc)
                for left in rows[n + 1:]:
                    self._put_off(order_key(left["source"], left["order_id"]), retry_in or OUTAGE_RETRY[0])
                metrics.RESYNC_SWEPT.labels("failed").inc()
                log.warning("could not recompute a deal whose facts waited: a service is down; its orders are "
                            "tried again shortly", extra={"action": "deal.sweep_failed", "order_id": row["order_id"],
                                                          "retry_in": retry_in, "orders": len(rows) - n,
                                                          "error": f"{type(exc).__name__}: {exc}"})
                break
            except Exception as exc:  # noqa: BLE001 - tried again later
                self._sweep_failed(key, row["order_id"], pause, exc)
                continue
            self._sweep_backoff.pop(key, None)
            await self.redo(more)
            if taken:
                metrics.RESYNC_SWEPT.labels("settled").inc()
                settled += 1
            else:  # a push holds it now: recomputed when that push ends
                metrics.RESYNC_SWEPT.labels("handed_over").inc()
        return settled

    def _sweep_failed(self, key: str, order_id: str, pause: float, exc: BaseException) -> None:
        now = self._clock()
        pause = min(max(pause * 2, SWEEP_AFTER), SWEEP_MAX_PAUSE)
        self._sweep_backoff[key] = (now + pause, pause, now)
        metrics.RESYNC_SWEPT.labels("failed").inc()
        log.info("could not recompute a deal whose facts waited; tried again later", extra={
            "action": "deal.sweep_failed", "order_id": order_id, "retry_in": pause,
            "error": f"{type(exc).__name__}: {exc}"})

    async def background(self, stop: asyncio.Event) -> None:
        """Failed redos tried again (every 0.5 s) and the sweep (every ``SWEEP_EVERY`` seconds) while the
        consumer runs."""
        next_sweep = self._clock() + SWEEP_EVERY
        while not await sleep_or_stop(stop, REDO_RETRY[0]):
            try:
                await self.redo_due()
                if self._clock() >= next_sweep:
                    next_sweep = self._clock() + SWEEP_EVERY
                    await self.sweep()
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away: the next round tries again
                log.warning("the sweep of waiting deals failed", extra={
                    "action": "deal.sweep_error", "error": f"{type(exc).__name__}: {exc}"})

    async def sync_order(self, source: str, order_id: str) -> bool:
        """Bring one order's deal in line with the projection, waiting for its lease (reconcile); True if
        Bitrix24 changed."""
        async with unit_of_work(self._pool, self.name, source, f"order/{order_id}") as own:
            changed = await self._sync_order(own, source, order_id)
        await self.redo(own.handed_back)
        return changed

    async def _sync_order(self, uow: UnitOfWork, source: str, order_id: str) -> bool:
        projection = OrderProjection(await uow.connection(), source)
        facts, resync = await projection.facts_and_resync(order_id)
        state = domain.deal_state(facts, self._mapping.deals.paid_when)
        if state is None:
            uow.recomputed(order_id, resync)
            return False
        # the deal's link and those of its counterparty, contact person and products: one round trip
        person = [("contact_person", state.contact_person_id)] if state.contact_person_id else []
        await uow.read_links([(ONEC_ORDER, order_id), ("counterparty", state.counterparty_id), *person,
                              *(("product", p) for p in state.product_ids)])
        link = (await uow.links(ONEC_ORDER, order_id)).get("deal")
        pushed = link.pushed_state if link is not None else None
        desired = await self._desired(uow, source, state, self._category(state, pushed))
        if link is not None and link.in_doubt and pushed is not None:  # a push died half-way: fields
            # and rows sent whole again; notes and the paid tag as pushed (not twice)
            pending = (link.pending_state or {}).get("fields")
            pushed = {**pushed, "fields": unconfirmed(pushed.get("fields"), pending), "rows": None}
        elif link is not None and link.confirmed_hash == state_hash(desired):  # (None: nothing confirmed)
            uow.recomputed(order_id, resync)
            return False
        # the fields this push may set (and those a failed one may have set): cleared later if 1C empties
        # them; commits the first transaction — no connection is held across the Bitrix24 calls
        await uow.begin_push(link, {"fields": {**((pushed or {}).get("fields") or {}), **desired["fields"]}})
        apply = _ApplyDeal(self._b24, uow, self._mapping, source, state, desired)
        deal_id = await apply.run(link, pushed)
        await uow.save_link(ONEC_ORDER, order_id, "deal", deal_id, pushed_state=desired)
        uow.recomputed(order_id, resync)  # kept if the push fails
        self._last_through = self._clock()  # Bitrix24 answered (see _down)
        return True

    def _category(self, state: domain.DealState, pushed: dict[str, Any] | None) -> int:
        """The deal's funnel: the one it was made in (pushed; deals made before funnels per organisation:
        ``deals.category_id``), else its organisation's (deals.funnels).  Never changed afterwards."""
        if pushed is not None:
            return int(pushed.get("category_id", self._mapping.deals.category_id))
        return self._mapping.deals.category_for(state.organization_id, state.organization_name)

    async def _desired(self, uow: UnitOfWork, source: str, state: domain.DealState, category: int) -> dict[str, Any]:
        deals = self._mapping.deals
        owner = await uow.links("counterparty", state.counterparty_id)
        company, contact = owner.get("company"), owner.get("contact")
        if company is None and contact is None:
            raise DependencyMissing(f"order {state.number}: counterparty {state.counterparty_id} is not in "
                                    "Bitrix24 yet", missing=[f"counterparty/{state.counterparty_id}"])
        products = await uow.links_many("product", sorted(state.product_ids))
        missing = sorted(p for p in state.product_ids if (p, "product") not in products)
        if missing:
            raise DependencyMissing(f"order {state.number}: {len(missing)} product(s) not in Bitrix24 yet",
                                    missing=[f"product/{p}" for p in missing])
        contact_ids = []
        if state.contact_person_id:
            person = await uow.links("contact_person", str(state.contact_person_id))
            if "contact" in person:
                contact_ids.append(person["contact"].b24_id)
        if contact is not None:
            contact_ids.append(contact.b24_id)
        fields = domain.deal_fields(
            state, stage_ids={k: deals.stage_id(k, category) for k in STAGE_KEYS},
            user_fields={k: getattr(deals.user_fields, k) for k in USER_FIELD_KEYS},
            originator=self._mapping.originator(source),
            company_id=company.b24_id if company is not None else None,
            contact_id=contact.b24_id if contact is not None else None,
            contact_ids=contact_ids,
            assigned_by_id=await self._responsibles.resolve(state.responsible))
        client = ((company or contact).pushed_state or {}).get("main", {}).get("fields", {})
        return {
            "fields": fields,
            "rows": domain.product_rows(state, {p: l.b24_id for (p, _), l in products.items()}),
            "stage": state.stage,
            "category_id": category,
            "notes": {n.key: n.text for n in state.notes},
            "paid_tag": domain.paid_tag(source, state.order_id, state.paying_payments) if state.stage == domain.PAID else None,
            "client": client.get("TITLE") or " ".join(filter(None, (client.get("LAST_NAME"), client.get("NAME")))),
        }


class _ApplyDeal:
    """The Bitrix24 calls for one deal (one instance per push)."""

    def __init__(self, b24: B24, uow: UnitOfWork, mapping: Mapping, source: str, state: domain.DealState,
                 desired: dict[str, Any]) -> None:
        self.b24 = b24
        self.uow = uow
        self.mapping = mapping
        self.source = source
        self.state = state
        self.desired = desired
        self._responsible: int | None = None  # the deal's ASSIGNED_BY_ID as its update left it, when read
        self._notifying = False  # this push tells the responsible person the client paid
        self._first_write: str | None = None  # the method of the first write the last update request holds

    async def run(self, link: Link | None, pushed: dict[str, Any] | None) -> int:
        fields = self.desired["fields"]

        async def find() -> int | None:
            found = await self.b24.call("crm.deal.list", {
                "filter": {"ORIGINATOR_ID": fields["ORIGINATOR_ID"], "ORIGIN_ID": fields["ORIGIN_ID"]},
                "select": ["ID", "CATEGORY_ID"], "order": {"ID": "ASC"}})
            if found:  # it stays in the funnel it is in: its stages are that funnel's
                self._in_funnel(int(found[0].get("CATEGORY_ID") or 0))
            return int(found[0]["ID"]) if found else None

        made_whole = False  # its rows and notes went in the request that made (or updated) the deal

        async def create() -> int:
            nonlocal made_whole
            add = ("crm.deal.add", {"fields": {**fields, "CATEGORY_ID": self.desired["category_id"]},
                                    "params": {"REGISTER_SONET_EVENT": "N"}})
            # the rows last: refused, the notes are on the timeline already (the redelivery finds the deal
            # and takes its notes as posted) and the retry sets them; a new deal has no rows to replace
            steps = [add, *self._notes(chain_ref(0), {}), *self._rows(chain_ref(0), {"rows": []})]
            if len(steps) <= MAX_BATCH_COMMANDS:
                try:
                    results = await self.b24.call_chain(steps)
                except Unencodable:  # rows too many for one batch command: the deal alone, the rest after it
                    pass
                else:
                    made_whole = True
                    return int(results[0])
            return int(await self.b24.call(*add))

        self._notifying = self._paid_news(pushed or {})

        async def refresh(deal_id: int) -> None:
            nonlocal made_whole  # the linked deal's rows and notes ride in the request that updates it
            fill = self._fill_steps(deal_id, pushed or {})
            made_whole = await self._update(deal_id, (pushed or {}).get("fields"), then=fill)

        async def gone(exc: B24Error, deal_id: int) -> bool:
            """The linked deal was deleted by hand: its own first write says "not found" (rows or a note
            refused after an update that went through are the push's failure, not the deal gone)."""
            return isinstance(exc, B24NotFound) and exc.method == self._first_write

        deal = await find_or_create(
            b24_type="deal", entity_id=self.state.order_id, linked=link.b24_id if link is not None else None,
            refresh=refresh, find=find, update=lambda deal_id: self._update(deal_id, None), create=create, gone=gone)
        deal_id = deal.id
        if deal.how is How.FOUND:  # after a crash the notes may already be on the timeline: not twice
            pushed = {"notes": self.desired["notes"], "stage": None}
        elif deal.how is How.CREATED:
            pushed = {"stage": None}
        if not made_whole:
            await self._fill(deal_id, pushed)
        await self._notify_paid(deal_id, pushed)
        return deal_id

    def _in_funnel(self, category: int) -> None:
        if category != self.desired["category_id"]:
            self.desired["category_id"] = category
            self.desired["fields"]["STAGE_ID"] = self.mapping.deals.stage_id(self.desired["stage"], category)

    async def _update(self, deal_id: int, pushed_fields: dict[str, Any] | None,
                      then: list[tuple[str, dict[str, Any]]] | None = None) -> bool:
        """Fields 1C owns — all of them when 1C changed one, so a manager's edit is put back (and logged) —
        never the create-only ones, nor CATEGORY_ID: a deal stays in its funnel.  ``then`` (the rows and
        notes, :meth:`_fill_steps`) go in the same request after the update, halting at a refused step as
        :meth:`_fill` would stop; True when they did (False: too many for one request, or a row too big for
        a batch command: :meth:`_fill` sends them)."""
        deals = self.mapping.deals
        changes = owned_changes(self.desired["fields"], pushed_fields, self.mapping.create_only("deal"),
                                three_way=THREE_WAY, clear=[getattr(deals.user_fields, k) for k in USER_FIELD_KEYS])
        then = then or []
        if len(then) + 2 > MAX_BATCH_COMMANDS:
            then = []
        self._responsible = None  # (a deal found or made after a refused refresh is another record)
        self._first_write = "crm.deal.update" if changes else then[0][0] if then else None
        # the responsible person a paid notification goes to, read with the owned fields (not by a crm.deal.get
        # after them): a create-only field the update leaves alone, or the value it sends
        select = set(changes) - THREE_WAY | ({"ASSIGNED_BY_ID"} if self._notifying else set())
        try:
            if changes:
                current = await owned.update(
                    self.b24, entity="deal", b24_id=deal_id, entity_id=self.state.order_id, fields=changes,
                    pushed=pushed_fields, method="crm.deal.update", params={"params": {"REGISTER_SONET_EVENT": "N"}},
                    read=("crm.deal.list", {"filter": {"ID": deal_id}, "select": sorted(select)}), then=then)
                responsible = changes.get("ASSIGNED_BY_ID") or (current or {}).get("ASSIGNED_BY_ID")
                self._responsible = int(responsible) if responsible else None
            elif then:
                await self.b24.call_chain(then, halt=True)
        except Unencodable:  # nothing was sent: the update alone, the rows and notes as _fill sends them
            if not then:
                raise
            await self._update(deal_id, pushed_fields)
            return False
        return bool(then)

    def _fill_steps(self, deal_id: int, pushed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The rows (first: refused, no note is on the timeline yet and the retry posts each once), then the
        notes, of a deal that exists."""
        return [*self._rows(deal_id, pushed), *self._notes(deal_id, pushed)]

    def _rows(self, deal_id: int | str, pushed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Replacing the product rows, when they differ from ``pushed``'s (``deal_id`` may be a chain
        reference to the ``crm.deal.add`` before it)."""
        if pushed.get("rows") == self.desired["rows"]:
            return []
        return [("crm.deal.productrows.set", {"id": deal_id, "rows": self.desired["rows"]})]

    def _notes(self, deal_id: int | str, pushed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """A timeline comment for each note not pushed yet, in 1C's order."""
        if not self.mapping.deals.timeline_comments:
            return []
        posted = pushed.get("notes") or {}
        return [("crm.timeline.comment.add", {"fields": {"ENTITY_ID": deal_id, "ENTITY_TYPE": "deal",
                                                         "COMMENT": text}})
                for key, text in self.desired["notes"].items() if posted.get(key) != text]

    async def _fill(self, deal_id: int, pushed: dict[str, Any]) -> None:
        """Rows and notes of a deal found by its key, or of a linked one whose update could not carry them
        (:meth:`_update`).  The rows first and alone: when they are refused no note is on the timeline yet,
        and the retry posts each once.  Then the notes in one request (a batch runs its commands in order and
        stops at a refused one)."""
        for method, params in self._rows(deal_id, pushed):
            await self.b24.call(method, params)
        notes = self._notes(deal_id, pushed)
        if len(notes) == 1:
            await self.b24.call(*notes[0])
        elif notes:  # halting: a note that ran after a refused one would be posted again by the retry
            for at in range(0, len(notes), MAX_BATCH_COMMANDS):
                await self.b24.call_chain(notes[at:at + MAX_BATCH_COMMANDS], halt=True)

    def _paid_news(self, pushed: dict[str, Any]) -> bool:
        """Whether this push moves the deal into the paid stage (news for its responsible person): once per
        transition, not for more payments of a deal paid already."""
        tag = self.desired["paid_tag"]
        if not self.mapping.deals.notify_paid or tag is None or pushed.get("paid_tag") == tag:
            return False
        return not (pushed.get("stage") == domain.PAID and pushed.get("paid_tag"))

    async def _notify_paid(self, deal_id: int, pushed: dict[str, Any]) -> None:
        """Tell the deal's responsible person — whoever it is now, managers reassign deals — once per
        transition into the paid stage.  Who that is was read with the update's owned fields when it could
        be (one request less), else is asked for."""
        if not self._paid_news(pushed):
            return
        tag = self.desired["paid_tag"]
        user_id = self._responsible
        if user_id is None:
            deal = await self.b24.call("crm.deal.get", {"id": deal_id})
            user_id = int(deal.get("ASSIGNED_BY_ID") or self.mapping.default_responsible_id)
        await self.b24.call("im.notify.system.add", {
            "USER_ID": user_id, "MESSAGE": domain.paid_message(self.state, deal_id, self.desired["client"]),
            "TAG": tag, "CLIENT_ID": "b24bridge"})
        metrics.PAID_NOTIFICATIONS.inc()
        log.info("paid notification sent", extra={"action": "deal.notify_paid", "order_id": self.state.order_id,
                                                  "deal_id": deal_id, "user_id": user_id})
