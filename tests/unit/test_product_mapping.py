"""A 1C product maps to the Bitrix24 product fields and base price a sales manager expects (pure, no I/O)."""

import copy
from decimal import Decimal

import pytest

from bridge.domain.product import (
    CATALOG,
    LEGACY,
    amount,
    desired_state,
    onec_id_of_key,
    product_changes,
    product_key,
    symbolic_code,
    unsourced_key,
)
from onec_outbox.contract.product import ProductPayload
from tests.contract.samples import PAYLOADS, PRODUCT_ID


def nail(**overrides):
    """The contract's sample product (Гвоздь строительный 100 мм, 180 ₽, bought at 121.5 ₽), changed."""
    return {**copy.deepcopy(PAYLOADS["product"]), **overrides}


SOURCE = "ut103-main"
KEY = product_key(SOURCE, PRODUCT_ID)


def catalog(payload, base_price_type_id=1):
    return desired_state(payload, key=KEY, api=CATALOG, base_price_type_id=base_price_type_id)


def legacy(payload):
    return desired_state(payload, key=KEY, api=LEGACY)


def test_a_catalog_product_carries_name_xml_id_code_purchase_price_and_is_active():
    fields = catalog(nail()).fields
    assert fields["name"] == "Гвоздь строительный 100 мм"
    assert fields["xmlId"] == fields["code"] == f"1c-{SOURCE}-{PRODUCT_ID}"
    assert fields["active"] == "Y"
    assert (fields["purchasingPrice"], fields["purchasingCurrency"]) == ("121.5", "RUB")
    assert "iblockId" not in fields  # known only once the catalog is looked up


def test_the_sale_price_becomes_the_base_price_type_of_the_mapping():
    assert catalog(nail(), base_price_type_id=3).base_price == {"catalogGroupId": "3", "price": "180",
                                                               "currency": "RUB"}


def test_the_description_shows_full_name_article_1c_code_unit_and_vat_rate_line_by_line():
    fields = catalog(nail()).fields
    assert fields["detailText"].split("\n") == [
        "Гвоздь строительный 4,0×100 мм ГОСТ 4028-63", "Артикул: ГВ-100", "Код 1С: 00000123",
        "Единица: кг (ОКЕИ 166)", "НДС 20%"]
    assert fields["detailTextType"] == "text"


def test_a_full_name_equal_to_the_name_is_not_repeated_and_a_service_says_so():
    text = catalog(nail(full_name="Гвоздь строительный 100 мм", article=None, unit=None, vat_rate="none",
                        is_service=True)).fields["detailText"]
    assert text.split("\n") == ["Код 1С: 00000123", "Без НДС", "Услуга"]


def test_prices_include_vat_unless_the_product_is_not_taxed():
    assert catalog(nail()).fields["vatIncluded"] == "Y"
    assert catalog(nail(vat_rate="none")).fields["vatIncluded"] == "N"
    assert catalog(nail(vat_rate=None)).fields["vatIncluded"] == "N"


def test_a_product_marked_for_deletion_becomes_inactive_not_removed():
    state = catalog(nail(deleted=True))
    assert state.fields["active"] == "N" and state.deleted


def test_without_prices_in_1c_neither_purchase_nor_base_price_is_sent():
    state = catalog(nail(sale_price=None, purchase_price=None))
    assert state.base_price is None
    assert "purchasingPrice" not in state.fields and "purchasingCurrency" not in state.fields
    assert not state.has_purchase_price


def test_the_legacy_api_gets_upper_case_fields_with_the_sale_price_and_no_purchase_price():
    state = legacy(nail())
    assert state.api == LEGACY and state.base_price is None
    keys = ("NAME", "XML_ID", "CODE", "ACTIVE", "VAT_INCLUDED", "PRICE", "CURRENCY_ID")
    assert {k: state.fields[k] for k in keys} == {
        "NAME": "Гвоздь строительный 100 мм", "XML_ID": f"1c-{SOURCE}-{PRODUCT_ID}", "CODE": f"1c-{SOURCE}-{PRODUCT_ID}", "ACTIVE": "Y",
        "VAT_INCLUDED": "Y", "PRICE": "180", "CURRENCY_ID": "RUB"}
    assert state.fields["DESCRIPTION"].startswith("Гвоздь строительный 4,0×100")
    assert not any("purchas" in k.lower() for k in state.fields)
    assert state.has_purchase_price  # so the handler can say it is not transferred


