"""Error messages reach 1C administrators: Russian, with a stable code and a precise path, whatever the input."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from onec_outbox.contract import ENTITIES, ContractViolation, parse_event
from onec_outbox.contract.errors import path_of
from tests.contract.samples import event

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
CODE = re.compile(r"[a-z][a-z0-9_]*")
PATH = re.compile(r"(|[a-z_]+(\[\d+\])*(\.[a-z_]+(\[\d+\])*)*)")
PYDANTIC_WORDS = ("Input should", "Field required", "valid", "Value error", "Assertion failed", "pydantic")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def locations(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path inside a decoded JSON value."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found += locations(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found += locations(child, (*prefix, index))
    return found


@st.composite
def broken_events(draw) -> dict:
    data = event(draw(st.sampled_from(ENTITIES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        spots = locations(data)
        if not spots:
            break
        *parents, last = draw(st.sampled_from(spots))
        holder = data
        for part in parents:
            holder = holder[part]
        if draw(st.booleans()) and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = draw(json_values)
    return data


@settings(max_examples=300, deadline=None)
@given(broken_events())
def test_every_error_on_any_broken_event_is_russian_with_a_code_and_a_path(data):
    try:
        parse_event(data)
    except ContractViolation as exc:
        assert exc.errors
        for error in exc.errors:
            assert set(error) == {"path", "code", "message"}
            assert CODE.fullmatch(error["code"]), error
            assert PATH.fullmatch(error["path"]), error
            assert CYRILLIC.search(error["message"]), error
            assert not any(word in error["message"] for word in PYDANTIC_WORDS), error
        assert CYRILLIC.search(str(exc))


def test_paths_use_dots_for_fields_and_brackets_for_indexes():
    assert path_of(("payload", "bank_accounts", 0, "bik")) == "payload.bank_accounts[0].bik"
    assert path_of(("payload", "order_ids", 3)) == "payload.order_ids[3]"
    assert path_of(()) == ""


def test_all_problems_of_one_event_are_reported_together_in_document_order():
    data = event("customer_order", version=-1)
    data["payload"]["amount"] = 1.5
    data["payload"]["items"][0]["quantity"] = "1,5"
    data["payload"]["items"][0]["vat_rate"] = "НДС20"
    paths = [e["path"] for e in _errors(data)]
    assert paths == ["version", "payload.amount", "payload.items[0].quantity", "payload.items[0].vat_rate"]


def test_long_values_are_shortened_in_messages():
    data = event()
    data["payload"]["inn"] = "1" * 500
    message = _errors(data)[0]["message"]
    assert len(message) < 200


def _errors(data):
    try:
        parse_event(data)
    except ContractViolation as exc:
        return exc.errors
    raise AssertionError("accepted")
