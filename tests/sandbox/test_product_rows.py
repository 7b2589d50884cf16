"""crm.deal.productrows.set recalculates rows and the deal as the portal does (CCrmProductRow::preparePrices,
CCrmSaleHelper::Calculate, CCrmDeal::SynchronizeProductRows); figures worked out by hand from those formulas."""

from __future__ import annotations

import pytest

PRICES = ("PRICE", "PRICE_EXCLUSIVE", "PRICE_NETTO", "PRICE_BRUTTO", "DISCOUNT_TYPE_ID", "DISCOUNT_RATE",
          "DISCOUNT_SUM", "TAX_RATE", "TAX_INCLUDED", "QUANTITY")


def rows_and_deal(portal, rows, **deal_fields):
    deal_id = portal.result("crm.deal.add", fields=deal_fields)
    assert portal.result("crm.deal.productrows.set", id=deal_id, rows=rows) is True
    got = portal.result("crm.deal.productrows.get", id=deal_id)
    deal = portal.result("crm.deal.get", id=deal_id)
    return [{k: r[k] for k in PRICES} for r in got], deal


def test_the_docs_example_money_and_percent_discounts_tax_on_top(portal):
    """The two rows of the crm.deal.productrows.set example (TAX_INCLUDED left out, so N)."""
    rows, deal = rows_and_deal(portal, [
        {"PRODUCT_NAME": "A", "PRICE": 1000, "QUANTITY": 10, "DISCOUNT_TYPE_ID": 1, "DISCOUNT_SUM": 100,
         "TAX_RATE": 13, "MEASURE_CODE": 796, "MEASURE_NAME": "pcs", "SORT": 10},
        {"PRODUCT_NAME": "Product #2", "PRICE": 500, "QUANTITY": 5, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10,
         "TAX_RATE": 10, "MEASURE_CODE": 166, "MEASURE_NAME": "kg", "SORT": 20}])
    # 1000 / 1.13 = 884.96 before tax; 100 off 984.96 is 10.15 %; 984.96 · 1.13 = 1113.00
    assert rows[0] == {"PRICE": 1000, "PRICE_EXCLUSIVE": 884.96, "PRICE_NETTO": 984.96, "PRICE_BRUTTO": 1113,
                       "DISCOUNT_TYPE_ID": 1, "DISCOUNT_RATE": 10.15, "DISCOUNT_SUM": 100, "TAX_RATE": 13,
                       "TAX_INCLUDED": "N", "QUANTITY": 10}
    # 500 / 1.1 = 454.55; 10 % off 505.06 (= 454.55 · 10/90 = 50.51 off); 505.06 · 1.1 = 555.57
    assert rows[1] == {"PRICE": 500, "PRICE_EXCLUSIVE": 454.55, "PRICE_NETTO": 505.06, "PRICE_BRUTTO": 555.57,
                       "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 10, "DISCOUNT_SUM": 50.51, "TAX_RATE": 10,
                       "TAX_INCLUDED": "N", "QUANTITY": 5}
    # tax on top of the exclusive prices: 8849.60 + 1150.448 + 2272.75 + 227.275 = 12500.073
    assert (deal["OPPORTUNITY"], deal["TAX_VALUE"]) == ("12500.07", "1377.72")


def test_tax_included_rows_sum_their_prices_and_the_tax_inside(portal):
    rows, deal = rows_and_deal(portal, [
        {"PRODUCT_NAME": "Кабель", "PRICE": "99.99", "QUANTITY": 3, "TAX_RATE": 20, "TAX_INCLUDED": "Y"},
        {"PRODUCT_NAME": "Без НДС", "PRICE": "10.50", "QUANTITY": "2.5", "TAX_INCLUDED": "Y"}])
    # 99.99 / 1.2 = 83.325 → 83.33, and back: 83.33 · 1.2 = 99.996 → a BRUTTO of 100, above the PRICE
    assert rows[0]["PRICE_EXCLUSIVE"] == 83.33 and rows[0]["PRICE_BRUTTO"] == 100
    assert rows[1]["TAX_RATE"] is None and rows[1]["PRICE_EXCLUSIVE"] == 10.5
    # 299.97 + 26.25; tax 299.97 · 20/120 = 49.995 → 50.00 (PHP rounds half away from zero)
    assert (deal["OPPORTUNITY"], deal["TAX_VALUE"]) == ("326.22", "50.00")


def test_prices_are_rounded_to_kopecks_and_quantities_to_four_places(portal):
    rows, deal = rows_and_deal(portal, [
        {"PRODUCT_NAME": "Гвоздь", "PRICE": "10.005", "QUANTITY": "0.33335", "TAX_INCLUDED": "Y"}])
    assert rows[0]["PRICE"] == 10.01 and rows[0]["QUANTITY"] == 0.3334
    assert deal["OPPORTUNITY"] == "3.34"  # 10.01 · 0.3334 = 3.337334


def test_a_discount_type_left_out_is_no_discount_whatever_the_rate(portal):
    rows, _ = rows_and_deal(portal, [{"PRODUCT_NAME": "Х", "PRICE": 90, "DISCOUNT_RATE": 10}])
    assert (rows[0]["DISCOUNT_TYPE_ID"], rows[0]["DISCOUNT_RATE"], rows[0]["DISCOUNT_SUM"]) == (2, 0, 0)
    assert rows[0]["PRICE_NETTO"] == 90


