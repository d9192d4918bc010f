"""Business hours: whether a workspace is open at an instant, and when that next changes.

The one home of the rule. Pure (no clock, no I/O): callers pass the instant, so the router and
Studio call it from workflow code with ``workflow.now()``, and the API with the wall clock.

A schedule (``Schedule``) has an IANA time zone, weekly opening hours (several ranges per day,
``"09:00-12:30"``), holidays and an away message. Its rules:

- hours are wall-clock times in the schedule's zone, so a 09:00-17:00 day is open from 09:00 to
  17:00 local time on the days clocks change too (7 or 9 hours that day). A range that starts in
  the hour a spring change skips opens when the clocks jump past it (02:30 on a day that jumps
  from 02:00 to 03:00 opens at 03:00); an hour that a fall change repeats is in a range both times;
- a range ends at ``24:00`` at most; one whose end is not after its start (``22:00-02:00``) runs
  overnight into the next day. The hours after midnight belong to the day the range started: a
  holiday on Friday closes Friday night's ``22:00-02:00`` entirely, a holiday on Saturday does not
  cut it short;
- a holiday (a local date) is closed all day, or open only its own ``hours`` (a short day,
  ``["09:00-13:00"]`` on Christmas Eve), in place of that weekday's hours;
- ranges of one day may not overlap, nor may an overnight range run into the next day's first one.

A schedule that is not ``enabled`` is always open (a workspace with no schedule is never closed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from itertools import pairwise
from typing import Any, Final

from workflows.routing.expressions import time_zone as zone

DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY: Final = 24 * 60
# How far ahead ``next_change`` looks (a closure longer than this has no next opening).
HORIZON_DAYS: Final = 400
_RANGE: Final = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


class ScheduleError(ValueError):
    """A schedule that does not hold together; ``field`` names the part (``TimeZone``,
    ``WeeklyHours``, ``Holidays``) as the API's parameters do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Range:
    """Open from ``start`` to ``end`` minutes after the local midnight of its day; ``end`` may
    pass 1440 (an overnight range)."""

    start: int
    end: int

    def __str__(self) -> str:
        end = self.end % MINUTES_PER_DAY if self.end > MINUTES_PER_DAY else self.end
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def parse_range(text: str) -> Range:
    """``"HH:MM-HH:MM"`` as a range; ValueError saying what is wrong."""
    match = _RANGE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a range 'HH:MM-HH:MM'")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} has a time that does not exist (00:00 to 23:59, or 24:00 as an end)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"{text!r} is empty (for a whole day write '00:00-24:00')")
    return Range(start, end if end > start else end + MINUTES_PER_DAY)


def _check_day(ranges: list[Range], where: str, field_name: str) -> list[Range]:
    ordered = sorted(ranges, key=lambda r: r.start)
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise ScheduleError(field_name, f"{where}: '{before}' and '{after}' overlap")
    return ordered


