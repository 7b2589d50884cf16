"""A 1C product becomes a Bitrix24 product with its sale (base) and purchase price — exactly once, with
only what 1C changed sent, whatever is repeated, restarted or redelivered on the way."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bridge import db
from bridge.domain.product import product_key
from bridge.mapping import default_text
from bridge.sql import Q
from tests.contract.samples import PAYLOADS, PRODUCT_ID
from tests.e2e.conftest import running_stack
from tests.helpers import wait_for

SOURCE = "ut103-main"
KEY = product_key(SOURCE, PRODUCT_ID).xml  # xmlId and symbolic code: 1c-<source>-<1C id>


def product(version: int = 1, entity_id: str = PRODUCT_ID, **payload) -> dict:
    """A product.upserted event of the contract sample (Гвоздь строительный 100 мм, 180 ₽, bought at 121.5 ₽)."""
    return {"event_id": str(uuid.uuid4()), "event_type": "product.upserted", "source": SOURCE,
            "entity_id": entity_id, "version": version, "occurred_at": "2026-11-27T10:15:00+03:00",
            "payload": {**copy.deepcopy(PAYLOADS["product"]), **payload}}


def one(items: list[dict]) -> dict:
    assert len(items) == 1, items
    return items[0]


def by_xml_id(state, xml_id: str = KEY) -> dict:
    return one([p for p in state["products"] if p["xmlId"] == xml_id])


def prices_of(state, product_id: int) -> dict[int, dict]:
    """The product's prices by price type (catalogGroupId)."""
    rows = [p for p in state["prices"] if p["productId"] == product_id]
    assert len({r["catalogGroupId"] for r in rows}) == len(rows), rows
    return {r["catalogGroupId"]: r for r in rows}


async def sent(stack, event: dict) -> None:
    """Post one event and wait until the product consumer has handled it."""
    assert (await stack.post(event)).json()["results"][0]["status"] == "accepted"
    await handled(stack, event)


async def rest(stack, method: str, params: dict):
    """A REST call to the portal over HTTP, as anyone else would make it: the reply's ``result``."""
    async with httpx.AsyncClient(timeout=10) as client:
        reply = await client.post(stack.portal.webhook_url + method, json=params)
    reply.raise_for_status()
    return reply.json()["result"]


async def handled(stack, *events: dict) -> None:
    """Wait until the product consumer has recorded these events in its inbox (applied, stale, unchanged)."""
    ids = [uuid.UUID(e["event_id"]) for e in events]
    conn = await db.connect(stack.settings.database_url.get_secret_value())
    try:
        async def probe():
            return all([await conn.fetchval(Q.inbox_seen, "product", event_id) for event_id in ids])
        assert await wait_for(probe, timeout=60, interval=0.2), "not handled in time"
    finally:
        await conn.close()


async def test_a_product_appears_with_name_base_price_and_purchase_price_found_by_its_xml_id(stack):
    await sent(stack, product())
    state = stack.state()
    item = by_xml_id(state)
    assert item["name"] == "Гвоздь строительный 100 мм"
    assert item["iblockId"] == 25  # the catalog found with catalog.catalog.list, not the offers one (27)
    assert item["code"] == KEY and item["active"] == "Y" and item["vatIncluded"] == "Y"
    assert Decimal(item["purchasingPrice"]) == Decimal("121.5") and item["purchasingCurrency"] == "RUB"
    assert "Артикул: ГВ-100" in item["detailText"] and "Единица: кг (ОКЕИ 166)" in item["detailText"]
    base = one(list(prices_of(state, item["id"]).values()))
    assert (base["catalogGroupId"], Decimal(str(base["price"])), base["currency"]) == (1, Decimal(180), "RUB")
    found = await rest(stack, "catalog.product.list", {
        "select": ["id", "iblockId"], "filter": {"iblockId": 25, "xmlId": KEY}})
    assert found == {"products": [{"id": item["id"], "iblockId": 25}]}


