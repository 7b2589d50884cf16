"""The JSON the Russian guide shows is what the bridge accepts and what the 1C code writes.

A 1C programmer compares the guide's examples with what the queue monitor's «Показать JSON» shows; if the
examples drift from the contract or from the serializer, the guide misleads exactly when it is needed.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from onec_outbox.contract import ContractViolation, parse_event, parse_heartbeat
from tests.bsl import source

ENTITIES = {"counterparty", "product", "customer_order", "invoice", "payment", "shipment"}


def _blocks(language: str) -> list[Any]:
    guide = source.GUIDE.read_text(encoding="utf-8")
    return [
        json.loads(body)
        for lang, body in re.findall(r"```(\S*)\n(.*?)```", guide, re.DOTALL)
        if lang == language
    ]


EVENTS = [event for block in _blocks("json") for event in (block if isinstance(block, list) else [block])]
RESPONSES = _blocks("json-response")


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def serializer_keys() -> set[str]:
    """JSON keys the serializer writes.

    ``.Вставить("key", …)``, ``Новый Структура("a, b", …)`` and ``ДобавитьНепустое(Адрес, "key", …)``
    (optional address parts); only snake_case names count, the Russian ones are internal.
    """
    path = source.common_module_files()["Б24Мост_Сериализация"]
    keys: set[str] = set()
    for node in source.walk(source.parse(path).root_node):
        if node.type not in ("method_call", "new_expression"):
            continue
        name = source.text(next(c for c in node.children if c.type == "identifier"))
        arguments = next((c for c in node.children if c.type == "arguments"), None)
        strings = [n for n in source.walk(arguments) if n.type == "string"] if arguments is not None else []
        direct = [s for s in strings if s.parent.parent.parent == arguments]
        if not direct:
            continue
        first = source.string_value(direct[0])
        if name == "Вставить":
            keys.add(first)
        elif name == "Структура":
            keys.update(part.strip() for part in first.split(","))
        elif name == "ДобавитьНепустое":
            keys.add(first)
    return {k for k in keys if re.fullmatch(r"[a-z_]+", k)}


def test_the_guide_shows_every_entity_and_both_legal_forms_of_a_company() -> None:
    assert {event["event_type"].removesuffix(".upserted") for event in EVENTS} == ENTITIES
    forms = {e["payload"]["legal_form"] for e in EVENTS if e["event_type"] == "counterparty.upserted"}
    assert {"company", "individual_entrepreneur"} <= forms
    assert RESPONSES


@pytest.mark.parametrize("event", EVENTS, ids=[f"{i}-{e['event_type']}" for i, e in enumerate(EVENTS)])
def test_guide_example_is_accepted_by_the_bridge_contract(event: dict[str, Any]) -> None:
    try:
        parsed = parse_event(event)
    except ContractViolation as exc:  # show the bridge's own words, as the queue monitor would
        pytest.fail("; ".join(f"{e['path']}: {e['message']}" for e in exc.errors))
    assert str(parsed.entity_id) == event["entity_id"]


def test_a_broken_example_is_rejected_with_the_field_path() -> None:
    event = copy.deepcopy(next(e for e in EVENTS if e["event_type"] == "counterparty.upserted"))
    event["payload"]["inn"] = "7707083894"  # wrong control digit
    with pytest.raises(ContractViolation) as raised:
        parse_event(event)
    assert [e["path"] for e in raised.value.errors] == ["payload.inn"]


def test_guide_examples_use_only_keys_the_serializer_writes() -> None:
    shown = set().union(*(_keys(event) for event in EVENTS))
    assert shown - serializer_keys() == set()


def test_every_key_the_serializer_writes_is_shown_in_the_guide() -> None:
    shown = set().union(*(_keys(event) for event in EVENTS))
    # a person's name fields appear only for legal_form "person"; the guide shows them on contact persons
    assert serializer_keys() - shown == set()


def test_guide_response_example_has_a_result_with_a_known_status_per_event() -> None:
    for response in RESPONSES:
        assert response["results"]
        for result in response["results"]:
            assert result["status"] in {"accepted", "duplicate", "rejected"}
            assert isinstance(result["event_id"], str)
            for error in result["errors"]:
                assert set(error) == {"path", "code", "message"}
            assert bool(result["errors"]) == (result["status"] == "rejected")


def test_the_guide_shows_a_deleted_catalog_object_and_a_physically_deleted_document() -> None:
    deleted = [e for e in EVENTS if e["payload"]["deleted"] is True]
    assert any(e["event_type"] == "counterparty.upserted" for e in deleted)
    assert any(e["event_type"] == "shipment.upserted" and e["payload"]["posted"] is False for e in deleted)
    # the deletion re-sends the last accepted snapshot of the same object with a larger version
    for event in deleted:
        earlier = [e for e in EVENTS if e["entity_id"] == event["entity_id"] and not e["payload"]["deleted"]]
        assert earlier and all(e["version"] < event["version"] for e in earlier), event["event_type"]


def test_the_guide_shows_an_allocation_in_the_order_currency_different_from_the_payment() -> None:
    payments = [e["payload"] for e in EVENTS if e["event_type"] == "payment.upserted"]
    assert any(
        a.get("currency") and a["currency"] != p["currency"] and a["order_id"] for p in payments for a in p["allocations"]
    )
    assert all("currency" in a for p in payments for a in p["allocations"])  # 1C always says which


def test_the_guides_heartbeat_is_one_the_bridge_accepts() -> None:
    heartbeats = _blocks("json-heartbeat")
    assert len(heartbeats) == 1
    assert parse_heartbeat(heartbeats[0]).pending == 12
