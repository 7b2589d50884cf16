"""`b24bridge trace` tells an event's story in time order, also after a dead-letter replay, whose publish is
the only one the outbox keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.cli.trace import _event_lines, document_status

T0 = datetime(2026, 12, 3, 18, 59, 27, tzinfo=UTC)


def outcome(outcome: str, at: datetime, **more) -> dict:
    return {"consumer": "counterparty", "outcome": outcome, "at": at, "reason": None, "error": None,
            "retry_tier": None, "missing": None, "calls": [], **more}


def event(published: datetime | None, replays: int, outcomes: list[dict]) -> dict:
    return {"event_id": "e1", "event_type": "counterparty.upsert", "version": 1, "occurred_at": None,
            "received_at": T0, "published_at": published, "replays": replays, "outcomes": outcomes}


def test_a_replayed_event_reads_received_dead_lettered_published_again_applied():
    replayed_at = T0 + timedelta(seconds=17)
    lines = _event_lines(event(replayed_at, 1, [
        outcome("dead_lettered", T0 + timedelta(seconds=1), reason="b24_rejected", error="ERROR_CORE"),
        outcome("applied", replayed_at + timedelta(seconds=1))]), T0)
    assert [line.split()[1:3] for line in lines[1:]] == [
        ["received", "and"], ["counterparty:", "dead-lettered"], ["published", "again"], ["counterparty:", "applied"]]
    assert "(dead-letter replay 1)" in lines[3]


def test_an_event_published_once_reads_received_published_applied():
    lines = _event_lines(event(T0 + timedelta(seconds=1), 0, [outcome("applied", T0 + timedelta(seconds=2))]), T0)
    assert [line.strip() for line in lines[1:]] == [
        "18:59:27  received and stored", "18:59:28  published", "18:59:29  counterparty: applied"]


def test_a_replay_the_relay_has_not_published_yet_says_so():
    lines = _event_lines(event(None, 2, [outcome("dead_lettered", T0, reason="b24_rejected", error="x")]), T0)
    assert "not published yet: waiting for the relay (dead-letter replay 2)" in lines[2]


def test_a_published_event_no_consumer_handled_says_so_after_its_publish():
    lines = _event_lines(event(T0 + timedelta(seconds=1), 0, []), T0)
    assert [line.strip() for line in lines[1:]] == [
        "18:59:27  received and stored", "18:59:28  published", "—  no consumer has handled it yet"]


def test_an_event_requeued_by_a_review_decision_is_not_called_a_dead_letter_replay():
    resolved_at = T0 + timedelta(seconds=30)
    lines = _event_lines(event(resolved_at, 1, [
        outcome("review", T0 + timedelta(seconds=1)), outcome("applied", resolved_at + timedelta(seconds=1))]), T0)
    assert "published again (replay 1: a review decision or a dead-letter replay)" in lines[3]


def test_an_event_parked_for_review_says_why_and_where_an_operator_decides():
    """It read only "counterparty: review": no reason, no candidates, no pointer to the review list."""
    lines = _event_lines(event(T0 + timedelta(seconds=1), 0, [outcome(
        "review", T0 + timedelta(seconds=2), reason="several_candidates",
        error="компания «Теплоторг ПАО»: several candidate(s) in Bitrix24 (15, 16); an operator picks")]), T0)
    assert lines[3].strip() == ("18:59:29  counterparty: parked for review (several_candidates): компания «Теплоторг "
                                "ПАО»: several candidate(s) in Bitrix24 (15, 16); an operator picks; decide with "
                                "b24bridge review list / show / resolve")


def doc(outcome: str | None, pending: datetime | None, **more) -> dict:
    return {"last_consumer": "deal", "last_outcome": outcome, "last_reason": None, "last_missing": None,
            "last_at": T0, "deal_pending_since": pending, **more}


def test_an_order_document_says_whether_its_facts_are_in_the_deal_whatever_its_last_outcome():
    now = T0 + timedelta(minutes=2)
    cp = ["counterparty/7b14"]
    assert document_status(doc("waiting", T0, last_missing=cp), now) == (
        "; last: deal waiting for counterparty/7b14 18:59:27; not in the deal yet: waits for its recompute "
        "since 18:59:27 (2 min)")
    # another push made the deal with its facts; its own event is still in the wait queue
    assert document_status(doc("waiting", None, last_missing=cp), now) == (
        "; last: deal waited for counterparty/7b14 (last 18:59:27); its facts are in the deal now")
    assert document_status(doc("handed_over", T0), now).startswith("; last: deal handed_over 18:59:27; not in")
    assert document_status(doc("handed_over", None), now) == (
        "; last: deal handed over 18:59:27, then applied by the push it was handed to")
    assert document_status(doc("duplicate", None), now) == "; last: deal applied (a later delivery found it so at 18:59:27)"
    assert document_status(doc("dead_lettered", None, last_reason="b24_rejected"), now) == (
        "; last: deal dead-lettered (b24_rejected) 18:59:27")
    assert document_status(doc(None, None), now) == ""  # merged, no outcome recorded (purged, or none yet)
