"""BRIDGE_WORKING_HOURS: when 1C must be posting heartbeats, in the company's own time zone."""

from datetime import UTC, datetime

import pytest

from bridge.settings import Settings
from bridge.working_hours import WorkingHours

UTC = UTC
MOSCOW_OFFICE = WorkingHours.parse("mon-fri 09:00-18:00 Europe/Moscow")


def test_moscow_office_hours_are_read_in_moscow_time():
    wednesday = datetime(2026, 12, 2, tzinfo=UTC)
    assert not MOSCOW_OFFICE.open_at(wednesday.replace(hour=5, minute=59))  # 08:59 in Moscow
    assert MOSCOW_OFFICE.open_at(wednesday.replace(hour=6))  # 09:00 in Moscow
    assert MOSCOW_OFFICE.open_at(wednesday.replace(hour=14, minute=59))
    assert not MOSCOW_OFFICE.open_at(wednesday.replace(hour=15))  # 18:00 in Moscow


def test_the_weekend_is_not_working_time():
    assert not MOSCOW_OFFICE.open_at(datetime(2026, 12, 5, 9, 0, tzinfo=UTC))  # a Saturday


def test_a_night_shift_belongs_to_the_day_it_starts_on():
    nights = WorkingHours.parse("sat,sun 22:00-06:00 +03:00")
    assert nights.open_at(datetime(2026, 12, 6, 1, 0, tzinfo=UTC))  # Sunday 04:00
    assert nights.open_at(datetime(2026, 12, 7, 2, 0, tzinfo=UTC))  # Monday 05:00, Sunday's shift
    assert not nights.open_at(datetime(2026, 12, 8, 2, 0, tzinfo=UTC))  # Tuesday 05:00


def test_always_means_around_the_clock():
    assert WorkingHours.parse("always").open_at(datetime(2026, 12, 6, 3, 0, tzinfo=UTC))


@pytest.mark.parametrize("text, says", [
    ("weekdays 09:00-18:00", "days are"), ("mon-fri 9-18", "expected e.g."), ("mon-fri 09:00-25:00", "HH:MM"),
    ("mon-fri 09:00-09:00", "equal"), ("mon-fri 09:00-18:00 Mars/Olympus", "unknown time zone"),
])
def test_a_wrong_setting_says_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=says):
        WorkingHours.parse(text)


def test_the_setting_is_checked_when_settings_are_read(monkeypatch):
    monkeypatch.setenv("BRIDGE_WORKING_HOURS", "mon-fri 09:00-18:00 Nowhere/Town")
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings()
