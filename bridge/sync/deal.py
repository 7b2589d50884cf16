"""Apply the order lifecycle (orders, invoices, payments, shipments) to Bitrix24 deals.

For each event: (1) merge the document's snapshot into the order projection, version-guarded, in its
own transaction, recording every order it touches now or touched before in ``order_resync``; (2) for each
of those orders (and any still pending from an earlier attempt), under that order's lock, recompute the
deal from all facts known for it (pure: ``bridge.domain.deal``), push only what differs from the last push,
and clear its resync row; (3) record the event in the inbox once every order is done.  A crash anywhere repeats (2) on
redelivery, which changes nothing that already happened: the deal is found by its external key, fields
are three-way diffed, the product rows are replaced whole, and the paid notification carries a TAG.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import asyncpg

from onec_outbox.contract import event_to_json

from .. import metrics, topology
from ..consumer import Outcome
from ..domain import deal as domain
from ..domain.diff import field_changes
from ..errors import B24NotFound, DependencyMissing
from ..links import Link, UnitOfWork, state_hash, unit_of_work
from ..mapping import STAGE_KEYS, USER_FIELD_KEYS, Mapping
from ..sql import Q
from .responsible import Responsibles

log = logging.getLogger(__name__)

ONEC_ORDER = "customer_order"


def order_links(doc_type: str, doc_id: str, payload: dict[str, Any]) -> dict[str, Decimal | None]:
    """Which orders this snapshot touches, and with what amount (a payment may pay several orders)."""
    if doc_type == "customer_order":
        return {doc_id: None}
    if doc_type == "invoice":
        order = payload.get("order_id")
        return {order: domain.money(payload.get("amount"))} if order else {}
    if doc_type == "payment":
        links: dict[str, Decimal | None] = {}
        for allocation in payload.get("allocations") or ():
            order = allocation.get("order_id")
            if order:
                links[order] = (links.get(order) or Decimal(0)) + domain.money(allocation.get("amount"))
        return links
    if doc_type == "shipment":
        return {order: domain.money(payload.get("amount")) for order in dict.fromkeys(payload.get("order_ids") or ())}
    raise ValueError(f"not an order document: {doc_type}")


class DealHandler:
    name = "deal"
    target = topology.TARGETS["deal"]
    event_types = frozenset({"customer_order.upserted", "invoice.upserted", "payment.upserted",
                             "shipment.upserted"})

    def __init__(self, pool: asyncpg.Pool, b24: Any, mapping: Mapping) -> None:
        self._pool = pool
        self._b24 = b24
        self._mapping = mapping
        self._responsibles = Responsibles(b24, mapping)
        self.wait_budget = mapping.deals.dependency_wait_hours * 3600

    async def handle(self, event: Any) -> Outcome:
        source, doc_type, doc_id = event.source, event.entity, str(event.entity_id)
        payload = event_to_payload_json(event)
        async with self._pool.acquire() as conn:
            if await conn.fetchval(Q.inbox_seen, self.name, event.event_id):
                return Outcome.DUPLICATE
            async with conn.transaction():
                await conn.execute(Q.link_lock, f"{source}/{doc_type}/{doc_id}")
                newer = await _merge(conn, source, doc_type, doc_id, event.version, payload)
                affected = {r["order_id"] for r in await conn.fetch(Q.projection_links_of, source, doc_type, doc_id)}
                affected |= {r["order_id"] for r in await conn.fetch(Q.projection_resync_of, source, doc_type, doc_id)}
        changed, failures = False, []
        for order_id in sorted(affected):  # every order, even when one of them fails
            try:
                changed |= await self.sync_order(source, order_id)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the other orders had their turn
                failures.append(exc)
        if failures:  # the event comes back (retry or wait) and recomputes what is still pending
            raise next((f for f in failures if not isinstance(f, DependencyMissing)), failures[0])
        async with self._pool.acquire() as conn:
            await conn.execute(Q.inbox_add, self.name, event.event_id)
        if changed:
            return Outcome.APPLIED
        return Outcome.UNCHANGED if newer else Outcome.STALE

    async def sync_order(self, source: str, order_id: str) -> bool:
        """Bring one order's deal in line with the projection; True if Bitrix24 changed."""
        async with unit_of_work(self._pool, self.name, source, f"order/{order_id}") as uow:
            state = domain.deal_state(await _facts(uow.conn, source, order_id), self._mapping.deals.paid_when)
            await uow.conn.execute(Q.projection_resync_done, source, order_id)  # kept if this transaction fails
            if state is None:
                return False
            link = (await uow.links(ONEC_ORDER, order_id)).get("deal")
            desired = await self._desired(uow, source, state)
            pushed = link.pushed_state if link is not None else None
            if pushed is not None and state_hash(pushed) == state_hash(desired):
                return False
            apply = _ApplyDeal(self._b24, uow, self._mapping, source, state, desired)
            deal_id = await apply.run(link, pushed)
            await uow.save_link(ONEC_ORDER, order_id, "deal", deal_id, pushed_state=desired)
            return True

    async def _desired(self, uow: UnitOfWork, source: str, state: domain.DealState) -> dict[str, Any]:
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
            state, stage_ids={k: deals.stage_id(k) for k in STAGE_KEYS},
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
            "notes": {n.key: n.text for n in state.notes},
            "paid_tag": domain.paid_tag(source, state.order_id, state.paying_payments) if state.stage == domain.PAID else None,
            "client": client.get("TITLE") or " ".join(filter(None, (client.get("LAST_NAME"), client.get("NAME")))),
        }