async def test_a_price_change_sends_only_the_price_and_keeps_a_managers_name_and_second_price_type(stack):
    await sent(stack, product(version=1))
    product_id = by_xml_id(stack.state())["id"]
    portal = stack.portal.sandbox
    # the sandbox has no catalog.priceType.add: a second price type is seeded as a portal admin would make it
    portal.store.put("price_types", 2, {"id": 2, "base": "N", "name": "Розничная", "sort": 200,
                                        "xmlId": "RETAIL"})
    portal.call("catalog.price.add", {"fields": {"productId": product_id, "catalogGroupId": 2, "price": 249.9,
                                                 "currency": "RUB"}})
    portal.call("catalog.product.update", {"id": product_id, "fields": {"name": "Гвоздь 100 (витрина)"}})
    calls: list[str] = []
    remove = portal.on_call(lambda call: calls.append(call.method))
    try:
        await sent(stack, product(version=2, sale_price={"amount": "195.50", "currency": "RUB",
                                                         "price_type": "Оптовая"}))
    finally:
        remove()
    state = stack.state()
    prices = prices_of(state, product_id)
    assert set(prices) == {1, 2} and prices[1]["price"] == 195.5
    assert (prices[2]["price"], prices[2]["currency"]) == (249.9, "RUB")
    item = by_xml_id(state)
    assert item["name"] == "Гвоздь 100 (витрина)"
    assert Decimal(item["purchasingPrice"]) == Decimal("121.5")
    assert "catalog.product.update" not in calls and "catalog.product.add" not in calls
    assert calls.count("catalog.price.modify") == 1


async def test_a_purchase_price_change_sends_1cs_product_fields_and_leaves_the_prices_alone(stack):
    await sent(stack, product(version=1))
    calls: list[tuple[str, dict]] = []
    remove = stack.portal.sandbox.on_call(lambda call: calls.append((call.method, call.params)))
    try:
        await sent(stack, product(version=2, purchase_price={"amount": "130.00", "currency": "RUB"}))
    finally:
        remove()
    assert Decimal(by_xml_id(stack.state())["purchasingPrice"]) == Decimal(130)
    updates = [params for method, params in calls if method == "catalog.product.update"]
    # every field 1C owns goes with the change (a manager's edit of one is put back, docs/ownership.md)
    assert len(updates) == 1 and Decimal(updates[0]["fields"]["purchasingPrice"]) == Decimal(130)
    assert {"name", "xmlId", "code", "active", "purchasingPrice"} <= set(updates[0]["fields"])
    assert not [m for m, _ in calls if m.startswith("catalog.price.")]


async def test_repeats_equal_and_older_versions_change_nothing(stack):
    newest = product(version=3, name="Гвоздь 100 мм (новый)")
    await stack.post(newest)
    await stack.post(newest)  # the same event again: a duplicate
    await handled(stack, newest)
    same_version = product(version=3, name="Гвоздь (повтор той же версии)",
                           sale_price={"amount": "1.00", "currency": "RUB", "price_type": "Оптовая"})
    older = product(version=2, name="Гвоздь (старый)", deleted=True,
                    sale_price={"amount": "2.00", "currency": "RUB", "price_type": "Оптовая"})
    calls: list[str] = []
    remove = stack.portal.sandbox.on_call(lambda call: calls.append(call.method))
    try:
        await stack.post([same_version, older])
        await handled(stack, same_version, older)
    finally:
        remove()
    assert calls == []  # not even a read: the link's version decides
    state = stack.state()
    item = one(state["products"])
    assert (item["name"], item["active"]) == ("Гвоздь 100 мм (новый)", "Y")
    assert prices_of(state, item["id"])[1]["price"] == 180


async def test_a_newer_version_with_nothing_new_for_bitrix24_sends_nothing(stack):
    await sent(stack, product(version=1))
    calls: list[str] = []
    remove = stack.portal.sandbox.on_call(lambda call: calls.append(call.method))
    try:
        await sent(stack, product(version=2, sale_price={"amount": "180.0000", "currency": "RUB",
                                                         "price_type": "Розничная"}))
    finally:
        remove()
    assert calls == []


async def test_a_product_marked_for_deletion_in_1c_becomes_inactive_and_stays(stack):
    await sent(stack, product(version=1))
    assert by_xml_id(stack.state())["active"] == "Y"
    await sent(stack, product(version=2, deleted=True))
    state = stack.state()
    assert by_xml_id(state)["active"] == "N"
    assert prices_of(state, by_xml_id(state)["id"])[1]["price"] == 180


async def test_a_product_already_in_bitrix24_with_the_1c_id_as_xml_id_is_taken_over_not_duplicated(stack):
    stack.portal.sandbox.call("catalog.product.add", {"fields": {
        "iblockId": 25, "name": "Гвоздь (из старой выгрузки)", "xmlId": PRODUCT_ID}})
    await sent(stack, product())
    state = stack.state()
    assert by_xml_id(state)["name"] == "Гвоздь строительный 100 мм"
    assert prices_of(state, by_xml_id(state)["id"])[1]["price"] == 180
    assert len(state["products"]) == 1


