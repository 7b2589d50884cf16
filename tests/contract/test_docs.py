"""docs/contract.md is what 1C developers read: it must mention every field the models accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from onec_outbox.contract import EVENT_TYPES, PAYLOADS, Event

DOC = (Path(__file__).resolve().parents[2] / "docs" / "contract.md").read_text(encoding="utf-8")


def field_names(schema: dict) -> set[str]:
    """Property names of a JSON Schema and of every object defined in it."""
    names = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names |= set(definition.get("properties", {}))
    return names


@pytest.mark.parametrize("entity", sorted(PAYLOADS))
def test_every_payload_field_is_documented(entity):
    missing = {name for name in field_names(PAYLOADS[entity].model_json_schema()) if f"`{name}`" not in DOC}
    assert not missing, f"not in docs/contract.md: {sorted(missing)}"


def test_envelope_fields_and_event_types_are_documented():
    for name in Event.model_fields:
        assert f"`{name}`" in DOC
    for event_type in EVENT_TYPES:
        assert f"`{event_type}`" in DOC