def test_the_validated_contract_payload_maps_like_its_json():
    model = ProductPayload.model_validate(nail())
    assert catalog(model) == catalog(nail())
    assert legacy(model) == legacy(nail())


def test_an_unknown_api_is_refused_by_name():
    with pytest.raises(ValueError, match="'rest'"):
        desired_state(nail(), key=KEY, api="rest")


@pytest.mark.parametrize(("raw", "expected"), [
    ("180.00", "180"), ("180.0000", "180"), (Decimal("121.5000"), "121.5"), ("100", "100"), ("0.00", "0"),
    (1000, "1000"), ("1000.000000", "1000"), (99.9, "99.9")])
def test_prices_compare_equal_whatever_precision_they_are_written_with(raw, expected):
    assert amount(raw) == expected


def test_symbolic_codes_of_products_with_long_similar_names_differ():
    other = "7a2b4c6d-2f4d-11ef-8b1a-00155d012a08"
    assert catalog(nail(name="Гвоздь " * 30)).fields["code"] != desired_state(
        nail(name="Гвоздь " * 30), key=product_key(SOURCE, other)).fields["code"]
    assert symbolic_code(PRODUCT_ID.upper()) == symbolic_code(PRODUCT_ID)


def test_two_1c_bases_with_one_product_id_get_two_keys_unless_they_share_a_catalogue():
    main, branch = product_key("ut103-main", PRODUCT_ID), product_key("ut103-branch", PRODUCT_ID)
    assert main.xml != branch.xml and main.code != branch.code
    shared = {product_key(s, PRODUCT_ID, shared_catalogue=True) for s in ("ut103-main", "ut103-branch")}
    assert shared == {unsourced_key(PRODUCT_ID)}
    assert unsourced_key(PRODUCT_ID).xml == PRODUCT_ID  # what keys were before they carried the source
    assert unsourced_key(PRODUCT_ID).code == "1c-" + PRODUCT_ID


@pytest.mark.parametrize("a, b", [("UT", "ut"), ("ut 1", "ut_1"), ("ut_20", "ut 0"), ("база", "baza")])
def test_sources_that_differ_only_in_case_or_odd_characters_still_get_different_keys(a, b):
    assert product_key(a, PRODUCT_ID).xml.lower() != product_key(b, PRODUCT_ID).xml.lower()
    assert product_key(a, PRODUCT_ID).xml == product_key(a, PRODUCT_ID).xml.lower()


def test_a_very_long_source_still_gives_a_key_the_portal_can_store():
    assert len(product_key("x" * 64 + "Ы", PRODUCT_ID).code) <= 255
    assert product_key("a" * 64 + "Ы", PRODUCT_ID).code != product_key("a" * 64 + "Ъ", PRODUCT_ID).code


def test_the_1c_id_is_read_back_from_either_key_form():
    assert onec_id_of_key(product_key("ut103-main", PRODUCT_ID).xml) == PRODUCT_ID
    assert onec_id_of_key(PRODUCT_ID.upper()) == PRODUCT_ID


def test_only_fields_1c_changed_since_the_last_push_are_sent():
    before = catalog(nail()).fields
    after = catalog(nail(name="Гвоздь 100", purchase_price={"amount": "125.00", "currency": "RUB"})).fields
    assert product_changes(after, before) == {"name": "Гвоздь 100", "purchasingPrice": "125"}
    assert product_changes(before, before) == {}
    assert product_changes(before, None) == before


def test_a_price_1c_no_longer_has_is_not_cleared_but_an_emptied_description_is():
    before = catalog(nail()).fields
    after = catalog(nail(purchase_price=None, full_name=None, article=None, unit=None, vat_rate=None,
                         code="1")).fields
    changes = product_changes(after, before)
    assert "purchasingPrice" not in changes and "purchasingCurrency" not in changes
    assert changes["detailText"] == "Код 1С: 1"
    legacy_changes = product_changes(legacy(nail(sale_price=None)).fields, legacy(nail()).fields)
    assert "PRICE" not in legacy_changes and "CURRENCY_ID" not in legacy_changes
