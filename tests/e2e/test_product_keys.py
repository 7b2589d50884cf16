"""Two 1C bases may hold products with the same id: their keys in Bitrix24 carry the source, unless the
mapping says the bases share one catalogue; products keyed before keys carried the source keep their
link and get the new key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.domain.product import product_key, unsourced_key
from bridge.mapping import default_text
from tests.contract.samples import PRODUCT_ID
from tests.e2e.conftest import running_stack
from tests.e2e.test_counterparty import full_company
from tests.e2e.test_products import handled, product, sent
from tests.helpers import wait_for

MAIN, BRANCH = "ut103-main", "ut103-branch"


def from_source(source: str, **kwargs) -> dict:
    return {**product(**kwargs), "source": source}


async def product_links(pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT source, b24_id FROM entity_links WHERE onec_type = 'product' AND onec_id = $1",
                            PRODUCT_ID)
    return {r["source"]: r["b24_id"] for r in rows}


async def no_dead_letters(pool) -> None:
    await asyncio.sleep(1)  # a dead letter reaches the table within milliseconds of its failure
    assert await pool.fetch("SELECT queue, reason, error FROM dead_letters") == []


async def test_two_bases_with_one_product_id_get_two_products_and_no_dead_letter(stack, db_pool):
    main, branch = from_source(MAIN, name="Гвоздь (центр)"), from_source(BRANCH, name="Гвоздь (филиал)")
    assert all(r["status"] == "accepted" for r in (await stack.post([main, branch])).json()["results"])
    await handled(stack, main, branch)  # both at once: the worst case for a shared key

    await no_dead_letters(db_pool)
    products = {p["xmlId"]: p for p in stack.state()["products"]}
    assert set(products) == {product_key(MAIN, PRODUCT_ID).xml, product_key(BRANCH, PRODUCT_ID).xml}
    assert products[product_key(MAIN, PRODUCT_ID).xml]["name"] == "Гвоздь (центр)"
    assert products[product_key(BRANCH, PRODUCT_ID).xml]["name"] == "Гвоздь (филиал)"
    links = await product_links(db_pool)  # what the deal consumer reads to fill each base's product rows
    assert links == {MAIN: int(products[product_key(MAIN, PRODUCT_ID).xml]["id"]),
                     BRANCH: int(products[product_key(BRANCH, PRODUCT_ID).xml]["id"])}

    await sent(stack, from_source(MAIN, version=2, name="Гвоздь (центр) 2"))  # a newer version of one base
    products = {p["xmlId"]: p["name"] for p in stack.state()["products"]}
    assert products[product_key(BRANCH, PRODUCT_ID).xml] == "Гвоздь (филиал)"  # the other base's stays


@pytest.fixture
async def shared_stack(db_url, amqp_url, tmp_path: Path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(default_text().replace("shared_catalogue: false", "shared_catalogue: true "),
                       encoding="utf-8")
    async with running_stack(db_url, amqp_url, mapping_file=mapping) as s:
        yield s


async def test_bases_that_share_a_catalogue_get_one_product_for_one_id(shared_stack, db_pool):
    main, branch = from_source(MAIN), from_source(BRANCH)
    assert all(r["status"] == "accepted" for r in (await shared_stack.post([main, branch])).json()["results"])
    await handled(shared_stack, main, branch)

    await no_dead_letters(db_pool)
    (item,) = shared_stack.state()["products"]
    assert (item["xmlId"], item["code"]) == (unsourced_key(PRODUCT_ID).xml, unsourced_key(PRODUCT_ID).code)
    assert await product_links(db_pool) == {MAIN: int(item["id"]), BRANCH: int(item["id"])}


async def _old_product(stack, db_pool, source: str = MAIN) -> int:
    """A product as a version before keys carried the source left it: xmlId = the 1C id, code 1c-<id>, and
    the link with what was pushed then."""
    old = unsourced_key(PRODUCT_ID)
    made = stack.portal.sandbox.call("catalog.product.add", {"fields": {
        "iblockId": 25, "name": "Гвоздь строительный 100 мм", "xmlId": old.xml, "code": old.code}})
    product_id = int(made.result.value["element"]["id"])
    pushed = {"api": "catalog", "fields": {"name": "Гвоздь строительный 100 мм", "xmlId": old.xml, "code": old.code,
                                           "active": "Y"}, "base_price": None}
    await db_pool.execute(
        "INSERT INTO entity_links (source, onec_type, onec_id, b24_type, b24_id, version, pushed_state) "
        "VALUES ($1, 'product', $2, 'product', $3, 1, $4::jsonb)", source, PRODUCT_ID, product_id, pushed)
    return product_id


async def test_a_linked_product_with_the_old_key_keeps_its_link_and_is_rekeyed_on_its_next_push(stack, db_pool):
    product_id = await _old_product(stack, db_pool)
    await sent(stack, from_source(MAIN, version=2))

    (item,) = stack.state()["products"]
    assert int(item["id"]) == product_id
    assert (item["xmlId"], item["code"]) == (product_key(MAIN, PRODUCT_ID).xml, product_key(MAIN, PRODUCT_ID).code)
    assert await product_links(db_pool) == {MAIN: product_id}


async def test_an_old_key_product_another_base_links_is_not_taken_over(stack, db_pool):
    """The branch base's first product with this id must not land on the main base's (old-keyed) product."""
    product_id = await _old_product(stack, db_pool, MAIN)
    await sent(stack, from_source(BRANCH, name="Гвоздь (филиал)"))

    await no_dead_letters(db_pool)
    products = {int(p["id"]): p for p in stack.state()["products"]}
    assert products[product_id]["xmlId"] == unsourced_key(PRODUCT_ID).xml  # untouched until main sends again
    links = await product_links(db_pool)
    assert links[MAIN] == product_id and links[BRANCH] != product_id
    assert products[links[BRANCH]]["xmlId"] == product_key(BRANCH, PRODUCT_ID).xml


@pytest.fixture
async def main_only_stack(db_url, amqp_url, tmp_path: Path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(default_text().replace("legacy_key_source: null", f"legacy_key_source: {MAIN}"),
                       encoding="utf-8")
    async with running_stack(db_url, amqp_url, mapping_file=mapping) as s:
        yield s


async def test_an_unlinked_old_key_product_is_taken_over_only_by_the_base_the_mapping_names(main_only_stack):
    stack = main_only_stack
    old = unsourced_key(PRODUCT_ID)
    made = stack.portal.sandbox.call("catalog.product.add", {"fields": {
        "iblockId": 25, "name": "Гвоздь (из старой выгрузки)", "xmlId": old.xml, "code": old.code}})
    await sent(stack, from_source(BRANCH, name="Гвоздь (филиал)"))
    await sent(stack, from_source(MAIN))

    products = {p["xmlId"]: int(p["id"]) for p in stack.state()["products"]}
    assert products == {product_key(MAIN, PRODUCT_ID).xml: int(made.result.value["element"]["id"]),  # taken over, re-keyed
                        product_key(BRANCH, PRODUCT_ID).xml: products[product_key(BRANCH, PRODUCT_ID).xml]}


@pytest.fixture
async def shared_crm_stack(db_url, amqp_url, tmp_path: Path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(default_text().replace('originator_id: "{source}"', 'originator_id: "1c"'), encoding="utf-8")
    async with running_stack(db_url, amqp_url, mapping_file=mapping) as s:
        yield s


async def test_bases_sharing_companies_sending_one_counterparty_at_once_make_one_company(shared_crm_stack, db_pool):
    """An originator_id without {source} shares companies between bases; their first contact is serialised."""
    main, branch = full_company(), {**full_company(), "source": BRANCH}
    assert all(r["status"] == "accepted" for r in (await shared_crm_stack.post([main, branch])).json()["results"])

    async def both_applied():
        return await db_pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'counterparty'") == 2

    assert await wait_for(both_applied, timeout=60)
    await no_dead_letters(db_pool)
    (company,) = shared_crm_stack.state()["companies"]
    assert (company["ORIGINATOR_ID"], company["ORIGIN_ID"]) == ("1c", main["entity_id"])