@dataclass(frozen=True)
class Holiday:
    day: date
    # Empty: closed all day; else open only these ranges that day.
    hours: tuple[Range, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Schedule:
    time_zone: str = "UTC"
    # Monday first; each day's ranges by start.
    weekly: tuple[tuple[Range, ...], ...] = ((),) * 7
    holidays: tuple[Holiday, ...] = ()
    away_message: str = ""
    enabled: bool = True
    _holidays_by_day: dict[date, Holiday] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._holidays_by_day.update({h.day: h for h in self.holidays})

    @property
    def zone(self) -> tzinfo:
        return zone(self.time_zone)

    def ranges_on(self, day: date) -> tuple[Range, ...]:
        """The ranges that start on a local date (a holiday's own, else its weekday's)."""
        holiday = self._holidays_by_day.get(day)
        return holiday.hours if holiday is not None else self.weekly[day.weekday()]

    # --- plain data, as the API and the workflows' inputs carry it ---------------------------

    def to_data(self) -> dict[str, Any]:
        return {
            "time_zone": self.time_zone,
            "weekly_hours": {name: [str(r) for r in self.weekly[i]] for i, name in enumerate(DAYS)},
            "holidays": [
                {"date": h.day.isoformat(), "hours": [str(r) for r in h.hours], "name": h.name} for h in self.holidays
            ],
            "away_message": self.away_message,
            "enabled": self.enabled,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Schedule:
        """A schedule from plain data (``to_data``'s shape); ``ScheduleError`` naming the part
        that is wrong."""
        time_zone = data.get("time_zone") or "UTC"
        try:
            zone(time_zone)
        except ValueError as exc:
            raise ScheduleError("TimeZone", str(exc)) from None
        return cls(
            time_zone=time_zone,
            weekly=weekly_hours(data.get("weekly_hours") or {}),
            holidays=holidays(data.get("holidays") or []),
            away_message=str(data.get("away_message") or ""),
            enabled=bool(data.get("enabled", True)),
        )


def _ranges(items: Any, where: str, field_name: str) -> tuple[Range, ...]:
    if not isinstance(items, list):
        raise ScheduleError(field_name, f"{where}: expected a list of 'HH:MM-HH:MM' ranges")
    try:
        parsed = [parse_range(item) for item in items]
    except ValueError as exc:
        raise ScheduleError(field_name, f"{where}: {exc}") from None
    return tuple(_check_day(parsed, where, field_name))


def weekly_hours(data: Any) -> tuple[tuple[Range, ...], ...]:
    """``{"monday": ["09:00-17:00"], ...}`` (days missing are closed) as seven days of ranges."""
    if not isinstance(data, dict):
        raise ScheduleError("WeeklyHours", "expected an object of day names to lists of 'HH:MM-HH:MM' ranges")
    unknown = sorted(set(data) - set(DAYS))
    if unknown:
        raise ScheduleError("WeeklyHours", f"{unknown[0]!r} is not a day (monday ... sunday)")
    week = tuple(_ranges(data.get(name, []), name, "WeeklyHours") for name in DAYS)
    for index, name in enumerate(DAYS):
        following = week[(index + 1) % 7]
        spill = [r for r in week[index] if r.end > MINUTES_PER_DAY]
        if spill and following and following[0].start < spill[-1].end - MINUTES_PER_DAY:
            after = DAYS[(index + 1) % 7]
            raise ScheduleError("WeeklyHours", f"{name}: '{spill[-1]}' runs into {after}'s '{following[0]}'")
    return week


def holidays(data: Any) -> tuple[Holiday, ...]:
    """``[{"date": "2026-12-25"}, {"date": "2026-12-24", "hours": ["09:00-13:00"], "name": ...}]``."""
    if not isinstance(data, list):
        raise ScheduleError("Holidays", "expected a list of {date, hours, name} objects")
    found: dict[date, Holiday] = {}
    for position, item in enumerate(data):
        where = f"[{position}]"
        if not isinstance(item, dict) or not isinstance(item.get("date"), str):
            raise ScheduleError("Holidays", f"{where}: expected an object with a 'date' (YYYY-MM-DD)")
        try:
            day = date.fromisoformat(item["date"])
        except ValueError:
            raise ScheduleError("Holidays", f"{where}: {item['date']!r} is not a date YYYY-MM-DD") from None
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", item["date"]):
            raise ScheduleError("Holidays", f"{where}: {item['date']!r} is not a date YYYY-MM-DD")
        if day in found:
            raise ScheduleError("Holidays", f"{where}: {day.isoformat()} is listed twice")
        name = item.get("name") or ""
        if not isinstance(name, str) or len(name) > 100:
            raise ScheduleError("Holidays", f"{where}: name must be text of at most 100 characters")
        found[day] = Holiday(day, _ranges(item.get("hours") or [], f"{where} {day.isoformat()}", "Holidays"), name)
    return tuple(sorted(found.values(), key=lambda h: h.day))


# --- the rule ---------------------------------------------------------------------------------


def _wall(local_day: date, minutes: int, tz: tzinfo) -> datetime:
    """The instant (UTC) a day's wall-clock minute stands for (minutes past 1440 are the next
    day's). A wall time the spring change skips stands for the instant the clocks jump past it;
    one the fall change repeats, for its first occurrence."""
    naive = datetime(local_day.year, local_day.month, local_day.day) + timedelta(minutes=minutes)
    first = naive.replace(tzinfo=tz).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: the first whole minute from the earlier reading on whose wall time reaches it.
    earlier = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = 0, int((first - earlier).total_seconds() // 60)
    while low < high:
        middle = (low + high) // 2
        if (earlier + timedelta(minutes=middle)).astimezone(tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle + 1
    return earlier + timedelta(minutes=low)


def is_open(schedule: Schedule | None, at: datetime) -> bool:
    """Whether the business is open at the instant ``at`` (aware)."""
    if schedule is None or not schedule.enabled:
        return True
    tz = schedule.zone
    local = at.astimezone(tz)
    today = local.date()
    minute = local.hour * 60 + local.minute + local.second / 60
    if any(r.start <= minute < r.end for r in schedule.ranges_on(today)):
        return True
    # Yesterday's overnight ranges, in today's minutes.
    yesterday = today - timedelta(days=1)
    return any(minute < r.end - MINUTES_PER_DAY for r in schedule.ranges_on(yesterday) if r.end > MINUTES_PER_DAY)


def next_change(schedule: Schedule | None, at: datetime) -> datetime | None:
    """The first instant after ``at`` when ``is_open`` changes (UTC); None when it never does
    within ``HORIZON_DAYS``."""
    if schedule is None or not schedule.enabled:
        return None
    tz = schedule.zone
    now_open = is_open(schedule, at)
    first = at.astimezone(tz).date() - timedelta(days=1)
    for offset in range(HORIZON_DAYS + 1):
        day = first + timedelta(days=offset)
        edges = sorted({_wall(day, m, tz) for r in schedule.ranges_on(day) for m in (r.start, r.end)})
        for edge in edges:
            if edge > at and is_open(schedule, edge) != now_open:
                return edge
    return None


@dataclass(frozen=True)
class Status:
    open: bool
    # When it next opens or closes (None: never, within the horizon).
    next_change: datetime | None

    def next_open(self) -> datetime | None:
        return None if self.open else self.next_change

    def to_data(self) -> dict[str, Any]:
        """As Studio's ``flow.business_hours`` and the widget see it."""
        change = None if self.next_change is None else self.next_change.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"open": self.open, "next_change": change, "next_open": None if self.open else change}


def status(schedule: Schedule | None, at: datetime) -> Status:
    return Status(is_open(schedule, at), next_change(schedule, at))


def status_data(data: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    """``Status.to_data`` for a schedule given as plain data (None: no schedule, always open),
    with its away message; a schedule that no longer parses counts as none."""
    try:
        schedule = None if data is None else Schedule.from_data(data)
    except ScheduleError:
        schedule = None
    answer = status(schedule, at).to_data()
    answer["away_message"] = schedule.away_message if schedule is not None else ""
    return answer


@lru_cache(maxsize=64)
def schedule_from_json(text: str | None) -> Schedule | None:
    """A schedule kept as JSON text (the router's configuration carries it so); None for none,
    or for one that no longer parses. Schedules are immutable, so recent parses are kept."""
    if text is None:
        return None
    try:
        return Schedule.from_data(json.loads(text))
    except (ScheduleError, ValueError, AttributeError):
        return None