def event_to_payload_json(event: Any) -> dict[str, Any]:
    return event_to_json(event)["payload"]


async def _merge(conn: asyncpg.Connection, source: str, doc_type: str, doc_id: str, version: int,
                 payload: dict[str, Any]) -> bool:
    """Merge one snapshot into the projection; True if it was newer.  A newer snapshot also records every
    order it touched before or touches now in ``order_resync``, until each deal has been recomputed."""
    current = await conn.fetchrow(Q.projection_document, source, doc_type, doc_id)
    posted = bool(payload.get("posted"))
    if current is not None and current["version"] >= version:
        if posted and not current["ever_posted"]:
            await conn.execute(Q.projection_mark_posted, source, doc_type, doc_id)
        return False
    before = {r["order_id"] for r in await conn.fetch(Q.projection_links_of, source, doc_type, doc_id)}
    await conn.execute(Q.projection_document_upsert, source, doc_type, doc_id, version, payload, posted)
    links = order_links(doc_type, doc_id, payload)
    await conn.execute(Q.projection_links_clear, source, doc_type, doc_id)
    if links:
        await conn.execute(Q.projection_links_add, source, doc_type, doc_id, list(links), list(links.values()))
    await conn.execute(Q.projection_resync_add, source, doc_type, doc_id, sorted(before | set(links)))
    return True


async def _facts(conn: asyncpg.Connection, source: str, order_id: str) -> domain.OrderFacts:
    rows = await conn.fetch(Q.projection_order_facts, source, order_id)
    documents = [domain.Document(r["doc_type"], r["doc_id"], r["snapshot"], r["ever_posted"], r["amount"])
                 for r in rows]
    return domain.OrderFacts.from_documents(order_id, documents)


class _ApplyDeal:
    """The Bitrix24 calls for one deal (one instance per push)."""

    def __init__(self, b24: Any, uow: UnitOfWork, mapping: Mapping, source: str, state: domain.DealState,
                 desired: dict[str, Any]) -> None:
        self.b24 = b24
        self.uow = uow
        self.mapping = mapping
        self.source = source
        self.state = state
        self.desired = desired

    async def run(self, link: Link | None, pushed: dict[str, Any] | None) -> int:
        fields = self.desired["fields"]
        deal_id = None
        if link is not None:
            deal_id = link.b24_id
            try:
                await self._update(deal_id, (pushed or {}).get("fields"))
            except B24NotFound:  # deleted by hand in Bitrix24: make it again
                deal_id, pushed = None, None
        if deal_id is None:
            found = await self.b24.call("crm.deal.list", {
                "filter": {"ORIGINATOR_ID": fields["ORIGINATOR_ID"], "ORIGIN_ID": fields["ORIGIN_ID"]},
                "select": ["ID"], "order": {"ID": "ASC"}})
            if found:
                deal_id = int(found[0]["ID"])
                await self._update(deal_id, None)
                # after a crash the notes may already be on the timeline: do not write them twice
                pushed = {"notes": self.desired["notes"], "stage": None}
            else:
                deal_id = int(await self.b24.call("crm.deal.add", {
                    "fields": {**fields, "CATEGORY_ID": self.mapping.deals.category_id},
                    "params": {"REGISTER_SONET_EVENT": "N"}}))
                pushed = {"stage": None}
        if pushed.get("rows") != self.desired["rows"]:
            await self.b24.call("crm.deal.productrows.set", {"id": deal_id, "rows": self.desired["rows"]})
        await self._comment(deal_id, pushed.get("notes") or {})
        await self._notify_paid(deal_id, pushed)
        return deal_id

    async def _update(self, deal_id: int, pushed_fields: dict[str, Any] | None) -> None:
        changes = field_changes(self.desired["fields"], pushed_fields)
        if changes:
            await self.b24.call("crm.deal.update", {"id": deal_id, "fields": changes,
                                                    "params": {"REGISTER_SONET_EVENT": "N"}})

    async def _comment(self, deal_id: int, pushed_notes: dict[str, str]) -> None:
        if not self.mapping.deals.timeline_comments:
            return
        for key, text in self.desired["notes"].items():
            if pushed_notes.get(key) != text:
                await self.b24.call("crm.timeline.comment.add", {"fields": {
                    "ENTITY_ID": deal_id, "ENTITY_TYPE": "deal", "COMMENT": text}})

    async def _notify_paid(self, deal_id: int, pushed: dict[str, Any]) -> None:
        """Tell the deal's responsible person — whoever it is now, managers reassign deals — once per
        transition into the paid stage."""
        tag = self.desired["paid_tag"]
        if not self.mapping.deals.notify_paid or tag is None or pushed.get("paid_tag") == tag:
            return
        if pushed.get("stage") == domain.PAID and pushed.get("paid_tag"):
            return  # still paid, only more payments arrived: no new "client paid" message
        deal = await self.b24.call("crm.deal.get", {"id": deal_id})
        user_id = int(deal.get("ASSIGNED_BY_ID") or self.mapping.default_responsible_id)
        await self.b24.call("im.notify.system.add", {
            "USER_ID": user_id, "MESSAGE": domain.paid_message(self.state, deal_id, self.desired["client"]),
            "TAG": tag, "CLIENT_ID": "b24bridge"})
        metrics.PAID_NOTIFICATIONS.inc()
        log.info("paid notification sent", extra={"action": "deal.notify_paid", "order_id": self.state.order_id,
                                                  "deal_id": deal_id, "user_id": user_id})
