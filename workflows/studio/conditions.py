"""Studio's split-based-on conditions. Text comparisons ignore case and surrounding spaces, as
Studio's do; ``regex`` is matched as written; ``less_than``/``greater_than`` compare numbers when
both sides are numbers and text otherwise."""

from __future__ import annotations

import re
from collections.abc import Callable


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


CONDITIONS: dict[str, Callable[[str, str], bool]] = {
    "equal_to": lambda a, v: _norm(a) == _norm(v),
    "not_equal_to": lambda a, v: _norm(a) != _norm(v),
    "matches_any_of": lambda a, v: _norm(a) in _options(v),
    "does_not_match_any_of": lambda a, v: _norm(a) not in _options(v),
    "contains": lambda a, v: _norm(v) in _norm(a),
    "starts_with": lambda a, v: _norm(a).startswith(_norm(v)),
    "regex": _regex,
    "is_blank": lambda a, _v: not a.strip(),
    "is_not_blank": lambda a, _v: bool(a.strip()),
    "less_than": lambda a, v: _compare(a, v) < 0,
    "greater_than": lambda a, v: _compare(a, v) > 0,
}
CONDITION_TYPES = frozenset(CONDITIONS)


def condition_matches(kind: str, argument: str, value: str) -> bool:
    """Whether ``argument`` (the rendered input) satisfies condition ``kind`` against ``value``.
    Raises ``KeyError`` for a type Studio does not have; definitions are checked beforehand."""
    return CONDITIONS[kind](argument, value)
