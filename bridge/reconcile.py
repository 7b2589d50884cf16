"""`b24bridge reconcile`: compare the links and the order projection with what Bitrix24 actually holds.

Reads (the comparison itself is pure, in :mod:`bridge.domain.reconcile`):

* the links of companies, contacts, requisites, products and deals (PostgreSQL), with the state each
  push left, and for deals the 1C facts of the order projection (what the deal should show);
* Bitrix24's lists, cheaply: ``start=-1`` (no COUNT) over ID windows (``>ID``/``<=ID``, ordered by ID),
  only the fields compared in ``select``, up to 50 windows per ``batch`` request; a window that comes
  back full goes on from its last ID in the next request, and the windows widen where IDs are sparse.
  Deals' product rows: ``crm.deal.productrows.get``, 50 deals per ``batch``.

Repairs (``--repair``) never write Bitrix24 themselves: they mark the link in doubt, as a push that died
half-way does (:mod:`bridge.links`), and hand the object to its own consumer's code — a deal's order to
:meth:`DealHandler.sync_order`, a counterparty's or product's newest stored event to its handler — which
then sends the full desired state, finds or makes again a record deleted by hand, and commits the link.
Duplicates and twins are only reported: merging records is an operator's decision.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from onec_outbox.contract import parse_event

from . import metrics
from .b24 import B24
from .b24.envelope import items_of
from .domain import deal as deal_domain
from .domain import product as product_domain
from .domain import reconcile as domain
from .domain.reconcile import DealExpectation, Finding, LinkView, Report
from .errors import B24Error, ConfigError, NeedsReview
from .mapping import OWNED_ENTITIES
from .mapping import Mapping as BridgeMapping
from .projection import OrderProjection
from .review import ReviewStore
from .sql import Q
from .sync.counterparty import CounterpartyHandler
from .sync.deal import DealHandler
from .sync.product import ProductHandler

log = logging.getLogger(__name__)

PAGE = 50  # rows per list page (Bitrix24's fixed page size)
BATCH = 50  # commands per batch request
MAX_WINDOW = PAGE * 2000  # the widest ID window one list command covers
REQUISITE_OWNER = {"4": "company", "3": "contact"}  # crm.requisite ENTITY_TYPE_ID
# a catalog product's base price as compared: not product fields (catalog.price.list holds prices), so never
# in the product list's select
BASE_PRICE = ("basePrice", "basePriceCurrency")
Progress = Callable[[str, int, int], None]  # (what, done, total): IDs covered of the highest ID


@dataclass(frozen=True)
class ListSpec:
    """One Bitrix24 list the comparison reads."""

    entity: str
    method: str
    id_key: str
    select: tuple[str, ...]
    filter: Mapping[str, Any] | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The least a list answers (catalog.product.list requires id and iblockId in every select)."""
        return (self.id_key, "iblockId") if self.method == "catalog.product.list" else (self.id_key,)


