"""Documents and products: money, quantities, dates, references, VAT rates, currencies."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from onec_outbox.contract import ENTITIES, parse_event
from tests.contract.samples import event, payload_with, the_violation, violations

DOCUMENTS = ("customer_order", "invoice", "payment", "shipment")


def item_with(entity: str, **fields):
    data = event(entity)
    data["payload"]["items"][0].update(fields)
    return data


def test_money_sent_as_a_json_number_is_rejected_with_a_hint_to_send_a_string():
    error = the_violation(payload_with("customer_order", amount=12500.5))
    assert (error["path"], error["code"]) == ("payload.amount", "decimal_not_string")
    assert "12500.5" in error["message"] and "строкой" in error["message"]


def test_quantity_sent_as_a_json_integer_is_rejected_too():
    error = the_violation(item_with("invoice", quantity=3))
    assert (error["path"], error["code"]) == ("payload.items[0].quantity", "decimal_not_string")


def test_money_is_parsed_as_decimal_and_keeps_its_kopecks():
    parsed = parse_event(payload_with("customer_order", amount="12500.00"))
    assert parsed.payload.amount == Decimal("12500.00")
    assert str(parsed.payload.amount) == "12500.00"


@pytest.mark.parametrize(
    "field, value",
    [("amount", "0.125"), ("vat_amount", "1.001"), ("price", "1.12345"), ("quantity", "1.0005")],
)
def test_too_many_places_after_the_dot_are_rejected(field, value):
    error = the_violation(item_with("customer_order", **{field: value}))
    assert (error["path"], error["code"]) == (f"payload.items[0].{field}", "decimal_too_precise")
    assert f"«{value}»" in error["message"]


def test_prices_may_have_four_places_and_quantities_three():
    parsed = parse_event(item_with("customer_order", price="0.0725", quantity="1000.125"))
    assert parsed.payload.items[0].price == Decimal("0.0725")
    assert parsed.payload.items[0].quantity == Decimal("1000.125")


@pytest.mark.parametrize("value", ["12 500,00", "12500,00", "1e3", "+5", "", "двенадцать"])
def test_numbers_in_1c_presentation_or_other_shapes_are_rejected(value):
    error = the_violation(payload_with("invoice", amount=value))
    assert (error["path"], error["code"]) == ("payload.amount", "decimal_invalid")


def test_comma_as_decimal_separator_gets_a_hint():
    assert "точка" in the_violation(payload_with("invoice", amount="12500,00"))["message"]


@pytest.mark.parametrize("field, value", [("amount", "1234567890123456.00"), ("price", "9999999999999999"),
                                          ("quantity", "-10000000000000000.5")])
def test_more_than_15_digits_before_the_dot_is_out_of_range_and_says_so(field, value):
    error = the_violation(item_with("customer_order", **{field: value}))
    assert (error["path"], error["code"]) == (f"payload.items[0].{field}", "decimal_out_of_range")
    assert f"«{value}»" in error["message"] and "15 цифр до точки" in error["message"]
    assert parse_event(item_with("customer_order", amount="999999999999999.99")).payload.items[0].amount == \
        Decimal("999999999999999.99")  # 15 digits before the point: the most the contract allows


def test_negative_money_is_rejected():
    error = the_violation(payload_with("payment", amount="-10.00"))
    assert (error["path"], error["code"]) == ("payload.amount", "decimal_negative")


def test_negative_discount_is_a_markup_and_allowed_but_not_over_100_percent_discount():
    assert (
        parse_event(item_with("invoice", discount_percent="-15.00")).payload.items[0].discount_percent == -15
    )
    assert the_violation(item_with("invoice", discount_percent="100.01"))["code"] == "decimal_out_of_range"


@pytest.mark.parametrize(
    "value, code",
    [
        ("2026-11-27T00:00:00", "date_format"),
        ("27.11.2026", "date_format"),
        ("2026-02-30", "date_invalid"),
        ("0001-01-01", "empty_date"),
        (20261127, "date_type"),
    ],
)
def test_document_date_is_yyyy_mm_dd(value, code):
    error = the_violation(payload_with("shipment", date=value))
    assert (error["path"], error["code"]) == ("payload.date", code)


def test_date_with_time_gets_a_hint_how_to_format_it_in_1c():
    assert "ДФ=yyyy-MM-dd" in the_violation(payload_with("shipment", date="2026-11-27T00:00:00"))["message"]


@pytest.mark.parametrize("entity", DOCUMENTS)
def test_every_document_says_whether_it_is_posted_and_deleted(entity):
    data = event(entity)
    del data["payload"]["posted"]
    data["payload"]["deleted"] = "false"
    errors = {(e["path"], e["code"]) for e in violations(data)}
    assert errors == {("payload.posted", "required"), ("payload.deleted", "not_a_boolean")}


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_payload_says_whether_it_is_marked_for_deletion(entity):
    data = event(entity)
    del data["payload"]["deleted"]
    assert the_violation(data) == {
        "path": "payload.deleted",
        "code": "required",
        "message": "обязательное поле отсутствует",
    }


def test_empty_1c_reference_in_an_optional_field_means_not_filled():
    data = payload_with("customer_order", contact_person_id="00000000-0000-0000-0000-000000000000")
    assert parse_event(data).payload.contact_person_id is None
    assert parse_event(payload_with("invoice", order_id="")).payload.order_id is None


def test_empty_1c_reference_in_a_required_field_is_rejected():
    error = the_violation(payload_with("shipment", counterparty_id="00000000-0000-0000-0000-000000000000"))
    assert (error["path"], error["code"]) == ("payload.counterparty_id", "empty_ref")


@pytest.mark.parametrize("entity, field", [("shipment", "counterparty_id"), ("customer_order", "counterparty_id")])
def test_empty_string_in_a_required_reference_is_the_empty_1c_reference_too(entity, field):
    error = the_violation(payload_with(entity, **{field: ""}))
    assert (error["path"], error["code"]) == (f"payload.{field}", "empty_ref")
    assert "обязательно" in error["message"]


def test_shipment_order_ids_are_uuids():
    error = the_violation(
        payload_with("shipment", order_ids=["3c1e5b7a-2f4c-11ef-8b1a-00155d012a07", "ТД-000123"])
    )
    assert (error["path"], error["code"]) == ("payload.order_ids[1]", "invalid_uuid")


def test_payment_allocation_without_an_order_is_allowed():
    parsed = parse_event(event("payment"))
    assert parsed.payload.allocations[1].order_id is None
    assert parsed.payload.allocations[0].order_id == UUID("3c1e5b7a-2f4c-11ef-8b1a-00155d012a07")


def test_payment_kind_is_bank_cash_or_card():
    error = the_violation(payload_with("payment", kind="barter"))
    assert (error["path"], error["code"]) == ("payload.kind", "not_allowed")
    assert "bank, cash, card" in error["message"]


@pytest.mark.parametrize("value", ["643", "руб.", "rub", "RUR "])
def test_currency_must_be_an_iso_4217_letter_code(value):
    error = the_violation(payload_with("invoice", currency=value))
    assert (error["path"], error["code"]) == ("payload.currency", "currency_format")
    assert "RUB" in error["message"]


@pytest.mark.parametrize("rate", ["22", "20", "10", "0", "none", "18", "20/120"])
def test_vat_rates_of_current_and_historic_1c_documents_are_accepted(rate):
    assert parse_event(item_with("invoice", vat_rate=rate)).payload.items[0].vat_rate == rate


def test_unknown_vat_rate_lists_the_allowed_ones():
    error = the_violation(item_with("invoice", vat_rate="20%"))
    assert (error["path"], error["code"]) == ("payload.items[0].vat_rate", "not_allowed")
    assert "«20%»" in error["message"] and "none" in error["message"]


def test_order_responsible_is_optional_and_its_email_is_checked_when_present():
    assert parse_event(payload_with("customer_order", responsible=None)).payload.responsible is None
    data = event("customer_order")
    data["payload"]["responsible"]["email"] = "petrov"
    assert the_violation(data)["path"] == "payload.responsible.email"


def test_organization_inn_is_checksum_valid_when_present():
    data = event("payment")
    data["payload"]["organization"]["inn"] = "7702070138"
    error = the_violation(data)
    assert (error["path"], error["code"]) == ("payload.organization.inn", "inn_checksum")


def test_service_rows_may_have_no_unit():
    assert parse_event(item_with("invoice", unit=None)).payload.items[0].unit is None


def test_product_without_prices_and_vat_rate_is_accepted():
    data = payload_with("product", sale_price=None, purchase_price=None, vat_rate=None, unit=None)
    assert parse_event(data).payload.sale_price is None


def test_product_price_sent_as_number_is_reported_inside_the_price_object():
    data = event("product")
    data["payload"]["sale_price"]["amount"] = 180
    error = the_violation(data)
    assert (error["path"], error["code"]) == ("payload.sale_price.amount", "decimal_not_string")


def test_document_number_cannot_be_blank():
    error = the_violation(payload_with("invoice", number=""))
    assert (error["path"], error["code"]) == ("payload.number", "blank")


def test_items_null_is_rejected_with_a_hint_to_send_an_empty_array():
    data = payload_with("invoice", items=None)
    assert the_violation(data) == {
        "path": "payload.items",
        "code": "required",
        "message": "обязательное поле: null не допускается",
    }
    error = the_violation(payload_with("invoice", items={"0": {}}))
    assert error["code"] == "not_an_array" and "[]" in error["message"]


def test_non_ascii_digits_are_not_numbers():
    assert the_violation(payload_with("invoice", amount="１２.００"))["code"] == "decimal_invalid"
    assert the_violation(payload_with("invoice", date="２０２６-11-27"))["code"] == "date_format"
