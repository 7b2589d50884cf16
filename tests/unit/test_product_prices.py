"""The base sale price is set without losing anyone else's price, and the product catalog is found among
the portal's catalogs (pure, no I/O)."""

from bridge.domain.product import price_rows, product_iblock

BASE = {"catalogGroupId": "1", "price": "180", "currency": "RUB"}


def row(price_id, group, price, currency="RUB", **extra):
    """A catalog.price.list row as the portal answers it (typed camelCase values)."""
    return {"id": price_id, "productId": 7, "catalogGroupId": group, "price": price, "currency": currency,
            "quantityFrom": None, "quantityTo": None, "extraId": None, "timestampX": "2026-11-27T10:15:00+03:00",
            **extra}


def test_a_product_without_prices_gets_the_base_price_added():
    assert price_rows([], BASE) == [{"catalogGroupId": 1, "price": "180", "currency": "RUB"}]


def test_a_changed_base_price_is_updated_in_place_and_every_other_price_is_sent_back_unchanged():
    current = [row(11, 1, 150), row(12, 2, 210.5, "USD")]
    assert price_rows(current, BASE) == [
        {"id": 11, "catalogGroupId": 1, "price": "180", "currency": "RUB"},
        {"id": 12, "catalogGroupId": 2, "price": 210.5, "currency": "USD"},
    ]


def test_a_base_price_already_equal_to_1c_needs_no_call_whatever_its_precision():
    assert price_rows([row(11, 1, 180), row(12, 2, 99)], BASE) is None
    assert price_rows([row(11, 1, "180.00")], BASE) is None


def test_a_base_price_the_portal_rounded_to_kopecks_is_1cs_and_needs_no_call():
    """b_catalog_price.PRICE is DECIMAL(18,2): 1C's 0.0725 reads back 0.07; pushing again would change nothing."""
    fine = {**BASE, "price": "0.0725"}
    assert price_rows([row(11, 1, 0.07)], fine) is None
    assert price_rows([row(11, 1, 0.08)], fine) == [{"id": 11, "catalogGroupId": 1, "price": "0.0725",
                                                     "currency": "RUB"}]


def test_a_currency_change_alone_is_a_change():
    assert price_rows([row(11, 1, 180, "USD")], BASE) == [{"id": 11, "catalogGroupId": 1, "price": "180",
                                                          "currency": "RUB"}]


def test_only_another_type_present_means_the_base_price_is_added_next_to_it():
    assert price_rows([row(12, 2, 99)], BASE) == [
        {"id": 12, "catalogGroupId": 2, "price": 99, "currency": "RUB"},
        {"catalogGroupId": 1, "price": "180", "currency": "RUB"},
    ]


def test_quantity_ranges_of_the_base_type_are_kept_and_not_taken_for_the_base_price():
    ranged = row(13, 1, 160, quantityFrom=10, quantityTo=None)
    rows = price_rows([ranged, row(11, 1, 150)], BASE)
    assert rows == [
        {"id": 13, "catalogGroupId": 1, "price": 160, "currency": "RUB", "quantityFrom": 10},
        {"id": 11, "catalogGroupId": 1, "price": "180", "currency": "RUB"},
    ]


def test_the_base_price_type_comes_from_the_mapping():
    base = {**BASE, "catalogGroupId": "3"}
    assert price_rows([row(11, 1, 150)], base) == [
        {"id": 11, "catalogGroupId": 1, "price": 150, "currency": "RUB"},
        {"catalogGroupId": 3, "price": "180", "currency": "RUB"},
    ]


CRM = {"id": 25, "iblockId": 25, "iblockTypeId": "CRM_PRODUCT_CATALOG", "productIblockId": None}
OFFERS = {"id": 27, "iblockId": 27, "iblockTypeId": "CRM_PRODUCT_CATALOG", "productIblockId": 25,
          "skuPropertyId": 113}


def test_the_product_catalog_is_the_entry_without_product_iblock_id_not_the_offers_catalog():
    assert product_iblock([OFFERS, CRM]) == 25


def test_an_entry_that_omits_product_iblock_id_counts_as_a_product_catalog():
    assert product_iblock([{"id": 25, "iblockId": 25}]) == 25


def test_with_several_product_catalogs_the_crm_catalog_wins():
    shop = {"id": 2, "iblockId": 2, "iblockTypeId": "catalog", "productIblockId": None}
    assert product_iblock([shop, CRM, OFFERS]) == 25


def test_no_or_an_ambiguous_product_catalog_gives_no_answer():
    assert product_iblock([]) is None
    assert product_iblock([OFFERS]) is None
    assert product_iblock([{"iblockId": 2, "iblockTypeId": "a"}, {"iblockId": 3, "iblockTypeId": "b"}]) is None
