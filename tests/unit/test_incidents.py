"""Incidents from observations (bridge/incidents.py): one opening and one recovery notice per incident."""

from datetime import UTC, datetime, timedelta, timezone

from bridge.incidents import (
    DEAD_LETTERS,
    PAUSED,
    SILENT,
    Incident,
    Observation,
    Texts,
    dead_letter_observations,
    pause_observations,
    plan,
    silence_observations,
)

MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
TEXTS = Texts("https://bridge.example.ru/console", MSK)
DLQ = Observation(DEAD_LETTERS, "b24.deal.dlq", True, None, "2 шт.; invalid_event: 2")


def actions(steps):
    return [(s.action, s.kind, s.subject) for s in steps]


def test_new_trouble_opens_an_incident_with_a_russian_notice_linking_the_console():
    steps = plan([DLQ], [DEAD_LETTERS], [], TEXTS, NOW)
    assert actions(steps) == [("open", DEAD_LETTERS, "b24.deal.dlq")]
    assert "b24.deal.dlq" in steps[0].message and "invalid_event: 2" in steps[0].message
    assert "недоставленных" in steps[0].message
    assert "[URL=https://bridge.example.ru/console]" in steps[0].message
    assert steps[0].tag == "b24bridge|dead_letters|b24.deal.dlq"


def test_a_long_outage_is_one_notice_nothing_more_while_it_lasts():
    told = Incident(DEAD_LETTERS, "b24.deal.dlq", NOW - timedelta(hours=5), notified=True)
    assert plan([DLQ], [DEAD_LETTERS], [told], TEXTS, NOW) == []


def test_an_opening_notice_that_did_not_reach_bitrix24_is_sent_again():
    untold = Incident(DEAD_LETTERS, "b24.deal.dlq", NOW - timedelta(minutes=1))
    assert actions(plan([DLQ], [DEAD_LETTERS], [untold], TEXTS, NOW)) == [("notify", DEAD_LETTERS, "b24.deal.dlq")]


def test_when_it_clears_one_recovery_notice_with_the_same_tag_says_how_long_it_lasted():
    told = Incident(DEAD_LETTERS, "b24.deal.dlq", datetime(2026, 12, 2, 7, 2, tzinfo=UTC), notified=True)
    steps = plan([], [DEAD_LETTERS], [told], TEXTS, NOW)
    assert actions(steps) == [("clear", DEAD_LETTERS, "b24.deal.dlq")]
    assert "разобраны" in steps[0].message and "02.12 10:02 – 02.12 11:00" in steps[0].message
    assert steps[0].tag == "b24bridge|dead_letters|b24.deal.dlq"


def test_trouble_that_clears_before_anyone_was_told_is_forgotten_silently():
    untold = Incident(DEAD_LETTERS, "b24.deal.dlq", NOW)
    assert actions(plan([], [DEAD_LETTERS], [untold], TEXTS, NOW)) == [("drop", DEAD_LETTERS, "b24.deal.dlq")]


def test_an_undelivered_recovery_is_retried_and_trouble_coming_back_first_keeps_the_incident():
    cleared = Incident(DEAD_LETTERS, "b24.deal.dlq", NOW - timedelta(hours=1), True, NOW - timedelta(minutes=1))
    assert actions(plan([], [DEAD_LETTERS], [cleared], TEXTS, NOW)) == [("recover", DEAD_LETTERS, "b24.deal.dlq")]
    assert actions(plan([DLQ], [DEAD_LETTERS], [cleared], TEXTS, NOW)) == [("reopen", DEAD_LETTERS, "b24.deal.dlq")]


def test_a_watcher_leaves_alone_the_pauses_of_consumers_it_does_not_run():
    other = Incident(PAUSED, "deal", NOW - timedelta(hours=1), notified=True)
    mine = pause_observations({"product": None}, NOW, timedelta(minutes=10))
    assert plan(mine, [DEAD_LETTERS, SILENT], [other], TEXTS, NOW) == []


def test_a_consumer_is_an_incident_only_once_it_stayed_paused():
    short = pause_observations({"deal": NOW - timedelta(minutes=3)}, NOW, timedelta(minutes=10))
    assert plan(short, [], [], TEXTS, NOW) == []
    long = pause_observations({"deal": NOW - timedelta(minutes=12)}, NOW, timedelta(minutes=10))
    steps = plan(long, [], [], TEXTS, NOW)
    assert actions(steps) == [("open", PAUSED, "deal")] and "на паузе с 02.12 10:48" in steps[0].message


def test_a_source_silent_during_working_hours_opens_an_incident_but_not_at_night():
    heard = {"ut103-main": NOW - timedelta(minutes=40), "ut103-branch": NOW - timedelta(minutes=1)}
    day = silence_observations(heard, NOW, timedelta(minutes=15), working=True, open_subjects=set())
    steps = plan(day, [SILENT], [], TEXTS, NOW)
    assert actions(steps) == [("open", SILENT, "ut103-main")] and "молчит с 02.12 10:20" in steps[0].message
    night = silence_observations(heard, NOW, timedelta(minutes=15), working=False, open_subjects=set())
    assert plan(night, [SILENT], [], TEXTS, NOW) == []


def test_a_silence_that_began_by_day_stays_open_at_night_and_clears_when_the_base_speaks():
    told = Incident(SILENT, "ut103-main", NOW - timedelta(hours=3), notified=True)
    night = silence_observations({"ut103-main": NOW - timedelta(hours=3)}, NOW, timedelta(minutes=15), False,
                                 {"ut103-main"})
    assert plan(night, [SILENT], [told], TEXTS, NOW) == []
    back = silence_observations({"ut103-main": NOW}, NOW, timedelta(minutes=15), False, {"ut103-main"})
    steps = plan(back, [SILENT], [told], TEXTS, NOW)
    assert actions(steps) == [("clear", SILENT, "ut103-main")] and "снова на связи" in steps[0].message


def test_open_dead_letters_are_one_observation_per_queue():
    found = dead_letter_observations({"b24.deal.dlq": {"invalid_event": 2, "b24_validation": 1},
                                      "b24.product.dlq": {}})
    assert [(o.subject, o.active, o.detail) for o in found] == [
        ("b24.deal.dlq", True, "3 шт.; b24_validation: 1, invalid_event: 2")]


def test_without_a_console_url_the_notice_has_no_link():
    steps = plan([DLQ], [DEAD_LETTERS], [], Texts(None, MSK), NOW)
    assert "[URL" not in steps[0].message
