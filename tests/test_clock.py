"""Time: instants staff write, and newsletter slots laid on local wall time across daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.clock import next_slot, parse_instant, previous_slot, slots_between
from bot.setting_values import Slot

ZURICH = ZoneInfo("Europe/Zurich")


def test_local_time_is_in_the_given_zone() -> None:
    assert parse_instant("2019-07-12 09:00", ZURICH) == datetime(2019, 7, 12, 7, 0, tzinfo=UTC)


def test_an_offset_or_a_named_zone_wins() -> None:
    assert parse_instant("2019-07-12T09:00+00:00", ZURICH) == datetime(2019, 7, 12, 9, 0, tzinfo=UTC)
    assert parse_instant("2019-07-12T09:00Z", ZURICH) == datetime(2019, 7, 12, 9, 0, tzinfo=UTC)
    new_york = parse_instant("2019-07-12 09:00 America/New_York", ZURICH)
    assert new_york == datetime(2019, 7, 12, 13, 0, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(ValueError, match="does not exist in Europe/Zurich"):
        parse_instant("2019-03-31 02:30", ZURICH)


def test_slots_keep_local_time_across_daylight_saving() -> None:
    friday_10 = (Slot(4, time(10, 0)),)
    start = datetime(2019, 10, 20, tzinfo=ZURICH)
    end = datetime(2019, 11, 3, tzinfo=ZURICH)
    slots = list(slots_between(friday_10, ZURICH, start, end))
    assert [s.astimezone(ZURICH).strftime("%a %d %H:%M") for s in slots] == ["Fri 25 10:00", "Fri 01 10:00"]
    assert [s.astimezone(UTC).hour for s in slots] == [8, 9]  # CEST, then CET


def test_previous_and_next_slot() -> None:
    daily = (Slot(None, time(8, 0)),)
    now = datetime(2019, 7, 12, 8, 0, tzinfo=ZURICH)
    assert previous_slot(daily, ZURICH, now) == now
    assert next_slot(daily, ZURICH, now) == datetime(2019, 7, 13, 8, 0, tzinfo=ZURICH)


def test_a_duration_reads_as_people_say_it() -> None:
    from datetime import timedelta

    from bot.clock import human_duration

    assert [human_duration(timedelta(seconds=s)) for s in (30, 60, 720, 3600, 86400, 86400 + 1200, 3 * 86400)] == [
        "30 seconds", "1 minute", "12 minutes", "1 hour", "24 hours", "24 hours 20 minutes", "3 days"]
