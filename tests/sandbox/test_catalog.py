"""catalog.* envelopes and typed values, prices (modify replaces all), legacy crm.product.*, product rows."""

from __future__ import annotations

import pytest


@pytest.fixture
def product(portal):
    element = portal.result("catalog.product.add", fields={"iblockId": 25, "name": "Гвоздь 100 мм", "xmlId": "nom-1",
                                                           "purchasingPrice": 1000, "purchasingCurrency": "RUB"})
    return element["element"]


def test_catalog_list_names_the_product_and_offer_iblocks(portal):
    body = portal.call("catalog.catalog.list").json()
    catalogs = body["result"]["catalogs"]
    assert body["total"] == 2
    offers = next(c for c in catalogs if c["productIblockId"])
    assert offers["productIblockId"] == 25 and {c["iblockId"] for c in catalogs} == {25, 27}


def test_product_add_wraps_the_element_with_typed_camel_case_values(product):
    assert isinstance(product["id"], int) and product["iblockId"] == 25
    assert product["purchasingPrice"] == "1000.000000" and product["xmlId"] == "nom-1"
    assert product["active"] == "Y" and product["name"] == "Гвоздь 100 мм"


def test_product_get_and_update(portal, product):
    updated = portal.result("catalog.product.update", id=product["id"], fields={"name": "Гвоздь 120 мм"})
    assert updated["element"]["name"] == "Гвоздь 120 мм"
    assert portal.result("catalog.product.get", id=product["id"])["product"]["name"] == "Гвоздь 120 мм"


MISSING_PRODUCT = {"error": 0, "error_description": "product does not exist."}


@pytest.mark.parametrize("method, params", [
    ("catalog.product.get", {}),
    ("catalog.product.update", {"fields": {"name": "x"}}),
    ("catalog.product.delete", {}),
])
def test_a_missing_product_and_a_missing_id_answer_as_the_docs_tables_say(portal, method, params):
    """EN catalog-product-get/update/delete.md: no such product → 0 (the tables' code for "The product does
    not exist"; the delete table's "Other errors"); no ``id`` → 100 from the parameter binding; 200040300000
    is "Iblock Not Found", not a missing product."""
    assert portal.error(method, id=555, **params) == (400, MISSING_PRODUCT)
    assert portal.error(method, **params) == (
        400, {"error": 100, "error_description": "Could not find value for parameter {id}"})


def test_update_without_fields_or_in_another_catalog_is_refused_with_the_docs_codes(portal, product):
    assert portal.error("catalog.product.update", id=product["id"]) == (
        400, {"error": 100, "error_description": "Could not find value for parameter {fields}"})
    assert portal.error("catalog.product.update", id=product["id"], fields={"iblockId": 27, "name": "x"}) == (
        400, {"error": 0, "error_description": f"Product - {product['id']} is not exists in catalog - 27"})
    assert portal.result("catalog.product.get", id=product["id"])["product"]["name"] == "Гвоздь 100 мм"


def test_add_to_an_unknown_iblock_answers_iblock_not_found(portal):
    assert portal.error("catalog.product.add", fields={"iblockId": 99, "name": "x"}) == (
        400, {"error": 200040300000, "error_description": "Iblock Not Found"})
    assert portal.error("catalog.product.add") == (
        400, {"error": 100, "error_description": "Could not find value for parameter {fields}"})


def test_product_add_without_required_fields_answers_0(portal):
    """EN catalog-product-add.md: "Required fields are not provided" is code 0 (100 is only a left-out
    ``fields``)."""
    status, body = portal.error("catalog.product.add", fields={"name": "no iblock"})
    assert status == 400 and body["error"] == 0


def test_product_list_needs_id_and_iblock_in_select_and_iblock_in_filter(portal, product):
    """EN catalog-product-list.md: either omission is code 0."""
    assert portal.error("catalog.product.list", select=["name"], filter={"iblockId": 25})[:1] == (400,)
    assert portal.error("catalog.product.list", select=["name"], filter={"iblockId": 25})[1]["error"] == 0
    assert portal.error("catalog.product.list", select=["id", "iblockId"], filter={})[1]["error"] == 0
    body = portal.call("catalog.product.list", select=["id", "iblockId", "xmlId"],
                       filter={"iblockId": 25, "xmlId": "nom-1"}).json()
    assert body["result"] == {"products": [{"id": product["id"], "iblockId": 25, "xmlId": "nom-1"}]}
    assert body["total"] == 1


def test_duplicate_symbolic_code_answers_error_zero(portal):
    portal.result("catalog.product.add", fields={"iblockId": 25, "name": "A", "code": "nail"})
    status, body = portal.error("catalog.product.add", fields={"iblockId": 25, "name": "B", "code": "nail"})
    assert status == 400 and body["error"] == 0


