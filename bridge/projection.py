"""The order projection: the latest snapshot of every order document, the orders each one touches, and the
orders still waiting for their deal to be recomputed — read and written inside the caller's transaction.

Snapshots are stored as the contract's JSON (JSONB, ``order_documents``); they become the domain's typed
facts here, once, on the way out, so ``bridge.domain.deal`` never reads a dict by string keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from onec_outbox.contract import DocumentPayload

from .domain import deal as domain
from .sql import Q


@dataclass(frozen=True)
class Merged:
    newer: bool  # the snapshot was newer than the stored one (or the first)
    affected: frozenset[str]  # the orders whose deal the event must recompute
    named: frozenset[str] = frozenset()  # the orders whose waiting resync row names the event (written now,
    # or by an earlier delivery of it and not settled yet): the push that settles such a row records the event
    # applied — and only those (an earlier delivery may have settled its other rows without recording it)


class OrderProjection:
    """The projection of one 1C source, on a connection whose transaction the caller holds.  The caller
    must hold the document (the deal handler's unit of work does, with a transaction-level lock taken
    before the merge's statement began): ``merge`` reads the links and
    resync rows in the snapshot its statement began with, so its row lock alone would not serialise two
    merges of one document."""

    def __init__(self, conn: asyncpg.Connection, source: str) -> None:
        self._conn = conn
        self._source = source

    async def merge(self, doc_type: str, doc_id: str, version: int, payload: DocumentPayload, *,
                    event_id: Any = None, received_at: datetime | None = None) -> Merged:
        """Merge one snapshot, in one statement.  Newer than the stored version: stored, and every order it
        touched before or touches now recorded in ``order_resync`` until each deal has been recomputed.
        Older or equal: only remembers that the document was posted.  Returns whether it was newer and
        the orders its event must recompute (as :meth:`affected_orders` would answer right after).  The
        resync rows name the event (``event_id``, ``received_at``): the push that settles them — this
        event's, or the one it handed them to — marks it applied."""
        snapshot = payload.model_dump(mode="json")
        links = order_links(doc_type, doc_id, snapshot)
        for _ in range(3):  # again only when another merge of the document overlapped it (see the SQL)
            row = await self._conn.fetchrow(Q.projection_merge, self._source, doc_type, doc_id, version, snapshot,
                                            bool(snapshot.get("posted")), list(links), list(links.values()),
                                            event_id, received_at)
            if not row["retry"]:
                return Merged(row["newer"], frozenset(row["affected"]), frozenset(row["named"]))
        raise RuntimeError(f"{doc_type} {doc_id}: merged by others three times while this merge ran")

    async def names_event(self, doc_type: str, doc_id: str, event_id: Any) -> bool:
        """Whether a waiting ``order_resync`` row of the document still names the event: then a delivery of
        it already recorded applied (by the push it handed an order over to) still has work to do."""
        return bool(await self._conn.fetchval(Q.projection_names_event, self._source, doc_type, doc_id, event_id))

    async def affected_orders(self, doc_type: str, doc_id: str) -> frozenset[str]:
        """The orders whose deal a document's event must recompute: those it touches now, and those it
        touched before whose deal has not been recomputed since."""
        key = (self._source, doc_type, doc_id)
        now = await self._conn.fetch(Q.projection_links_of, *key)
        waiting = await self._conn.fetch(Q.projection_resync_of, *key)
        return frozenset(r["order_id"] for r in (*now, *waiting))

    async def facts(self, order_id: str) -> domain.OrderFacts:
        """Everything known about one order, as the domain's typed documents."""
        return (await self.facts_and_resync(order_id))[0]

    async def facts_and_resync(self, order_id: str) -> tuple[domain.OrderFacts, list[tuple[str, str, str]]]:
        """The order's facts and, read in the same snapshot, its ``order_resync`` rows as (doc_type, doc_id,
        row version): the rows a deal recomputed from these facts settles (a document merged after this
        read inserts or rewrites one, which must stay for its own event)."""
        rows = await self._conn.fetch(Q.projection_order_facts, self._source, order_id)
        facts = domain.OrderFacts.from_documents(order_id, [
            document(r["doc_type"], r["doc_id"], r["snapshot"], ever_posted=r["ever_posted"], order_id=order_id)
            for r in rows if not r["resync"]])
        return facts, [(r["doc_type"], r["doc_id"], r["stamp"]) for r in rows if r["resync"]]


def order_links(doc_type: str, doc_id: str, snapshot: Mapping[str, Any]) -> dict[str, Decimal | None]:
    """Which orders a snapshot touches, and with what amount (a payment may pay several orders)."""
    if doc_type == "customer_order":
        return {doc_id: None}
    if doc_type == "invoice":
        order = snapshot.get("order_id")
        return {order: money(snapshot.get("amount"))} if order else {}
    if doc_type == "payment":
        links: dict[str, Decimal | None] = {}
        for allocation in snapshot.get("allocations") or ():
            order = allocation.get("order_id")
            if order:
                links[order] = (links.get(order) or Decimal(0)) + money(allocation.get("amount"))
        return links
    if doc_type == "shipment":
        return {order: money(snapshot.get("amount")) for order in dict.fromkeys(snapshot.get("order_ids") or ())}
    raise ValueError(f"not an order document: {doc_type}")


def document(doc_type: str, doc_id: str, snapshot: Mapping[str, Any], *, ever_posted: bool = False,
             order_id: str | None = None) -> domain.Document:
    """A stored snapshot (contract JSON) as the domain's document, seen from the order ``order_id`` (a
    payment keeps only its allocation rows toward that order, each with its currency)."""
    head: dict[str, Any] = {
        "doc_id": doc_id, "number": str(snapshot.get("number") or ""), "date": str(snapshot.get("date") or ""),
        "posted": bool(snapshot.get("posted")), "deleted": bool(snapshot.get("deleted")),
        "currency": str(snapshot.get("currency") or "RUB"), "amount": money(snapshot.get("amount")),
        "ever_posted": ever_posted}
    if doc_type == "customer_order":
        contact_person = snapshot.get("contact_person_id")
        return domain.CustomerOrder(
            **head, counterparty_id=str(snapshot.get("counterparty_id")),
            contact_person_id=str(contact_person) if contact_person else None,
            responsible=_responsible(snapshot.get("responsible")), comment=snapshot.get("comment"),
            items=_items(snapshot), amounts_include_vat=snapshot.get("amounts_include_vat", True) is not False,
            organization_id=_text((snapshot.get("organization") or {}).get("id")),
            organization_name=_text((snapshot.get("organization") or {}).get("name")))
    if doc_type == "invoice":
        return domain.Invoice(**head, items=_items(snapshot),
                              amounts_include_vat=snapshot.get("amounts_include_vat", True) is not False)
    if doc_type == "payment":
        return domain.Payment(**head, kind=str(snapshot.get("kind") or ""), allocations=tuple(
            (str(a.get("currency") or head["currency"]), money(a.get("amount")))
            for a in snapshot.get("allocations") or () if a.get("order_id") == order_id))
    if doc_type == "shipment":
        return domain.Shipment(**head, organization=(snapshot.get("organization") or {}).get("name"))
    raise ValueError(f"not an order document: {doc_type}")


def money(value: Any) -> Decimal:
    """A contract money string as a Decimal; absent or unreadable counts as zero."""
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _responsible(value: Mapping[str, Any] | None) -> domain.Responsible | None:
    if not value:
        return None
    return domain.Responsible(str(value.get("id") or ""), str(value.get("name") or ""), value.get("email"))


def _items(snapshot: Mapping[str, Any]) -> tuple[domain.Item, ...]:
    return tuple(domain.Item(
        product_id=item.get("product_id"), name=str(item.get("name") or ""), quantity=money(item.get("quantity")),
        amount=money(item.get("amount")), vat_amount=money(item.get("vat_amount")),
        discount_percent=money(item.get("discount_percent")), vat_rate=str(item.get("vat_rate") or "none"),
        unit_code=(item.get("unit") or {}).get("code"), unit_name=(item.get("unit") or {}).get("name"),
        price=money(item.get("price")))
        for item in snapshot.get("items") or ())
