"""The published JSON Schema: up to date with the models, and saying the same thing they do."""

from __future__ import annotations

import json
from functools import cache

import jsonschema
import pytest

from onec_outbox.contract import ENTITIES, event_json_schema
from onec_outbox.contract.schema import COMMAND, SCHEMA_DIR, main, render, stale
from tests.contract.samples import CONTRACT_EXAMPLE, PAYLOADS, event

SCHEMAS = render()


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMAS[name])
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_committed_schema_files_match_the_models():
    names = stale()
    assert not names, f"JSON Schema is stale ({', '.join(names)}): run `{COMMAND}` and commit the result"


def test_schema_files_are_one_per_payload_plus_the_event_and_the_heartbeat():
    assert set(SCHEMAS) == {"event.schema.json", "heartbeat.schema.json"} | {f"{entity}.schema.json" for entity in ENTITIES}


def test_generation_is_deterministic():
    assert render() == SCHEMAS


def test_contract_example_is_valid_against_the_event_schema():
    assert list(validator("event.schema.json").iter_errors(CONTRACT_EXAMPLE)) == []


@pytest.mark.parametrize("entity", ENTITIES)
def test_each_sample_event_and_payload_is_valid_against_its_schema(entity):
    assert list(validator("event.schema.json").iter_errors(event(entity))) == []
    assert list(validator(f"{entity}.schema.json").iter_errors(PAYLOADS[entity])) == []


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 2250.0},
        {"amount": "2250.001"},
        {"date": "2026-11-27T00:00:00"},
        {"currency": "643"},
        {"order_id": "ТД-000077"},
        {"posted": "true"},
    ],
)
def test_schema_rejects_what_the_models_reject(change):
    data = event("invoice")
    data["payload"].update(change)
    assert list(validator("event.schema.json").iter_errors(data))


def test_schema_rejects_a_naive_occurred_at_and_an_unknown_event_type():
    assert list(validator("event.schema.json").iter_errors(event(occurred_at="2026-11-27T10:15:00")))
    assert list(validator("event.schema.json").iter_errors(event(event_type="contract.upserted")))


def test_schema_allows_unknown_fields_for_forward_compatibility():
    data = event("invoice", trace_id="abc")
    data["payload"]["new_optional_field"] = 1
    assert list(validator("event.schema.json").iter_errors(data)) == []


def test_fields_carry_russian_and_english_descriptions():
    schema = json.loads(SCHEMAS["counterparty.schema.json"])
    assert schema["properties"]["inn"]["description"].startswith("ИНН")
    assert "/ tax id" in schema["properties"]["inn"]["description"]


def test_check_command_reports_stale_files_and_the_command_to_run(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "product.schema.json").write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--out", str(tmp_path)]) == 1
    output = capsys.readouterr().out
    assert "product.schema.json" in output and COMMAND in output


def test_schema_dir_is_the_package_folder_shipped_with_the_wheel():
    assert SCHEMA_DIR.name == "schema" and SCHEMA_DIR.parent.name == "onec_outbox"


def test_event_schema_can_place_its_definitions_for_openapi():
    schema = event_json_schema(ref_template="#/components/schemas/{model}")
    assert schema["discriminator"]["mapping"]["invoice.upserted"] == "#/components/schemas/InvoiceEvent"
    assert "InvoicePayload" in schema["$defs"]


def test_the_heartbeat_schema_says_what_its_model_says():
    good = {"source": "ut103-main", "module_version": "1.5.0", "platform_version": "8.3.22.1709", "pending": 0,
            "oldest_pending_seconds": 0, "rejected": 0}
    assert list(validator("heartbeat.schema.json").iter_errors(good)) == []
    for change in ({"pending": -1}, {"pending": "3"}, {"source": ""}, {"module_version": "x" * 65}):
        assert list(validator("heartbeat.schema.json").iter_errors({**good, **change})), change
