"""The business-hours rule (``workflows.business_hours``): open or closed at an instant, and when
that next changes, across daylight saving changes, holidays and overnight ranges."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from workflows.business_hours import DAYS, Schedule, ScheduleError, is_open, next_change, status, status_data
from workflows.routing import placement
from workflows.routing.expressions import parse_expression, unsupported
from workflows.routing.messages import RoutedTask, RoutingSnapshot, WorkspaceConfig

pytestmark = pytest.mark.fast

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def schedule(**data: Any) -> Schedule:
    return Schedule.from_data({"time_zone": "America/New_York", **data})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


OFFICE = schedule(weekly_hours={day: ["09:00-12:30", "13:30-18:00"] for day in WEEKDAYS})


def test_ranges_of_a_day_with_a_lunch_break() -> None:
    # Wednesday 2026-01-14, New York is UTC-5 in winter.
    assert not is_open(OFFICE, utc("2026-01-14T13:59:00"))  # 08:59
    assert is_open(OFFICE, utc("2026-01-14T14:00:00"))  # 09:00
    assert not is_open(OFFICE, utc("2026-01-14T17:30:00"))  # 12:30, lunch
    assert is_open(OFFICE, utc("2026-01-14T18:30:00"))  # 13:30
    assert not is_open(OFFICE, utc("2026-01-14T23:00:00"))  # 18:00
    assert not is_open(OFFICE, utc("2026-01-17T16:00:00"))  # Saturday 11:00
    assert next_change(OFFICE, utc("2026-01-14T17:45:00")) == utc("2026-01-14T18:30:00")
    # Friday evening: next opening is Monday 09:00.
    assert next_change(OFFICE, utc("2026-01-16T23:30:00")) == utc("2026-01-19T14:00:00")


def test_spring_forward_keeps_wall_clock_hours() -> None:
    # Sunday 2026-03-08 clocks jump 02:00 EST -> 03:00 EDT; the office opens at 09:00 EDT (13:00 UTC)
    # on Monday, and at 09:00 EST (14:00 UTC) the Friday before.
    assert is_open(OFFICE, utc("2026-03-06T14:00:00"))
    assert not is_open(OFFICE, utc("2026-03-09T12:59:00"))
    assert is_open(OFFICE, utc("2026-03-09T13:00:00"))
    assert next_change(OFFICE, utc("2026-03-06T23:00:00")) == utc("2026-03-09T13:00:00")
    # A range starting in the skipped hour opens when the clocks jump (03:00 EDT = 07:00 UTC).
    night = schedule(weekly_hours={"sunday": ["02:30-05:00"]})
    assert not is_open(night, utc("2026-03-08T06:59:00"))  # 01:59 EST
    assert is_open(night, utc("2026-03-08T07:00:00"))  # 03:00 EDT
    assert next_change(night, utc("2026-03-08T06:00:00")) == utc("2026-03-08T07:00:00")
    assert next_change(night, utc("2026-03-08T07:00:00")) == utc("2026-03-08T09:00:00")  # 05:00 EDT


def test_fall_back_keeps_wall_clock_hours() -> None:
    # Sunday 2026-11-01 clocks go back 02:00 EDT -> 01:00 EST: Monday opens at 09:00 EST = 14:00 UTC.
    assert not is_open(OFFICE, utc("2026-11-02T13:30:00"))
    assert next_change(OFFICE, utc("2026-10-30T22:30:00")) == utc("2026-11-02T14:00:00")
    # 01:00-02:00 happens twice that night: a range over it is open both times (2 real hours).
    night = schedule(weekly_hours={"sunday": ["01:00-02:00"]})
    assert is_open(night, utc("2026-11-01T05:30:00"))  # 01:30 EDT
    assert is_open(night, utc("2026-11-01T06:30:00"))  # 01:30 EST
    assert not is_open(night, utc("2026-11-01T07:00:00"))  # 02:00 EST
    assert next_change(night, utc("2026-11-01T05:30:00")) == utc("2026-11-01T07:00:00")


def test_overnight_ranges_belong_to_the_day_they_start() -> None:
    bar = schedule(
        weekly_hours={"friday": ["22:00-02:00"], "saturday": ["02:00-03:00"]},
        holidays=[{"date": "2026-01-23"}, {"date": "2026-01-31"}],
    )
    # Friday 2026-01-16 22:00 EST to Saturday 03:00 (02:00 joins the Saturday range seamlessly).
    assert is_open(bar, utc("2026-01-17T03:00:00"))
    assert is_open(bar, utc("2026-01-17T07:30:00"))  # Saturday 02:30
    assert not is_open(bar, utc("2026-01-17T08:00:00"))
    assert next_change(bar, utc("2026-01-17T03:00:00")) == utc("2026-01-17T08:00:00")
    # Friday 2026-01-23 is a holiday: its night range is gone; Saturday's own range still opens.
    assert not is_open(bar, utc("2026-01-24T04:00:00"))
    assert is_open(bar, utc("2026-01-24T07:30:00"))
    # Saturday 2026-01-31 is a holiday: Friday night still runs past midnight into it.
    assert is_open(bar, utc("2026-01-31T06:30:00"))  # Saturday 01:30
    assert not is_open(bar, utc("2026-01-31T07:30:00"))  # Saturday 02:30: the holiday closed it


def test_holidays_close_or_shorten_a_day() -> None:
    shop = schedule(
        weekly_hours={day: ["09:00-18:00"] for day in WEEKDAYS},
        holidays=[{"date": "2026-12-25", "name": "Christmas"}, {"date": "2026-12-24", "hours": ["09:00-13:00"]}],
    )
    assert is_open(shop, utc("2026-12-24T17:00:00"))  # 12:00
    assert not is_open(shop, utc("2026-12-24T19:00:00"))  # 14:00: the short day is over
    assert not is_open(shop, utc("2026-12-25T16:00:00"))
    # Thursday 24th, after its short day: next opening is Monday 28th (25th holiday, weekend).
    found = status(shop, utc("2026-12-24T19:00:00"))
    assert not found.open and found.next_open() == utc("2026-12-28T14:00:00")


def test_no_schedule_or_disabled_is_always_open() -> None:
    assert is_open(None, utc("2026-01-01T00:00:00"))
    closed_always = schedule(weekly_hours={}, enabled=False)
    assert is_open(closed_always, utc("2026-01-01T00:00:00"))
    assert next_change(closed_always, utc("2026-01-01T00:00:00")) is None
    never = schedule(weekly_hours={})
    assert not is_open(never, utc("2026-01-01T00:00:00")) and next_change(never, utc("2026-01-01T00:00:00")) is None
    assert status_data(None, utc("2026-01-01T00:00:00")) == {
        "open": True,
        "next_change": None,
        "next_open": None,
        "away_message": "",
    }


def test_round_trip_and_status_data() -> None:
    data = OFFICE.to_data()
    assert data["weekly_hours"]["monday"] == ["09:00-12:30", "13:30-18:00"]
    assert Schedule.from_data(data) == OFFICE
    answer = status_data({**data, "away_message": "Back soon"}, utc("2026-01-14T17:45:00"))
    assert answer == {
        "open": False,
        "next_change": "2026-01-14T18:30:00Z",
        "next_open": "2026-01-14T18:30:00Z",
        "away_message": "Back soon",
    }
    overnight = schedule(weekly_hours={"friday": ["22:00-02:00"], "sunday": ["00:00-24:00"]})
    assert overnight.to_data()["weekly_hours"]["friday"] == ["22:00-02:00"]
    assert overnight.to_data()["weekly_hours"]["sunday"] == ["00:00-24:00"]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"time_zone": "Mars/Olympus"}, "TimeZone", "'Mars/Olympus' is not an IANA time zone"),
        ({"weekly_hours": {"monday": ["09:00-12:00", "11:00-13:00"]}}, "WeeklyHours", "overlap"),
        ({"weekly_hours": {"monday": ["9-12"]}}, "WeeklyHours", "monday: '9-12' is not a range"),
        ({"weekly_hours": {"monday": ["09:00-25:00"]}}, "WeeklyHours", "does not exist"),
        ({"weekly_hours": {"monday": ["09:00-09:00"]}}, "WeeklyHours", "is empty"),
        ({"weekly_hours": {"funday": []}}, "WeeklyHours", "'funday' is not a day"),
        ({"weekly_hours": {"monday": "09:00-17:00"}}, "WeeklyHours", "expected a list"),
        (
            {"weekly_hours": {"sunday": ["20:00-08:00"], "monday": ["07:00-12:00"]}},
            "WeeklyHours",
            "runs into monday",
        ),
        ({"holidays": [{"date": "2026-02-30"}]}, "Holidays", "not a date"),
        ({"holidays": [{"date": "2026-12-25"}, {"date": "2026-12-25"}]}, "Holidays", "listed twice"),
        ({"holidays": [{"date": "2026-12-24", "hours": ["13:00-14:00", "13:30-15:00"]}]}, "Holidays", "overlap"),
        ({"holidays": {"date": "2026-12-25"}}, "Holidays", "expected a list"),
    ],
)
def test_bad_schedules_name_their_part(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        schedule(**data)
    assert raised.value.field == field
    assert words in raised.value.message


def test_the_router_reads_business_open_and_wakes_at_the_next_change() -> None:
    hours = json.dumps(OFFICE.to_data())
    config = WorkspaceConfig("WS1", "ws", None, None, {}, {}, {}, {}, business_hours=hours)
    waiting = RoutedTask("WT1", "WW1", "chat", 0, 86400, {}, created_at=0.0)
    snapshot = RoutingSnapshot(config, {}, {"WT1": waiting})
    lunch = utc("2026-01-14T17:45:00").timestamp()
    assert placement.next_business_change(snapshot, lunch) == utc("2026-01-14T18:30:00").timestamp()
    assert placement.next_business_change(RoutingSnapshot(config, {}, {}), lunch) is None  # nothing waits
    no_hours = RoutingSnapshot(WorkspaceConfig("WS1", "ws", None, None, {}, {}, {}, {}), {}, {"WT1": waiting})
    assert placement.next_business_change(no_hours, lunch) is None
    # Outside a workflow the rules read the wall clock: a schedule open all week is open now.
    always = json.dumps(schedule(weekly_hours={day: ["00:00-24:00"] for day in DAYS}).to_data())
    assert placement.matches("taskrouter.businessOpen == true", {}, hours=always)
    assert not placement.matches("taskrouter.businessOpen == true", {}, hours=json.dumps(schedule().to_data()))
    assert placement.matches("taskrouter.businessOpen == true", {})  # no schedule: open
    assert unsupported(parse_expression("taskrouter.businessOpen == false")) is None
