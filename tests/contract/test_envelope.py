"""The envelope: event types, ids, version, occurred_at, forward compatibility, storage form."""

from __future__ import annotations

import copy
from datetime import timedelta
from uuid import UUID

import pydantic
import pytest

from onec_outbox.contract import (
    ENTITIES,
    EVENT_TYPES,
    ContractViolation,
    CounterpartyEvent,
    Event,
    InvoiceEvent,
    event_to_json,
    parse_event,
)
from tests.contract.samples import CONTRACT_EXAMPLE, event, the_violation, violations


def test_contract_example_is_a_valid_counterparty_event():
    parsed = parse_event(copy.deepcopy(CONTRACT_EXAMPLE))
    assert isinstance(parsed, CounterpartyEvent)
    assert parsed.entity == "counterparty"
    assert parsed.event_id == UUID("5b0e9a8e-1c55-4a53-9a56-0b8d3c1f6e21")
    assert parsed.version == 1732700000123
    assert parsed.occurred_at.utcoffset() == timedelta(hours=3)
    assert parsed.payload.bank_accounts[0].bik == "044525225"


@pytest.mark.parametrize("entity", ENTITIES)
def test_each_event_type_gets_its_own_event_class(entity):
    parsed = parse_event(event(entity))
    assert isinstance(parsed, Event)
    assert parsed.entity == entity
    assert parsed.event_type == f"{entity}.upserted"


def test_exported_names_list_the_six_entities_in_contract_order():
    assert ENTITIES == ("counterparty", "product", "customer_order", "invoice", "payment", "shipment")
    assert EVENT_TYPES == tuple(f"{e}.upserted" for e in ENTITIES)


def test_unknown_event_type_is_rejected_listing_the_allowed_ones():
    error = the_violation(event(event_type="contract.upserted"))
    assert error["path"] == "event_type"
    assert error["code"] == "unknown_event_type"
    assert "«contract.upserted»" in error["message"]
    for event_type in EVENT_TYPES:
        assert event_type in error["message"]


def test_missing_event_type_is_reported_with_the_other_envelope_problems():
    data = event()
    del data["event_type"]
    data["version"] = -5
    errors = violations(data)
    assert [(e["path"], e["code"]) for e in errors] == [
        ("event_type", "required"),
        ("version", "out_of_range"),
    ]


def test_invoice_event_with_a_counterparty_payload_fails_on_the_invoice_fields():
    data = event("counterparty", event_type="invoice.upserted")
    paths = {e["path"] for e in violations(data) if e["code"] == "required"}
    assert {"payload.number", "payload.date", "payload.posted", "payload.amount", "payload.items"} <= paths


def test_naive_occurred_at_is_rejected_with_a_hint_to_add_the_offset():
    error = the_violation(event(occurred_at="2026-11-27T10:15:00"))
    assert error["path"] == "occurred_at"
    assert error["code"] == "datetime_naive"
    assert "2026-11-27T10:15:00+03:00" in error["message"]


@pytest.mark.parametrize(
    "value", ["2026-11-27T07:15:00Z", "2026-11-27T10:15+03:00", "2026-11-27T10:15:00.123+03:00"]
)
def test_occurred_at_accepts_iso_8601_with_any_offset(value):
    assert parse_event(event(occurred_at=value)).occurred_at.utcoffset() is not None


@pytest.mark.parametrize(
    "value, code",
    [
        ("27.11.2026 10:15:00", "datetime_format"),
        ("2026-02-30T10:15:00+03:00", "datetime_invalid"),
        ("0001-01-01T00:00:00+03:00", "empty_date"),
        (1732700000, "datetime_type"),
    ],
)
def test_occurred_at_in_another_shape_is_rejected(value, code):
    assert the_violation(event(occurred_at=value))["code"] == code