def test_base_price_type_is_id_one(portal):
    types = portal.result("catalog.priceType.list")["priceTypes"]
    assert types[0]["id"] == 1 and types[0]["name"] == "BASE" and types[0]["base"] == "Y"


def test_price_add_and_list(portal, product):
    price = portal.result("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1,
                                                       "price": 1500.5, "currency": "RUB"})["price"]
    assert price["price"] == 1500.5 and isinstance(price["id"], int)
    listed = portal.result("catalog.price.list", filter={"productId": product["id"]})
    assert listed == {"prices": [price]}


def test_a_price_is_kept_in_kopecks_as_the_portals_decimal_column_keeps_it(portal, product):
    """b_catalog_price.PRICE is DECIMAL(18,2): 1C's four places read back rounded (half away from zero),
    whichever method wrote the price."""
    added = portal.result("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1,
                                                       "price": "0.0725", "currency": "RUB"})["price"]
    assert added["price"] == 0.07
    portal.result("catalog.price.update", id=added["id"], fields={"price": "121.505"})
    assert portal.result("catalog.price.list", filter={"productId": product["id"]})["prices"][0]["price"] == 121.51
    legacy_id = portal.result("crm.product.add", fields={"NAME": "Шуруп", "PRICE": "12.3456", "CURRENCY_ID": "RUB"})
    assert portal.result("crm.product.get", id=legacy_id)["PRICE"] == "12.35"


def test_price_modify_replaces_all_prices(portal, product):
    portal.result("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1, "price": 10,
                                               "currency": "RUB"})
    kept = portal.result("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1, "price": 20,
                                                      "currency": "RUB", "quantityFrom": 10})["price"]
    portal.result("catalog.price.modify", fields={"product": {"id": product["id"], "prices": [
        {"id": kept["id"], "catalogGroupId": 1, "price": 25, "currency": "RUB"},
        {"catalogGroupId": 1, "price": 30, "currency": "USD"}]}})
    prices = portal.result("catalog.price.list", filter={"productId": product["id"]})["prices"]
    assert sorted((p["price"], p["currency"]) for p in prices) == [(25, "RUB"), (30, "USD")]
    assert kept["id"] in [p["id"] for p in prices]


def test_price_delete_answers_true_and_the_price_is_gone(portal, product):
    """EN catalog-price-delete.md: ``true``; an unknown price → "Price does not exist"; no ``id`` → 100."""
    price = portal.result("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1,
                                                       "price": 10, "currency": "RUB"})["price"]
    assert portal.result("catalog.price.delete", id=price["id"]) is True
    assert portal.result("catalog.price.list", filter={"productId": product["id"]}) == {"prices": []}
    assert portal.error("catalog.price.delete", id=price["id"]) == (
        400, {"error": "", "error_description": "Price does not exist"})
    assert portal.error("catalog.price.delete") == (
        400, {"error": 100, "error_description": "Could not find value for parameter {id}"})


MISSING_PRICE = {"error": "", "error_description": "Price does not exist"}


@pytest.mark.parametrize("method, params", [
    ("catalog.price.get", {}),
    ("catalog.price.update", {"fields": {"price": 5}}),
])
def test_a_missing_price_and_a_missing_id_answer_as_the_docs_tables_say(portal, method, params):
    """EN catalog-price-get.md / -update.md: no such price → ``""`` (the tables' "-") "Price does not exist",
    HTTP 400; no ``id`` → 100 from the parameter binding.  200040300000 is "Iblock Not Found", not a price."""
    assert portal.error(method, id=555, **params) == (400, MISSING_PRICE)
    assert portal.error(method, **params) == (
        400, {"error": 100, "error_description": "Could not find value for parameter {id}"})


def test_price_update_without_fields_answers_100_and_leaves_the_price(portal, product):
    price = portal.result("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1,
                                                       "price": 10, "currency": "RUB"})["price"]
    assert portal.error("catalog.price.update", id=price["id"]) == (
        400, {"error": 100, "error_description": "Could not find value for parameter {fields}"})
    assert portal.result("catalog.price.get", id=price["id"]) == {"price": price}


