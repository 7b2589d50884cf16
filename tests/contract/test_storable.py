"""The fast storability check says "nothing to report" exactly when the exact, path-naming walk finds nothing.

``parse_event`` runs the fast walk on every event and the exact one only when the fast one objects, so the
errors a client sees are the exact walk's; this pins that the fast walk never lets through what the exact
one would refuse (and never objects to what it would accept), at limits small enough to reach.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from onec_outbox.contract import events
from onec_outbox.contract.events import UnreadableNumber, _clean, _unstorable

LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=7),
    st.sampled_from(["\x00", "a\ud800", "\udfff", "ok\U0001f600"]), st.just(UnreadableNumber("1e400", "too large")))
VALUES = st.recursive(
    LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_the_fast_walk_agrees_with_the_exact_one(value):
    limits = events.MAX_DEPTH, events.MAX_STRING, events.MAX_ITEMS
    events.MAX_DEPTH, events.MAX_STRING, events.MAX_ITEMS = 4, 5, 3  # small enough for generated values to cross
    try:
        assert _clean(value) == (not _unstorable(value))
    finally:
        events.MAX_DEPTH, events.MAX_STRING, events.MAX_ITEMS = limits


def test_a_valid_event_and_one_with_a_nul_deep_inside():
    event = {"event_id": "x", "payload": {"rows": [{"name": "ok", "tags": ["a", "b"]}]}}
    assert _clean(event)
    event["payload"]["rows"][0]["tags"].append("bad\x00")
    assert not _clean(event)
    assert _unstorable(event)[0]["path"] == "payload.rows[0].tags[2]"


def test_too_deep_is_reported_once_per_value_not_again_for_its_key():
    """A member one level too deep was reported twice, at the parent's path (its key, walked one level
    deeper than the object holding it) and at its own; a client saw two errors for one problem."""
    value: object = "leaf"
    for _ in range(events.MAX_DEPTH):
        value = {"n": value}
    found = _unstorable({"payload": value}, "", 0)
    assert [(p["path"], p["code"]) for p in found] == [("payload" + ".n" * events.MAX_DEPTH, "too_deep")]
