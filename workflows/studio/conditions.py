"""Studio's split-based-on conditions. Text comparisons ignore case and surrounding spaces, as
Studio's do; ``regex`` is matched as written; ``less_than``/``greater_than`` compare numbers when
both sides are numbers and text otherwise.

Date and time conditions compare the tested value (an ISO 8601 date or time, such as
``{{trigger.message.DateCreated}}``) with the condition's value; a blank tested value means now,
the workflow's clock (so a replayed execution decides as it did). Times are ``HH:MM`` or
``HH:MM:SS`` in UTC; dates are ``YYYY-MM-DD``. A value that is not a date or time matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time


def _norm(text: str) -> str:
    return text.strip().casefold()


def _options(value: str) -> list[str]:
    return [_norm(option) for option in value.split(",") if option.strip()]


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _compare(argument: str, value: str) -> int:
    a, b = _number(argument), _number(value)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    x, y = _norm(argument), _norm(value)
    return (x > y) - (x < y)


def _regex(argument: str, value: str) -> bool:
    try:
        return re.search(value, argument) is not None
    except re.error:
        return False


def _moment(text: str, now: datetime) -> datetime | None:
    """``text`` as a UTC moment (blank: now); None when it is no date or time."""
    text = text.strip()
    if not text:
        return now
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return datetime.combine(now.date(), time.fromisoformat(text), UTC)
        except ValueError:
            return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def _clock(text: str) -> time | None:
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        return None


def _date_order(argument: str, value: str, now: datetime) -> int | None:
    moment, day = _moment(argument, now), _day(value)
    if moment is None or day is None:
        return None
    tested = moment.date()
    return (tested > day) - (tested < day)


def _time_order(argument: str, value: str, now: datetime) -> int | None:
    moment, clock = _moment(argument, now), _clock(value)
    if moment is None or clock is None:
        return None
    tested = moment.time().replace(tzinfo=None)
    return (tested > clock) - (tested < clock)


TextCondition = Callable[[str, str], bool]
ClockCondition = Callable[[str, str, datetime], bool]

CONDITIONS: dict[str, TextCondition] = {
    "equal_to": lambda a, v: _norm(a) == _norm(v),
    "not_equal_to": lambda a, v: _norm(a) != _norm(v),
    "matches_any_of": lambda a, v: _norm(a) in _options(v),
    "does_not_match_any_of": lambda a, v: _norm(a) not in _options(v),
    "contains": lambda a, v: _norm(v) in _norm(a),
    "does_not_contain": lambda a, v: _norm(v) not in _norm(a),
    "starts_with": lambda a, v: _norm(a).startswith(_norm(v)),
    "does_not_start_with": lambda a, v: not _norm(a).startswith(_norm(v)),
    "regex": _regex,
    "is_blank": lambda a, _v: not a.strip(),
    "is_not_blank": lambda a, _v: bool(a.strip()),
    "less_than": lambda a, v: _compare(a, v) < 0,
    "greater_than": lambda a, v: _compare(a, v) > 0,
}
CLOCK_CONDITIONS: dict[str, ClockCondition] = {
    "is_before_date": lambda a, v, now: _date_order(a, v, now) == -1,
    "is_after_date": lambda a, v, now: _date_order(a, v, now) == 1,
    "is_before_time": lambda a, v, now: _time_order(a, v, now) == -1,
    "is_after_time": lambda a, v, now: _time_order(a, v, now) == 1,
}
CONDITION_TYPES = frozenset(CONDITIONS) | frozenset(CLOCK_CONDITIONS)


def condition_matches(kind: str, argument: str, value: str, now: datetime | None = None) -> bool:
    """Whether ``argument`` (the rendered input) satisfies condition ``kind`` against ``value``;
    date and time conditions take a blank ``argument`` as ``now``. Raises ``KeyError`` for a
    type Studio does not have; definitions are checked beforehand."""
    if kind in CLOCK_CONDITIONS:
        return CLOCK_CONDITIONS[kind](argument, value, now or datetime.now(UTC))
    return CONDITIONS[kind](argument, value)