async def scan(b24: B24, spec: ListSpec, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Every row of a list method: ``start=-1`` over ID windows, up to 50 windows per ``batch``."""
    base = dict(spec.filter or {})
    top = await b24.call_page(spec.method, {"filter": base, "select": list(spec.keys), "order": {spec.id_key: "DESC"},
                                            "start": -1})
    if not top.items:
        if progress:
            progress(spec.entity, 1, 1)
        return []
    highest = int(top.items[0][spec.id_key])
    rows: list[dict[str, Any]] = []
    width, covered = PAGE, 0  # the next window starts after `covered`
    cursors: list[tuple[int, int]] = []  # (after id, up to id) windows still to read
    while cursors or covered < highest:
        while len(cursors) < BATCH and covered < highest:
            upto = min(covered + width, highest)
            cursors.append((covered, upto))
            covered = upto
        commands = {f"w{n}": (spec.method, {"filter": {**base, f">{spec.id_key}": after, f"<={spec.id_key}": upto},
                                            "select": list(spec.select), "order": {spec.id_key: "ASC"}, "start": -1})
                    for n, (after, upto) in enumerate(cursors)}
        result = await b24.batch(commands)
        again, got, span = [], 0, 0
        for n, (after, upto) in enumerate(cursors):
            page = result.page(f"w{n}").items
            rows.extend(page)
            got += len(page)
            last = int(page[-1][spec.id_key]) if page else upto
            if len(page) >= PAGE and last < upto:  # full: the window may hold more, go on after its last row
                again.append((last, upto))
                span += last - after
            else:
                span += upto - after
        if not again and got:  # density seen so far: windows wide enough to hold about a page each
            width = max(PAGE, min(MAX_WINDOW, int(PAGE * span / max(got, 1))))
        elif not got:
            width = min(MAX_WINDOW, width * 4)
        cursors = again
        if progress:
            progress(spec.entity, covered - sum(upto - after for after, upto in cursors), highest)
    return rows


# --- what the bridge knows --------------------------------------------------------------------------------


@dataclass
class Known:
    links: dict[str, list[Any]]  # b24_type → link rows
    by_id: dict[str, dict[int, LinkView]]  # b24_type → b24_id → view
    contact_fields: dict[str, tuple[str, Mapping[str, Any]]]  # contact person id → (counterparty id, fields)
    requisite_fields: dict[str, Mapping[str, Any]]  # counterparty id → requisite fields pushed
    main_links: dict[tuple[str, str, str], list[tuple[str, Any]]]  # (source, onec type, id) → (b24 type, row)


def _fields_of(row: Any) -> Mapping[str, Any] | None:
    """The owned fields a link's last push wrote, or None when they are not what Bitrix24 holds (in doubt)."""
    state = row["pushed_state"]
    if row["pushing_since"] is not None or not isinstance(state, dict):
        return None
    if row["onec_type"] == "counterparty" and row["b24_type"] in ("company", "contact"):
        return ((state.get("main") or {}).get("fields")) or None
    if row["b24_type"] == "product" and isinstance(state.get("base_price"), dict):  # catalog API: 1C's sale price
        base = state["base_price"]
        return {**(state.get("fields") or {}), BASE_PRICE[0]: base.get("price"), BASE_PRICE[1]: base.get("currency")}
    if row["b24_type"] in ("product", "deal"):
        return state.get("fields") or None
    return None


async def known(pool: asyncpg.Pool, entities: Iterable[str]) -> Known:
    types = sorted(set(entities))
    async with pool.acquire() as conn:
        rows = await conn.fetch(Q.reconcile_links, types)
    links: dict[str, list[Any]] = {t: [] for t in types}
    by_id: dict[str, dict[int, LinkView]] = {t: {} for t in types}
    contact_fields: dict[str, tuple[str, Mapping[str, Any]]] = {}
    requisite_fields: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        links[row["b24_type"]].append(row)
        state = row["pushed_state"] if isinstance(row["pushed_state"], dict) else {}
        if row["onec_type"] == "counterparty" and row["b24_type"] in ("company", "contact"):
            trusted = row["pushing_since"] is None
            for person_id, person in (state.get("contacts") or {}).items():
                contact_fields[person_id] = (row["onec_id"], (person.get("fields") or {}) if trusted else {})
            if trusted and state.get("requisite"):
                requisite_fields[row["onec_id"]] = state["requisite"]
    for b24_type, group in links.items():
        for row in group:
            fields = _fields_of(row)
            if b24_type == "contact" and row["onec_type"] == "contact_person":
                fields = contact_fields.get(row["onec_id"], ("", None))[1] or None
            if b24_type == "requisite" and row["onec_type"] == "counterparty" and row["pushing_since"] is None:
                fields = requisite_fields.get(row["onec_id"])
            by_id[b24_type][int(row["b24_id"])] = LinkView(row["source"], row["onec_type"], row["onec_id"],
                                                           int(row["b24_id"]), fields)
    main_links: dict[tuple[str, str, str], list[tuple[str, Any]]] = {}
    for b24_type in ("company", "contact", "product", "deal"):
        for row in links.get(b24_type, []):
            if row["onec_type"] in ("counterparty", "product", "customer_order"):
                main_links.setdefault((row["source"], row["onec_type"], row["onec_id"]), []).append((b24_type, row))
    return Known(links, by_id, contact_fields, requisite_fields, main_links)


# --- the comparison -------------------------------------------------------------------------------------


def _select(base: Iterable[str], views: Iterable[LinkView], create_only: frozenset[str]) -> tuple[str, ...]:
    """The list's select: the keys plus every owned field some link pushed (create-only ones are not read)."""
    fields = dict.fromkeys(base)
    for view in views:
        for name in view.fields or {}:
            if name not in create_only and name not in domain.NOT_COMPARED and name not in BASE_PRICE:
                fields[name] = None
    return tuple(fields)


class Reconciler:
    """One run: read, compare, and (with ``repair``) hand what is repairable to the consumers' code."""

    def __init__(self, pool: asyncpg.Pool, b24: B24, mapping: BridgeMapping, *,
                 progress: Progress | None = None) -> None:
        self.pool = pool
        self.b24 = b24
        self.mapping = mapping
        self.progress = progress
        self._iblock: int | None = mapping.products.iblock_id

    def _create_only(self, entity: str) -> frozenset[str]:
        """Fields a manager may change after create (not drift); requisites have no such choice."""
        return self.mapping.create_only(entity) if entity in OWNED_ENTITIES else frozenset()

    async def run(self, entities: Iterable[str] = domain.ENTITIES) -> Report:
        wanted = [e for e in domain.ENTITIES if e in set(entities)]
        # a company's twins are found by its requisites' INN/KPP: read them for `--entity company` too (their
        # own findings are reported only when asked for)
        read = [e for e in domain.ENTITIES if e in wanted or (e == "requisite" and "company" in wanted)]
        report = Report()
        facts = await known(self.pool, read)
        records: dict[str, dict[int, dict[str, Any]]] = {}
        for entity in read:
            spec = await self._spec(entity, facts)
            if spec is None:
                continue
            rows = await scan(self.b24, spec, self.progress)
            records[entity] = {int(r[spec.id_key]): _upper_id(r, spec.id_key) for r in rows}
            if spec.method == "catalog.product.list":
                await self._base_prices(records[entity])
            if entity in wanted:
                report.scanned[entity] = len(rows)
                report.checked[entity] = len(facts.by_id.get(entity, {}))
        for entity in wanted:
            if entity not in records:
                continue
            views = list(facts.by_id[entity].values())
            present = records[entity]
            report.findings += domain.missing(entity, views, present)
            if entity in ("company", "contact", "product"):
                report.findings += domain.drift(entity, views, present, self._create_only(entity))
            if entity == "requisite":
                report.findings += domain.drift(entity, views, present)
            report.findings += self._duplicates(entity, present, facts.by_id[entity])
        if "company" in wanted and "company" in records and "requisite" in records:
            report.findings += _company_twins(records["company"], records["requisite"], facts.by_id["company"])
        if "deal" in records:
            report.findings += await self._deals(facts, records["deal"])
        return report

    async def _spec(self, entity: str, facts: Known) -> ListSpec | None:
        views = facts.by_id.get(entity, {}).values()
        create_only = self._create_only(entity)
        if entity in ("company", "contact"):
            return ListSpec(entity, f"crm.{entity}.list", "ID",
                            _select(("ID", "ORIGINATOR_ID", "ORIGIN_ID"), views, create_only))
        if entity == "requisite":
            return ListSpec(entity, "crm.requisite.list", "ID", _select(
                ("ID", "ENTITY_TYPE_ID", "ENTITY_ID", "XML_ID", "RQ_INN", "RQ_KPP"), views, frozenset()))
        if entity == "product":
            if self.mapping.products.api == "legacy":
                return ListSpec(entity, "crm.product.list", "ID", _select(("ID", "XML_ID"), views, create_only))
            iblock = await self._catalog_iblock()
            return ListSpec(entity, "catalog.product.list", "id",
                            _select(("id", "iblockId", "xmlId"), views, create_only), {"iblockId": iblock})
        if entity == "deal":
            base = ("ID", "ORIGINATOR_ID", "ORIGIN_ID", "STAGE_ID", "CATEGORY_ID", "OPPORTUNITY", "CURRENCY_ID")
            return ListSpec(entity, "crm.deal.list", "ID", _select(base, views, self._create_only("deal")))
        return None

    async def _base_prices(self, products: dict[int, dict[str, Any]]) -> None:
        """Put each catalog product's base price (``products.base_price_type_id``) on its record as
        :data:`BASE_PRICE`, for the drift comparison: a manager's price edit is drift like a name edit.  A product
        without a base price row gets None (a price deleted by hand is drift too)."""
        group = self.mapping.products.base_price_type_id
        spec = ListSpec("product price", "catalog.price.list", "id",
                        ("id", "productId", "price", "currency", "catalogGroupId", "quantityFrom", "quantityTo"),
                        {"catalogGroupId": group})
        rows: dict[int, list[dict[str, Any]]] = {}
        for row in await scan(self.b24, spec, self.progress):
            rows.setdefault(int(row["productId"]), []).append(row)
        for product_id, record in products.items():  # quantity ranges are the managers': not compared
            price = product_domain.base_row(rows.get(product_id, []), group)
            record[BASE_PRICE[0]] = price.get("price") if price else None
            record[BASE_PRICE[1]] = price.get("currency") if price else None

    async def _catalog_iblock(self) -> int:
        if self._iblock is None:
            catalogs = items_of(await self.b24.call("catalog.catalog.list", {}), "catalog.catalog.list")
            self._iblock = product_domain.product_iblock(catalogs)
            if self._iblock is None:
                raise ConfigError("catalog.catalog.list shows no single product catalog: set products.iblock_id "
                                  "in the mapping file")
        return self._iblock

    def _duplicates(self, entity: str, present: Mapping[int, Mapping[str, Any]],
                    linked: Mapping[int, LinkView]) -> list[Finding]:
        if entity in ("company", "contact", "deal"):
            return domain.duplicates(entity, present.values(), _origin_key, linked, "ORIGINATOR_ID/ORIGIN_ID")
        if entity == "product":
            return domain.duplicates(entity, present.values(), lambda r: r.get("XML_ID") or r.get("xmlId"),
                                     linked, "XML_ID")
        if entity == "requisite":
            return domain.duplicates(entity, present.values(), _requisite_key, linked, "owner and XML_ID")
        return []

    async def _deals(self, facts: Known, deals: Mapping[int, Mapping[str, Any]]) -> list[Finding]:
        expectations = []
        rows_of = {row["b24_id"]: row for row in facts.links.get("deal", [])}
        async with self.pool.acquire() as conn:
            for view in facts.by_id.get("deal", {}).values():
                if view.b24_id not in deals:
                    continue
                projection = OrderProjection(conn, view.source)
                state = deal_domain.deal_state(await projection.facts(view.onec_id), self.mapping.deals.paid_when)
                if state is None:
                    continue
                pushed = rows_of[view.b24_id]["pushed_state"] or {}
                stage_id = self.mapping.deals.stage_id(state.stage)
                pushed_stage = (pushed.get("fields") or {}).get("STAGE_ID")
                if pushed.get("stage") == state.stage and pushed_stage:  # the funnel the handler chose
                    stage_id = pushed_stage
                expectations.append(DealExpectation(
                    view.source, view.onec_id, view.b24_id, stage_id, state.amount,
                    sum((r.total for r in state.rows), Decimal(0)), state.currency, view.fields))
        product_rows = await self._product_rows([e.b24_id for e in expectations])
        out: list[Finding] = []
        for want in expectations:
            out += domain.deal_findings(want, deals[want.b24_id], product_rows.get(want.b24_id),
                                        self._create_only("deal"))
        return out

    async def _product_rows(self, deal_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """Each deal's product rows, 50 deals per batch request."""
        out: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(deal_ids), BATCH):
            chunk = deal_ids[start:start + BATCH]
            result = await self.b24.batch({f"d{i}": ("crm.deal.productrows.get", {"id": i}) for i in chunk})
            for i in chunk:
                try:
                    out[i] = list(result.page(f"d{i}").result or [])
                except B24Error:  # deleted meanwhile: the next run says so
                    continue
            if self.progress:
                self.progress("product rows", min(start + BATCH, len(deal_ids)), len(deal_ids))
        return out

    # --- repair -------------------------------------------------------------------------------------------

    async def repair(self, report: Report) -> list[dict[str, Any]]:
        """Re-push what is missing or drifted through the consumers' own code; duplicates are left alone."""
        facts = await known(self.pool, domain.ENTITIES)
        targets: dict[tuple[str, str, str], list[Finding]] = {}
        for finding in report.findings:
            if not finding.repairable or finding.onec_id is None:
                continue
            target = self._owner(finding, facts)
            if target is not None:
                targets.setdefault(target, []).append(finding)
        done = []
        handlers: dict[str, Any] = {}
        for (source, what, onec_id), findings in sorted(targets.items()):
            try:
                outcome = await self._repair_one(handlers, facts, source, what, onec_id)
            except Exception as exc:  # noqa: BLE001 - one object's failure is reported; the others go on
                log.warning("reconcile repair failed", extra={"action": "reconcile.repair_failed", "source": source,
                                                              "onec_type": what, "onec_id": onec_id, "error": str(exc)})
                outcome = f"failed: {exc}"
            for finding in findings:
                done.append({"entity": finding.entity, "kind": finding.kind, "b24_id": finding.b24_id,
                             "onec": f"{what} {onec_id}", "source": source, "outcome": outcome})
        report.repairs = done
        return done

    def _owner(self, finding: Finding, facts: Known) -> tuple[str, str, str] | None:
        """The 1C object whose push repairs a finding: (source, counterparty|product|customer_order, id)."""
        view = facts.by_id.get(finding.entity, {}).get(finding.b24_id or -1)
        if view is None:
            return None
        if view.onec_type == "contact_person":
            owner = facts.contact_fields.get(view.onec_id)
            return (view.source, "counterparty", owner[0]) if owner else None
        return view.source, view.onec_type, view.onec_id

    async def _repair_one(self, handlers: dict[str, Any], facts: Known, source: str, what: str, onec_id: str) -> str:
        await self._mark_in_doubt(facts, source, what, onec_id)
        if what == "customer_order":
            handler = handlers.setdefault("deal", DealHandler(self.pool, self.b24, self.mapping))
            changed = await handler.sync_order(source, onec_id)
            return "re-pushed" if changed else "unchanged"
        entity = "counterparty" if what == "counterparty" else "product"
        async with self.pool.acquire() as conn:
            body = await conn.fetchval(Q.reconcile_latest_event, source, entity, onec_id)
        if body is None:
            return "marked: the next event of it from 1C sends it whole (its stored events are purged)"
        event = parse_event(json.loads(body))
        event = event.model_copy(update={"event_id": str(uuid.uuid4())})  # the stored one is in the inbox
        if entity == "counterparty":
            handler = handlers.setdefault(entity, CounterpartyHandler(self.pool, self.b24, self.mapping))
        else:
            handler = handlers.setdefault(entity, ProductHandler(self.pool, self.b24, self.mapping))
        try:
            outcome = await handler.handle(event)
        except NeedsReview as exc:  # the record is gone and matching found records a manager typed: an operator picks
            item = await ReviewStore(self.pool).park(
                consumer=handler.name, onec_type=exc.onec_type, onec_id=exc.onec_id, reason=exc.reason,
                summary=exc.summary, error=str(exc), candidates=exc.candidates, event=json.loads(body),
                body=body.encode() if isinstance(body, str) else body)
            return f"parked for review (item {item}): {exc}"
        return "re-pushed" if outcome.value == "applied" else f"not re-pushed ({outcome.value})"

    async def _mark_in_doubt(self, facts: Known, source: str, what: str, onec_id: str) -> None:
        """Mark the object's main link in doubt, so its push sends the full desired state."""
        for b24_type, row in facts.main_links.get((source, what, onec_id), ()):
            state = row["pushed_state"] if isinstance(row["pushed_state"], dict) else {}
            if b24_type in ("product", "deal"):  # what each handler's begin_push records
                pending = {"fields": state.get("fields") or {}}
            else:
                pending = {"main": (state.get("main") or {}).get("fields") or {},
                           "requisite": state.get("requisite") or {}}
            async with self.pool.acquire() as conn:
                await conn.execute(Q.reconcile_mark_in_doubt, source, what, onec_id, b24_type, pending)


def _upper_id(row: dict[str, Any], id_key: str) -> dict[str, Any]:
    if id_key != "ID" and "ID" not in row:
        return {**row, "ID": row[id_key]}
    return row


def _origin_key(record: Mapping[str, Any]) -> tuple[str, str] | None:
    originator, origin = record.get("ORIGINATOR_ID"), record.get("ORIGIN_ID")
    return (str(originator), str(origin)) if originator and origin else None


def _requisite_key(record: Mapping[str, Any]) -> tuple[str, str, str] | None:
    xml = record.get("XML_ID")
    return (str(record.get("ENTITY_TYPE_ID")), str(record.get("ENTITY_ID")), str(xml)) if xml else None


def _company_twins(companies: Mapping[int, Mapping[str, Any]], requisites: Mapping[int, Mapping[str, Any]],
                   linked: Mapping[int, LinkView]) -> list[Finding]:
    """Unlinked companies whose requisite has the INN + KPP of a linked company's requisite."""
    keys: dict[int, tuple[str, str]] = {}
    for req in requisites.values():
        if REQUISITE_OWNER.get(str(req.get("ENTITY_TYPE_ID"))) != "company" or not req.get("RQ_INN"):
            continue
        owner = int(req.get("ENTITY_ID") or 0)
        if owner in companies:
            keys.setdefault(owner, (str(req["RQ_INN"]), str(req.get("RQ_KPP") or "")))
    linked_keys = {i: k for i, k in keys.items() if i in linked}
    unlinked = {i: k for i, k in keys.items() if i not in linked and not _origin_key(companies[i])}
    return domain.twins("company", linked_keys, unlinked, linked, "INN/KPP")


def export(report: Report) -> None:
    """Set ``bridge_reconcile_drift{entity,kind}`` from a finished run (every pair, zeros included)."""
    for (entity, kind), count in report.counts().items():
        metrics.RECONCILE_DRIFT.labels(entity, kind).set(count)
    metrics.RECONCILE_LAST_RUN.set_to_current_time()