async def test_when_the_price_fails_after_the_product_was_created_the_retry_adds_the_price_not_a_twin(stack):
    """A new product and its base price go in one request; here the portal refuses the price once, after
    the product was made.  The redelivered event must find that product by its xmlId and price it."""
    stack.portal.sandbox.faults.add_error("INTERNAL_SERVER_ERROR", method="catalog.price.modify", count=1, nested=True,
                                          description="price refused once")
    await sent(stack, product())
    state = stack.state()
    item = by_xml_id(state)  # exactly one
    assert prices_of(state, item["id"])[1]["price"] == 180
    stats = stack.portal.sandbox.stats()
    assert stats["per_method"].get("catalog.product.add") == 1
    assert sum(stats["faults"].values()) == 1  # the refusal did happen


async def test_a_product_deleted_by_hand_in_bitrix24_is_made_again_on_the_next_change(stack):
    await sent(stack, product(version=1))
    old_id = by_xml_id(stack.state())["id"]
    portal = stack.portal.sandbox
    with portal._lock:  # the sandbox has no catalog.product.delete: remove the row as a manager would
        portal.store.delete("products", old_id)
        for price in [p for p in portal.store.rows("prices") if p["productId"] == old_id]:
            portal.store.delete("prices", price["id"])
    await sent(stack, product(version=2, name="Гвоздь 100 мм"))
    state = stack.state()
    new = by_xml_id(state)
    assert new["id"] != old_id and new["name"] == "Гвоздь 100 мм"
    assert prices_of(state, new["id"])[1]["price"] == 180


# --- the legacy crm.product API, chosen by the mapping file ------------------------------------------------

@pytest.fixture
async def legacy_stack(db_url, amqp_url, tmp_path: Path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(default_text().replace("api: catalog ", "api: legacy  "), encoding="utf-8")
    async with running_stack(db_url, amqp_url, mapping_file=mapping) as s:
        assert s.settings.mapping_file == mapping
        yield s


async def test_in_legacy_mode_the_product_is_written_with_crm_product_and_has_its_base_price(legacy_stack):
    calls: list[str] = []
    remove = legacy_stack.portal.sandbox.on_call(lambda call: calls.append(call.method))
    try:
        await sent(legacy_stack, product(version=1))
        await sent(legacy_stack, product(version=2, sale_price={"amount": "199.00", "currency": "RUB",
                                                                "price_type": "Оптовая"}))
    finally:
        remove()
    legacy = one(await rest(legacy_stack, "crm.product.list", {
        "filter": {"XML_ID": KEY}, "select": ["ID", "NAME", "PRICE", "CURRENCY_ID", "CODE", "ACTIVE"]}))
    assert legacy["NAME"] == "Гвоздь строительный 100 мм"
    assert (legacy["PRICE"], legacy["CURRENCY_ID"], legacy["ACTIVE"]) == ("199.00", "RUB", "Y")
    assert legacy["CODE"] == KEY
    assert by_xml_id(legacy_stack.state())["purchasingPrice"] is None  # the legacy API has no purchase price
    assert "crm.product.add" in calls and not [m for m in calls if m.startswith("catalog.")]


# --- crashes -----------------------------------------------------------------------------------------------

async def _async(value):
    return value


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", ["catalog.product.add", "catalog.price.modify"])
async def test_a_consumer_killed_right_after_bitrix24_acted_makes_no_duplicate_product(bare_stack, kill_after):
    consumer = bare_stack.spawn("consume", BRIDGE_CONSUMER_ENTITIES="product")
    killed: list[str] = []

    def kill_once(call):
        if call.method == kill_after and call.ok and not killed:
            killed.append(call.method)
            os.kill(consumer.pid, signal.SIGKILL)  # Bitrix24 has done it; the bridge never hears back

    remove = bare_stack.portal.sandbox.on_call(kill_once)
    event = product()
    try:
        await bare_stack.post(event)
        reached = await wait_for(lambda: _async(bool(killed)), timeout=60)
        assert reached, "the consumer never reached " + kill_after
        consumer.wait(timeout=10)
    finally:
        remove()
    bare_stack.spawn("consume", BRIDGE_CONSUMER_ENTITIES="product")  # RabbitMQ redelivers the unacked event

    def done(state) -> bool:
        item = by_xml_id(state)
        return prices_of(state, item["id"])[1]["price"] == 180 and item["purchasingPrice"] is not None

    await handled(bare_stack, event)  # applied this time, not dead-lettered
    assert done(bare_stack.state())
    await asyncio.sleep(1.5)  # give a straggling duplicate the chance to show up
    state = bare_stack.state()
    assert len(state["products"]) == 1 and len(state["prices"]) == 1