def test_price_validation_errors_carry_the_docs_codes(portal, product):
    """EN catalog-price-add.md / -update.md / -modify.md: missing fields → 0 "Required fields: …" (the docs'
    own error example), an unknown price type → 0 "Validate price error. Catalog price group is wrong", no
    ``fields`` → 100 from the parameter binding."""
    assert portal.error("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1}) == (
        400, {"error": 0, "error_description": "Required fields: price, currency"})
    assert portal.error("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 9, "price": 1,
                                                     "currency": "RUB"}) == (
        400, {"error": 0, "error_description": "Validate price error. Catalog price group is wrong"})
    assert portal.error("catalog.price.add") == (
        400, {"error": 100, "error_description": "Could not find value for parameter {fields}"})
    price = portal.result("catalog.price.add", fields={"productId": product["id"], "catalogGroupId": 1,
                                                       "price": 10, "currency": "RUB"})["price"]
    assert portal.error("catalog.price.update", id=price["id"], fields={"catalogGroupId": 9}) == (
        400, {"error": 0, "error_description": "Validate price error. Catalog price group is wrong"})
    assert portal.error("catalog.price.modify", fields={"product": {"prices": []}}) == (
        400, {"error": 0, "error_description": "Required fields: product[id]"})
    assert portal.error("catalog.price.modify") == (
        400, {"error": 100, "error_description": "Could not find value for parameter {fields}"})
    assert portal.result("catalog.price.get", id=price["id"]) == {"price": price}


def test_legacy_crm_product_shares_the_catalog(portal, product):
    legacy_id = portal.result("crm.product.add", fields={"NAME": "Шуруп", "PRICE": 12.5, "CURRENCY_ID": "RUB",
                                                         "XML_ID": "nom-2"})
    assert isinstance(legacy_id, int)
    legacy = portal.result("crm.product.get", id=legacy_id)
    assert legacy["PRICE"] == "12.50" and legacy["CATALOG_ID"] == "25" and legacy["ID"] == str(legacy_id)
    found = portal.result("catalog.product.list", select=["id", "iblockId", "name"],
                          filter={"iblockId": 25, "xmlId": "nom-2"})
    assert found["products"][0]["name"] == "Шуруп"
    assert portal.result("crm.product.list", filter={"XML_ID": "nom-1"}, select=["ID", "NAME"]) == [
        {"ID": str(product["id"]), "NAME": "Гвоздь 100 мм"}]
    assert portal.error("crm.product.get", id=999) == (400, {"error": "", "error_description": "Not found"})


def test_product_rows_set_replaces_all_and_empty_clears(portal, product):
    deal_id = portal.result("crm.deal.add", fields={"TITLE": "Заказ"})
    assert portal.result("crm.deal.productrows.set", id=deal_id, rows=[
        {"PRODUCT_ID": product["id"], "PRICE": 120, "QUANTITY": 2},
        {"PRODUCT_NAME": "Доставка", "PRICE": 500}]) is True
    rows = portal.result("crm.deal.productrows.get", id=deal_id)
    assert [(r["PRODUCT_NAME"], r["QUANTITY"], r["PRICE"]) for r in rows] == [
        ("Гвоздь 100 мм", 2, 120), ("Доставка", 1, 500)]
    assert rows[0]["ID"].isdigit() and rows[0]["OWNER_ID"] == str(deal_id) and rows[0]["OWNER_TYPE"] == "D"
    assert portal.result("crm.deal.get", id=deal_id)["OPPORTUNITY"] == "740.00"
    portal.result("crm.deal.productrows.set", id=deal_id, rows=[{"PRODUCT_NAME": "Только это", "PRICE": 1}])
    assert [r["PRODUCT_NAME"] for r in portal.result("crm.deal.productrows.get", id=deal_id)] == ["Только это"]
    portal.result("crm.deal.productrows.set", id=deal_id, rows=[])
    assert portal.result("crm.deal.productrows.get", id=deal_id) == []
    assert portal.result("crm.deal.get", id=deal_id)["OPPORTUNITY"] == "0.00"


def test_product_row_prices_follow_discount_and_tax(portal):
    deal_id = portal.result("crm.deal.add", fields={})
    portal.result("crm.deal.productrows.set", id=deal_id, rows=[
        {"PRODUCT_NAME": "A", "PRICE": 108, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10, "TAX_RATE": 20,
         "TAX_INCLUDED": "Y"}])
    row = portal.result("crm.deal.productrows.get", id=deal_id)[0]
    assert (row["PRICE"], row["PRICE_EXCLUSIVE"], row["PRICE_NETTO"], row["PRICE_BRUTTO"]) == (108, 90, 100, 120)
    assert row["DISCOUNT_SUM"] == 10 and row["TAX_RATE"] == 20 and row["PRICE_ACCOUNT"] == "108.00"


def test_discount_rules_answer_error_core(portal):
    deal_id = portal.result("crm.deal.add", fields={})
    for row in ({"PRICE": 1, "DISCOUNT_TYPE_ID": 2},
                {"PRICE": 0, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 100},
                {"PRICE": 1, "DISCOUNT_TYPE_ID": 1}):
        status, body = portal.error("crm.deal.productrows.set", id=deal_id, rows=[row])
        assert status == 400 and body["error"] == "ERROR_CORE"


def test_product_rows_of_a_missing_deal(portal):
    assert portal.error("crm.deal.productrows.get", id=404)[0] == 400