def test_occurred_at_with_nanoseconds_is_told_the_fraction_is_too_long_not_that_it_is_not_iso():
    """Java's Instant and .NET write up to 9 fraction digits; those are ISO-8601 with an offset, so the
    message used to be untrue ("ожидается ISO-8601 со смещением").  It names the limit instead."""
    error = the_violation(event(occurred_at="2026-11-27T10:15:00.123456789+03:00"))
    assert error["code"] == "datetime_format"
    assert "не более 6 знаков" in error["message"] and "2026-11-27T10:15:00.123456+03:00" in error["message"]
    naive = the_violation(event(occurred_at="2026-11-27T10:15:00.1234567"))  # no offset either: both said
    assert "None" not in naive["message"] and "со смещением, например 2026-11-27T10:15:00.123456+03:00" in naive["message"]


@pytest.mark.parametrize(
    "value, code",
    [
        (-1, "out_of_range"),
        (2**63, "out_of_range"),
        ("17", "not_an_integer"),
        (1.0, "not_an_integer"),
        (True, "not_an_integer"),
    ],
)
def test_version_must_be_a_bigint_range_json_integer(value, code):
    error = the_violation(event(version=value))
    assert (error["path"], error["code"]) == ("version", code)


def test_version_zero_and_bigint_max_are_accepted():
    assert parse_event(event(version=0)).version == 0
    assert parse_event(event(version=2**63 - 1)).version == 2**63 - 1


@pytest.mark.parametrize("source, code", [("", "blank"), ("x" * 65, "too_long"), (None, "required")])
def test_source_is_one_to_64_characters(source, code):
    error = the_violation(event(source=source))
    assert (error["path"], error["code"]) == ("source", code)


def test_event_id_that_is_not_a_uuid_names_the_value_and_how_1c_makes_one():
    error = the_violation(event(event_id="42"))
    assert (error["path"], error["code"]) == ("event_id", "invalid_uuid")
    assert "«42»" in error["message"] and "УникальныйИдентификатор" in error["message"]


def test_empty_1c_reference_as_entity_id_is_rejected():
    error = the_violation(event(entity_id="00000000-0000-0000-0000-000000000000"))
    assert (error["path"], error["code"]) == ("entity_id", "empty_ref")


@pytest.mark.parametrize("field", ["entity_id", "event_id"])
def test_empty_string_as_a_required_reference_is_rejected_as_the_empty_reference(field):
    error = the_violation(event(**{field: ""}))
    assert (error["path"], error["code"]) == (field, "empty_ref")


def test_body_that_is_not_an_object_is_rejected_at_the_root():
    assert the_violation(["not", "an", "event"]) == {
        "path": "",
        "code": "not_an_object",
        "message": "ожидался объект, получено: массив",
    }


def test_violation_carries_the_event_id_and_a_stable_reason():
    with pytest.raises(ContractViolation) as caught:
        parse_event(event(version=-1))
    assert caught.value.event_id == CONTRACT_EXAMPLE["event_id"]
    assert caught.value.reason == "contract_violation"
    assert "version" in str(caught.value)


def test_unknown_fields_are_accepted_and_kept_for_storage():
    data = event("invoice", trace_id="abc")
    data["payload"]["responsible_department"] = {"id": "x", "name": "Опт"}
    data["payload"]["items"][0]["batch"] = "П-17"
    stored = event_to_json(parse_event(data))
    assert stored["trace_id"] == "abc"
    assert stored["payload"]["responsible_department"] == {"id": "x", "name": "Опт"}
    assert stored["payload"]["items"][0]["batch"] == "П-17"


@pytest.mark.parametrize("entity", ENTITIES)
def test_stored_form_parses_back_to_the_same_event(entity):
    parsed = parse_event(event(entity))
    assert parse_event(event_to_json(parsed)) == parsed


def test_stored_form_keeps_money_as_strings_and_offsets_in_datetimes():
    stored = event_to_json(parse_event(event("invoice")))
    assert stored["payload"]["amount"] == "2250.00"
    assert stored["payload"]["items"][0]["quantity"] == "12.500"
    assert stored["payload"]["date"] == "2026-11-27"
    assert stored["occurred_at"] == "2026-11-27T10:15:00+03:00"
    assert stored["event_id"] == "5b0e9a8e-1c55-4a53-9a56-0b8d3c1f6e21"


def test_parsed_events_are_immutable():
    parsed = parse_event(event("invoice"))
    assert isinstance(parsed, InvoiceEvent)
    with pytest.raises(pydantic.ValidationError):
        parsed.version = 2