def test_a_full_discount_keeps_the_given_sum(portal):
    rows, deal = rows_and_deal(portal, [
        {"PRODUCT_NAME": "Подарок", "PRICE": 0, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 100, "DISCOUNT_SUM": 50,
         "TAX_RATE": 20, "TAX_INCLUDED": "Y"}])
    assert (rows[0]["PRICE"], rows[0]["PRICE_NETTO"], rows[0]["PRICE_BRUTTO"], rows[0]["DISCOUNT_SUM"]) == (0, 50, 60, 50)
    assert deal["OPPORTUNITY"] == "0.00"


@pytest.mark.parametrize(("row", "text"), [
    ({"PRICE": 1, "DISCOUNT_TYPE_ID": 2},
     "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined.<br>"),
    ({"PRICE": 0, "DISCOUNT_TYPE_ID": 2, "DISCOUNT_RATE": 100, "DISCOUNT_SUM": 0},
     ("Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined and "
      "Discount Rate (DISCOUNT_RATE) is 100%<br>")),
    ({"PRICE": 1, "DISCOUNT_TYPE_ID": 1},
     "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type (DISCOUNT_TYPE_ID) is defined.<br>"),
])
def test_discount_rules_answer_the_portals_words(portal, row, text):
    deal_id = portal.result("crm.deal.add", fields={})
    assert portal.error("crm.deal.productrows.set", id=deal_id, rows=[row]) == (
        400, {"error": "ERROR_CORE", "error_description": text})


def test_a_manual_opportunity_stays_while_the_tax_follows_the_rows(portal):
    _, deal = rows_and_deal(portal, [{"PRODUCT_NAME": "Х", "PRICE": 120, "TAX_RATE": 20, "TAX_INCLUDED": "Y"}],
                               OPPORTUNITY=5000, IS_MANUAL_OPPORTUNITY="Y")
    assert (deal["OPPORTUNITY"], deal["TAX_VALUE"]) == ("5000.00", "20.00")


def test_no_rows_on_a_deal_without_rows_leave_its_amount_alone(portal):
    _, deal = rows_and_deal(portal, [], OPPORTUNITY=700)
    assert deal["OPPORTUNITY"] == "700.00"
    portal.result("crm.deal.productrows.set", id=int(deal["ID"]), rows=[{"PRODUCT_NAME": "Х", "PRICE": 5}])
    assert portal.result("crm.deal.get", id=int(deal["ID"]))["OPPORTUNITY"] == "5.00"
    portal.result("crm.deal.productrows.set", id=int(deal["ID"]), rows=[])
    assert portal.result("crm.deal.get", id=int(deal["ID"]))["OPPORTUNITY"] == "0.00"  # rows removed: synced


@pytest.mark.parametrize("spelling", ["rows", "ROWS", "Rows", "arRows"])
def test_rows_are_found_in_every_legacy_spelling(portal, spelling):
    """``CCrmRestHelper::resolveArrayParam``: a client writing ``Rows`` sets its rows, it does not wipe the deal."""
    deal_id = portal.result("crm.deal.add", fields={"TITLE": "Ромашка"})
    assert portal.result("crm.deal.productrows.set", id=deal_id, **{spelling: [{"PRODUCT_NAME": "Х", "PRICE": 7}]})
    assert [r["PRODUCT_NAME"] for r in portal.result("crm.deal.productrows.get", id=deal_id)] == ["Х"]


@pytest.mark.parametrize("rows", ["Х", 5])
def test_rows_that_are_not_an_array_are_refused_and_nothing_changes(portal, rows):
    deal_id = portal.result("crm.deal.add", fields={"TITLE": "Ромашка"})
    portal.result("crm.deal.productrows.set", id=deal_id, rows=[{"PRODUCT_NAME": "Х", "PRICE": 7}])
    assert portal.error("crm.deal.productrows.set", id=deal_id, rows=rows) == (
        400, {"error": "", "error_description": "The parameter rows must be array."})
    assert len(portal.result("crm.deal.productrows.get", id=deal_id)) == 1


def test_rows_left_out_clear_the_deal_as_on_the_portal(portal):
    """The portal defaults a missing ``rows`` to ``[]`` (``resolveArrayParam($arParams, 'rows')``, default
    ``array()``), so a client that forgets it loses the deal's rows; the sandbox must show that, not hide it."""
    deal_id = portal.result("crm.deal.add", fields={"TITLE": "Ромашка"})
    portal.result("crm.deal.productrows.set", id=deal_id, rows=[{"PRODUCT_NAME": "Х", "PRICE": 7}])
    assert portal.result("crm.deal.productrows.set", id=deal_id, rows=None) is True
    assert portal.result("crm.deal.productrows.get", id=deal_id) == []


@pytest.mark.parametrize("method", ["crm.deal.productrows.set", "crm.deal.productrows.get"])
@pytest.mark.parametrize("bad_id", [0, -3, "abc"])
def test_a_bad_deal_id_gets_the_product_rows_own_words(portal, method, bad_id):
    """``CCrmDealRestProxy::getProductRows``/``setProductRows`` say it their way, not the CRUD's "ID is not
    defined or invalid." (EN ``crm-deal-productrows-set.md``, its error table)."""
    assert portal.error(method, id=bad_id, rows=[]) == (
        400, {"error": "", "error_description": "The parameter id is invalid or not defined."})
