"""Apply a product snapshot to Bitrix24, exactly once in effect.

Under the product's lease (bridge.links: two short transactions, none open during a Bitrix24
call): skip the event if the inbox has
it or the link holds a newer version; compute the desired state (pure); find the product (link →
look-up by its key ``xmlId``/``XML_ID`` = ``1c-<source>-<1C id>``, asked together with the look-ups of
concurrent events in one list command → the key without the source, for a product made before keys
carried it that no other source links → create) and send only the fields 1C changed since the last
push (a linked product with the old key gets the new one this way); then
the base sale price (catalog API: ``catalog.price.modify`` with every other price kept); finally save the
link with the pushed state and the inbox row, and commit.  A crash after a Bitrix24 call and before the
commit is harmless: the redelivered event finds the product by its ``xmlId``.

The link is ``('product', <1C id>) → ('product', <Bitrix24 product id>)`` for both APIs (they share one
product table on a portal): the deal consumer reads it to fill product rows.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from onec_outbox.contract import ProductEvent

from .. import topology
from ..b24 import B24, chain_ref
from ..b24.envelope import items_of
from ..b24.lookup import KeyLookup
from ..consumer import Outcome
from ..domain import product as domain
from ..domain.diff import owned_changes, unconfirmed
from ..errors import B24Error, B24NotFound, B24ValidationError, PermanentError
from ..links import Link, unit_of_work
from ..mapping import Mapping
from . import guards, owned
from .keyed import find_or_create
from .matching import Matcher

log = logging.getLogger(__name__)

ONEC_PRODUCT = "product"
B24_PRODUCT = "product"
PRICE_SELECT = ["id", "productId", "catalogGroupId", "price", "currency", "quantityFrom", "quantityTo",
                "extraId"]


class ProductHandler:
    name = "product"
    target = topology.TARGETS["product"]
    mapping_keys = ("products",)
    event_types = target.event_types

    def __init__(self, pool: asyncpg.Pool, b24: B24, mapping: Mapping) -> None:
        self._pool = pool
        self._b24 = b24
        self._mapping = mapping
        self._iblock: int | None = mapping.products.iblock_id
        self._iblock_lock = asyncio.Lock()
        self._warned_no_purchase_price = False
        self._lookups: dict[tuple[str, int | None], KeyLookup] = {}
        self._matcher = Matcher(b24, pool, mapping)  # products managers typed: found before creating

    def _lookup(self, api: str, iblock: int | None) -> KeyLookup:
        """One shared look-up per catalog, so concurrent events ask for their products together (and, in
        a bulk load, answer from one pre-read of the catalog's keys, names and codes: see KeyLookup)."""
        if (api, iblock) not in self._lookups:
            # a shared-catalogue key is written by every 1C base: another process's creation must be seen
            preread = not self._mapping.products.shared_catalogue
            if api == domain.CATALOG:
                lookup = KeyLookup(self._b24, "catalog.product.list", key="xmlId",
                                   select=["iblockId", *self._matcher.product_fields(catalog=True)],
                                   base_filter={"iblockId": iblock}, in_prefix="", preread=preread)
            else:
                lookup = KeyLookup(self._b24, "crm.product.list", key="XML_ID",
                                   select=["ID", *self._matcher.product_fields(catalog=False)],
                                   id_field="ID", in_prefix="", preread=preread)
            self._lookups[(api, iblock)] = lookup
        return self._lookups[(api, iblock)]

    async def handle(self, event: ProductEvent) -> Outcome:
        entity_id = str(event.entity_id)
        settings = self._mapping.products
        iblock = await self._catalog_iblock() if settings.api == domain.CATALOG else None  # before any lease
        async with unit_of_work(self._pool, self.name, event.source, f"product/{entity_id}") as uow:
            links = await guards.seen_or_stale(uow, event, ONEC_PRODUCT, entity_id, (B24_PRODUCT,))
            if isinstance(links, Outcome):
                return links
            link = links.get(B24_PRODUCT)
            key = domain.product_key(event.source, entity_id, shared_catalogue=settings.shared_catalogue)
            desired = domain.desired_state(event.payload, key=key, api=settings.api,
                                           base_price_type_id=settings.base_price_type_id)
            state = desired.as_json()
            if await guards.unchanged(uow, event, ONEC_PRODUCT, entity_id, link, state):
                return Outcome.UNCHANGED
            pushed = link.pushed_state if link is not None else None
            if link is not None and link.in_doubt and pushed is not None:  # a push died half-way: all again
                pending = (link.pending_state or {}).get("fields")
                pushed = {**pushed, "fields": unconfirmed(pushed.get("fields"), pending), "base_price": None}
            if pushed is not None and pushed.get("api") != desired.api:
                pushed = None  # the mapping switched APIs: push every field once in the new API's words
            if desired.api == domain.CATALOG:
                assert iblock is not None
                find = _Finder(uow, self._lookup(domain.CATALOG, iblock), "id", key, entity_id,
                               settings.legacy_key_source in (None, event.source))
                find.matching(self._matcher, event, iblock)
                writer = _Catalog(self._b24, iblock, entity_id, desired, find)
                writer.create_only = self._mapping.create_only("product")
            else:
                self._warn_purchase_price(desired, entity_id)
                find = _Finder(uow, self._lookup(domain.LEGACY, None), "ID", key, entity_id,
                               settings.legacy_key_source in (None, event.source))
                find.matching(self._matcher, event, None)
                writer = _Legacy(self._b24, settings.iblock_id, entity_id, desired, find)
                writer.create_only = self._mapping.create_only("product")
            if link is None:  # first contact: the key lease the finder takes, taken in the first transaction
                await uow.lock_key(f"product/{domain.unsourced_key(entity_id).xml}")
                await self._matcher.preread(uow, ONEC_PRODUCT, [entity_id])  # an operator's decision, if any
            await uow.begin_push(link, {"fields": {**((pushed or {}).get("fields") or {}), **state["fields"]}})
            product_id = await writer.apply(link, pushed)
            await uow.save_link(ONEC_PRODUCT, entity_id, B24_PRODUCT, product_id,
                                version=event.version, pushed_state=state)
            await uow.mark_processed(event.event_id)
            return Outcome.APPLIED

    async def _catalog_iblock(self) -> int:
        """The product catalog's iblock: from the mapping, else found once per process."""
        if self._iblock is not None:
            return self._iblock
        async with self._iblock_lock:
            if self._iblock is None:
                catalogs = items_of(await self._b24.call("catalog.catalog.list", {}), "catalog.catalog.list")
                iblock = domain.product_iblock(catalogs)
                if iblock is None:
                    raise PermanentError(
                        "catalog.catalog.list shows no single product catalog (an entry without "
                        "productIblockId); set products.iblock_id in the mapping file, then replay the dead letters")
                log.info("product catalog found", extra={"action": "product.catalog", "iblock_id": iblock})
                self._iblock = iblock
        return self._iblock

    def _warn_purchase_price(self, desired: domain.ProductState, entity_id: str) -> None:
        if desired.has_purchase_price and not self._warned_no_purchase_price:
            self._warned_no_purchase_price = True
            log.warning("the legacy crm.product API has no purchase price; purchase prices are not "
                        "transferred (set products.api: catalog to transfer them)",
                        extra={"action": "product.no_purchase_price", "entity_id": entity_id})


class _Finder:
    """An unlinked product's look-up: by its key, else (a product keyed before keys carried the source, or
    by 1C's own exchange) by the key without the source, unless another source links that product.

    The first contact holds a lock on the 1C id across sources, so two bases sending one product id at
    once cannot both take over the same old product, nor both create one shared-catalogue product."""

    def __init__(self, uow: Any, lookup: KeyLookup, id_field: str, key: domain.ProductKey, entity_id: str,
                 may_take_unsourced: bool) -> None:
        self._uow = uow
        self._lookup = lookup
        self._id_field = id_field
        self._key = key
        self._unsourced = domain.unsourced_key(entity_id)
        self._may_take_unsourced = may_take_unsourced
        self._entity_id = entity_id
        self.matcher: Matcher | None = None
        self._event: Any = None
        self._iblock: int | None = None
        self.adopted: set[int] = set()  # a product a manager typed, found by matching (bridge/sync/matching.py)

    def matching(self, matcher: Matcher, event: ProductEvent, iblock: int | None) -> None:
        self.matcher, self._event, self._iblock = matcher, event, iblock

    async def __call__(self) -> list[dict[str, Any]]:
        found = await self._by_key()
        if found or self.matcher is None:
            return found
        payload = self._event.payload
        match = await self.matcher.product(
            source=self._event.source, entity_id=self._entity_id, catalog=self._id_field == "id",
            iblock=self._iblock, name=str(getattr(payload, "name", "") or ""),
            article=getattr(payload, "article", None), key_lookup=self._lookup)
        if match is None:
            return []
        self.adopted.add(match.id)
        return [{self._id_field: match.id}]

    async def _by_key(self) -> list[dict[str, Any]]:
        await self._uow.lock_key(f"product/{self._unsourced.xml}")
        found = await self._lookup.find(self._key.xml)
        if found or self._key.shared or not self._may_take_unsourced:
            return found
        old = await self._lookup.find(self._unsourced.xml)
        taken = await self._uow.linked_elsewhere(B24_PRODUCT, [int(r[self._id_field]) for r in old])
        return [r for r in old if int(r[self._id_field]) not in taken]


def _owned(desired: dict[str, str], pushed: dict[str, str] | None, create_only: frozenset[str]) -> dict[str, str]:
    """What to send to a product that exists: the fields 1C owns (all when 1C changed one, so a manager's
    edit is put back), never a create-only one, and never an emptied price (``product_changes``)."""
    changes = owned_changes(desired, pushed, create_only)
    return {k: v for k, v in changes.items() if v != "" or k not in domain.NEVER_CLEARED}


class _Catalog:
    """catalog.product.* and catalog.price.* for one event."""

    create_only: frozenset[str] = frozenset()

    def __init__(self, b24: B24, iblock: int, entity_id: str, desired: domain.ProductState, find: _Finder) -> None:
        self.b24 = b24
        self.iblock = iblock
        self.entity_id = entity_id
        self.desired = desired
        self.find = find

    async def apply(self, link: Link | None, pushed: dict[str, Any] | None) -> int:
        async def refresh(product_id: int) -> None:
            last = pushed or {}
            await self._update(product_id, _owned(self.desired.fields, last.get("fields"), self.create_only),
                               last.get("fields"))
            await self._base_price(product_id, last.get("base_price"), fresh=not last)

        async def gone(exc: B24Error, product_id: int) -> bool:
            # the catalog answers a missing product with a validation error too: ask whether it is there
            return isinstance(exc, (B24NotFound, B24ValidationError)) and not await self._exists(product_id)

        async def find() -> int | None:
            found = await self.find()
            return int(found[0]["id"]) if found else None

        async def update(product_id: int) -> None:
            fields = _owned(self.desired.fields, None, self.create_only)  # 1C is the master at first contact
            if product_id in self.find.adopted:  # a manager's product: our key, and what it has empty
                fields = await self.find.matcher.adoption_of_product(
                    "catalog.product.get", product_id, fields, catalog=True)
            await self._update(product_id, fields, None)
            await self._base_price(product_id, None, fresh=True)

        product = await find_or_create(
            b24_type=B24_PRODUCT, entity_id=self.entity_id, linked=link.b24_id if link is not None else None,
            refresh=refresh, find=find, update=update, create=self._create, gone=gone)
        return product.id

    async def _create(self) -> int:
        add = ("catalog.product.add", {"fields": {"iblockId": self.iblock, **self.desired.fields}})
        base = self.desired.base_price
        if base is None:
            created = await self.b24.call(*add)
            return int(created["element"]["id"])
        # a new product has no prices: its base price goes in the same request, referring to the new id;
        # if only the add succeeds, the retry finds the product by its key (xmlId) and sets the price then
        prices = domain.price_rows([], base)
        created, _ = await self.b24.call_chain([add, ("catalog.price.modify", {"fields": {"product": {
            "id": chain_ref(0, "element", "id"), "prices": prices}}})])
        return int(created["element"]["id"])

    async def _update(self, product_id: int, changes: dict[str, str], pushed: dict[str, str] | None) -> None:
        if changes:
            await owned.update(self.b24, entity="product", b24_id=product_id, entity_id=self.entity_id,
                               fields=changes, pushed=pushed, method="catalog.product.update",
                               read=("catalog.product.list", {"select": ["id", "iblockId", *sorted(changes)],
                                                              "filter": {"iblockId": self.iblock, "id": product_id}}))

    async def _exists(self, product_id: int) -> bool:
        found = items_of(await self.b24.call("catalog.product.list", {
            "select": ["id", "iblockId"], "filter": {"iblockId": self.iblock, "id": product_id}}),
            "catalog.product.list")
        return bool(found)

    async def _base_price(self, product_id: int, pushed: dict[str, str] | None, *, fresh: bool) -> None:
        """Set the base price, keeping every other price of the product (price.modify replaces them all);
        skipped when 1C's price did not change since the last push."""
        base = self.desired.base_price
        if base is None or (not fresh and pushed == base):
            return
        current = items_of(await self.b24.call("catalog.price.list", {
            "select": PRICE_SELECT, "filter": {"productId": product_id}, "order": {"id": "ASC"}}),
            "catalog.price.list")
        rows = domain.price_rows(current, base)
        if rows is not None:
            await self.b24.call("catalog.price.modify", {
                "fields": {"product": {"id": product_id, "prices": rows}}})


class _Legacy:
    """crm.product.* for one event (PRICE/CURRENCY_ID are the portal's base price)."""

    create_only: frozenset[str] = frozenset()

    def __init__(self, b24: B24, catalog_id: int | None, entity_id: str,
                 desired: domain.ProductState, find: _Finder) -> None:
        self.b24 = b24
        self.catalog_id = catalog_id
        self.entity_id = entity_id
        self.desired = desired
        self.find = find

    async def apply(self, link: Link | None, pushed: dict[str, Any] | None) -> int:
        async def refresh(product_id: int) -> None:
            last = (pushed or {}).get("fields")
            changes = _owned(self.desired.fields, last, self.create_only)
            if changes:
                await owned.update(self.b24, entity="product", b24_id=product_id, entity_id=self.entity_id,
                                   fields=changes, pushed=last, method="crm.product.update",
                                   read=("crm.product.list", {"filter": {"ID": product_id},
                                                              "select": ["ID", *sorted(changes)]}))

        async def find() -> int | None:
            found = await self.find()
            return int(found[0]["ID"]) if found else None

        async def update(product_id: int) -> None:
            fields = _owned(self.desired.fields, None, self.create_only)
            if product_id in self.find.adopted:  # a manager's product: our key, and what it has empty
                fields = await self.find.matcher.adoption_of_product(
                    "crm.product.get", product_id, fields, catalog=False)
            if fields:
                await self.b24.call("crm.product.update", {"id": product_id, "fields": fields})

        async def create() -> int:
            fields = dict(self.desired.fields)
            if self.catalog_id is not None:
                fields["CATALOG_ID"] = str(self.catalog_id)
            return int(await self.b24.call("crm.product.add", {"fields": fields}))

        product = await find_or_create(
            b24_type=B24_PRODUCT, entity_id=self.entity_id, linked=link.b24_id if link is not None else None,
            refresh=refresh, find=find, update=update, create=create)
        return product.id
