"""TaskRouter's expression language: a TaskQueue's ``target_workers``, a Workflow filter's
``expression``, a target's ``expression`` and ``skip_if``.

``parse_expression`` turns the text into a small immutable tree (a Lark LALR parser, built once at
import); ``Expression.evaluate`` matches it against JSON attributes. Both are pure, so workflow code
calls them directly.

The language, as TaskRouter documents it:

- comparisons ``==`` (or ``=``), ``!=``, ``>``, ``>=``, ``<``, ``<=``; ``HAS`` (a list has a value),
  ``CONTAINS`` (a string contains a substring, or a list has a value), ``IN`` and ``NOT IN`` (a value
  is, or is not, in a list: a literal ``["en", "fr"]`` or an attribute holding a list);
- ``NOT`` binds tighter than ``AND``, which binds tighter than ``OR``; parentheses group;
  keywords are case-insensitive (``has``, ``and``, ``True``...);
- constants: strings in double or single quotes (a backslash escapes the next character),
  integers and decimals (negative too), ``true``, ``false``, ``null``; lists hold constants;
- attributes: names with dots for sub-objects and ``[n]`` for list items
  (``routing.skills``, ``languages[0]``); hyphens are not allowed, as in TaskRouter.

Evaluation:

- unprefixed names resolve in ``attributes``; ``task.x`` resolves ``x`` in ``task`` and
  ``worker.x`` in ``worker`` when those are given, and in ``attributes`` otherwise (so a queue's
  ``target_workers`` may say ``worker.skills HAS "x"`` or ``skills HAS "x"``);
- the router's own worker fields (``worker_fields``: ``worker.sid``, ``worker.activity_sid``,
  ``worker.activity_name`` and ``worker.channel.<task channel unique name>.<field>``) come before
  the worker's attributes; ``taskrouter.x`` resolves in ``taskrouter`` when given (the time of day
  variables of ``time_variables``, and ``businessOpen``);
- numbers compare numerically (``1 == 1.0``), strings exactly (case-sensitive) and by code point
  for ``<``/``>``; lists and objects compare item by item; ``null`` equals only ``null``;
- a comparison between different types is false, whatever the operator (``level != "3"`` is false
  for ``level`` 3), except that anything may be compared with ``null`` by ``==`` and ``!=``;
- a missing attribute resolves to ``null``, as TaskRouter documents, for a comparison with the
  constant ``null``: ``foo == null`` holds and ``foo != null`` does not when ``foo`` is missing;
- any other comparison with a missing attribute on either side is false, whatever the operator:
  ``!=`` and ``NOT IN`` hold only for an attribute that exists (``language != "en"`` does not match
  a worker with no language). ``NOT language == "en"`` matches those too.

``unsupported`` names what the router cannot evaluate in an expression that parses (an unknown
``taskrouter.`` variable, a ``worker.channel`` path without a known field), so that the API refuses
it when it is saved rather than the router treating it as false.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from itertools import takewhile
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lark import Lark, Token, Transformer, v_args
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

GRAMMAR: Final = r"""
?start: any_of
?any_of: all_of (_OR all_of)*
?all_of: negation (_AND negation)*
?negation: _NOT negation -> not_
         | _LPAR any_of _RPAR
         | comparison
comparison: operand (COMPARATOR | HAS | CONTAINS | IN) operand
          | operand _NOT IN operand -> not_in
?operand: constant
        | _LSQB (constant (_COMMA constant)*)? _RSQB -> items
        | ATTRIBUTE -> attribute
?constant: STRING -> string
         | NUMBER -> number
         | TRUE -> true
         | FALSE -> false
         | NULL -> null

_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
HAS.2: /has\b/i
CONTAINS.2: /contains\b/i
IN.2: /in\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
NULL.2: /null\b/i
COMPARATOR: /==?|!=|[<>]=?/
NUMBER: /-?[0-9]+(\.[0-9]+)?/
STRING: /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/
ATTRIBUTE: /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])*/
_LPAR: "("
_RPAR: ")"
_LSQB: "["
_RSQB: "]"
_COMMA: ","
%ignore /\s+/
"""

_PARSER: Final = Lark(GRAMMAR, parser="lalr", lexer="basic")


class ExpressionError(ValueError):
    """An expression that does not parse. ``position`` is the 0-based character offset of the
    problem (the length of the text when the expression ends too soon); ``column`` is its 1-based
    column on its line."""

    def __init__(self, message: str, text: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.column = position - text.rfind("\n", 0, position)


class _Missing:
    """What a name that the attributes lack resolves to."""

    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Final = _Missing()


# TaskRouter's time of day variables (``taskrouter.<name>``): in UTC as TaskRouter documents them,
# unless a filter's ``time_zone`` or the workspace's (the operator's setting) says otherwise.
# ``currentMin`` is the documented name of the minute; ``currentMinute`` is taken as well.
# ``businessOpen`` is Switchboard's own: whether the workspace's business hours have it open
# (``workflows.business_hours``; true for a workspace without a schedule).
TIME_VARIABLES: Final = ("currentTime", "currentHour", "currentMin", "currentMinute", "dayOfWeek", "businessOpen")
# The fields of ``worker.channel.<task channel unique name>``, as the Worker Channel resource has them.
CHANNEL_FIELDS: Final = ("assigned_tasks", "available", "available_capacity_percentage", "configured_capacity")
# The worker's own fields (not attributes) an expression may name after ``worker.``.
WORKER_FIELDS: Final = ("sid", "activity_sid", "activity_name", "channel")
_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def time_zone(name: str) -> tzinfo:
    """The zone an IANA name (``Europe/Berlin``, ``UTC``) stands for; ValueError when unknown."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as unknown:
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. 'Europe/Berlin')") from unknown


def time_variables(now: datetime, business_open: bool = True) -> dict[str, Any]:
    """``taskrouter.*`` at ``now`` (in the zone it reads in): ``currentTime`` HHMM as a number (1830),
    ``currentHour`` and ``currentMin`` as numbers (TaskRouter's examples compare them with numbers),
    ``dayOfWeek`` Mon..Sun, and ``businessOpen`` as the caller found it."""
    return {
        "businessOpen": business_open,
        "currentTime": now.hour * 100 + now.minute,
        "currentHour": now.hour,
        "currentMin": now.minute,
        "currentMinute": now.minute,
        "dayOfWeek": _DAYS[now.weekday()],
    }


@dataclass(frozen=True)
class _Documents:
    attributes: Mapping[str, Any]
    task: Mapping[str, Any] | None
    worker: Mapping[str, Any] | None
    worker_fields: Mapping[str, Any] | None
    taskrouter: Mapping[str, Any] | None

    def resolve(self, path: tuple[str | int, ...]) -> Any:
        document: Any = self.attributes
        head = path[0]
        if len(path) > 1 and isinstance(path[1], str):
            if head == "worker" and self.worker_fields is not None and path[1] in self.worker_fields:
                document, path = self.worker_fields, path[1:]
            elif head in ("task", "worker"):
                given = self.task if head == "task" else self.worker
                document, path = (self.attributes if given is None else given), path[1:]
            elif head == "taskrouter" and self.taskrouter is not None:
                document, path = self.taskrouter, path[1:]
        for key in path:
            document = _child(document, key)
        return document


def _child(document: Any, key: str | int) -> Any:
    """``document[key]``, or _MISSING when there is no such key or index."""
    if isinstance(key, str) and isinstance(document, Mapping):
        return document.get(key, _MISSING)
    if isinstance(key, int) and isinstance(document, list | tuple) and key < len(document):
        return document[key]
    return _MISSING


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    value: Any  # str, int, float, bool, None, or a tuple of those (a list literal)

    def resolve(self, documents: _Documents) -> Any:
        return self.value


@dataclass(frozen=True)
class Attribute:
    path: tuple[str | int, ...]

    def resolve(self, documents: _Documents) -> Any:
        return documents.resolve(self.path)


Operand = Constant | Attribute


@dataclass(frozen=True)
class Comparison:
    operator: str  # "==", "!=", ">", ">=", "<", "<=", "HAS", "CONTAINS", "IN" or "NOT IN"
    left: Operand
    right: Operand

    def matches(self, documents: _Documents) -> bool:
        left, right = self.left.resolve(documents), self.right.resolve(documents)
        if left is _MISSING or right is _MISSING:
            # A missing attribute is null next to the constant null, and nothing else.
            null_beside = Constant(None) in (self.left, self.right) and self.operator in ("==", "!=")
            return null_beside and self.operator == "=="
        return _OPERATORS[self.operator](left, right)


@dataclass(frozen=True)
class Not:
    operand: Condition

    def matches(self, documents: _Documents) -> bool:
        return not self.operand.matches(documents)


@dataclass(frozen=True)
class AllOf:
    operands: tuple[Condition, ...]

    def matches(self, documents: _Documents) -> bool:
        return all(operand.matches(documents) for operand in self.operands)


@dataclass(frozen=True)
class AnyOf:
    operands: tuple[Condition, ...]

    def matches(self, documents: _Documents) -> bool:
        return any(operand.matches(documents) for operand in self.operands)


Condition = Comparison | Not | AllOf | AnyOf


@dataclass(frozen=True)
class Expression:
    """A parsed expression: ``text`` as written, ``condition`` its tree."""

    text: str
    condition: Condition

    def evaluate(
        self,
        attributes: Mapping[str, Any],
        *,
        task: Mapping[str, Any] | None = None,
        worker: Mapping[str, Any] | None = None,
        worker_fields: Mapping[str, Any] | None = None,
        taskrouter: Mapping[str, Any] | None = None,
    ) -> bool:
        return self.condition.matches(_Documents(attributes, task, worker, worker_fields, taskrouter))

    def attributes(self) -> list[Attribute]:
        """The attributes the expression names, in the order written."""
        found: list[Attribute] = []
        pending: list[Condition] = [self.condition]
        while pending:
            condition = pending.pop()
            if isinstance(condition, Comparison):
                found.extend(o for o in (condition.right, condition.left) if isinstance(o, Attribute))
            elif isinstance(condition, Not):
                pending.append(condition.operand)
            else:
                pending.extend(condition.operands)
        return found[::-1]

    def names_worker_fields(self) -> bool:
        """Whether the expression names one of the router's ``WORKER_FIELDS`` (``worker.sid``...)."""
        return any(len(a.path) > 1 and a.path[0] == "worker" and a.path[1] in WORKER_FIELDS for a in self.attributes())


def _dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path).lstrip(".")


def unsupported(expression: Expression) -> str | None:
    """Why the router cannot evaluate ``expression`` (None: it can): a ``taskrouter.`` name that
    is not a time variable, or a ``worker.channel`` path that is not
    ``worker.channel.<task channel unique name>.<field>``."""
    for attribute in expression.attributes():
        path = attribute.path
        time_name = path[0] == "taskrouter" and len(path) > 1
        if time_name and (len(path) != 2 or path[1] not in TIME_VARIABLES):
            known = ", ".join(f"taskrouter.{name}" for name in TIME_VARIABLES)
            return f"{_dotted(path)} is not a TaskRouter variable (known: {known})"
        channel_field = len(path) == 4 and isinstance(path[2], str) and path[3] in CHANNEL_FIELDS
        if path[:2] == ("worker", "channel") and not channel_field:
            fields = ", ".join(CHANNEL_FIELDS)
            return f"{_dotted(path)} is not worker.channel.<task channel unique name>.<field> ({fields})"
    return None


# --- comparing values -------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind; lists and objects item by item."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "list":
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return set(a) == set(b) and all(_same(a[key], b[key]) for key in a)
    return bool(a == b)


def _different(a: Any, b: Any) -> bool:
    comparable = _kind(a) == _kind(b) or a is None or b is None
    return comparable and not _same(a, b)


def _ordered(check: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """``check`` for two numbers or two strings; false for anything else."""

    def compare(a: Any, b: Any) -> bool:
        kind = _kind(a)
        return kind in ("number", "string") and kind == _kind(b) and check(a, b)

    return compare


def _has(items: Any, value: Any) -> bool:
    return _kind(items) == "list" and any(_same(item, value) for item in items)


def _contains(a: Any, b: Any) -> bool:
    if isinstance(a, str):
        return isinstance(b, str) and b in a
    return _has(a, b)


_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": _same,
    "!=": _different,
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    "HAS": _has,
    "CONTAINS": _contains,
    "IN": lambda value, items: _has(items, value),
    "NOT IN": lambda value, items: _kind(items) == "list" and not _has(items, value),
}


# --- from parse tree to expression tree -------------------------------------------------------

_PATH_PART: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]")


@v_args(inline=True)
class _Build(Transformer[Token, Condition]):
    def string(self, token: Token) -> Constant:
        return Constant(re.sub(r"\\(.)", r"\1", token[1:-1], flags=re.DOTALL))

    def number(self, token: Token) -> Constant:
        return Constant(float(token) if "." in token else int(token))

    def true(self, _token: Token) -> Constant:
        return Constant(True)

    def false(self, _token: Token) -> Constant:
        return Constant(False)

    def null(self, _token: Token) -> Constant:
        return Constant(None)

    def items(self, *items: Constant) -> Constant:
        return Constant(tuple(item.value for item in items))

    def attribute(self, token: Token) -> Attribute:
        parts = _PATH_PART.findall(token)
        return Attribute(tuple(name if name else int(index) for name, index in parts))

    def comparison(self, left: Operand, operator: Token, right: Operand) -> Comparison:
        name = str(operator) if operator.type == "COMPARATOR" else operator.type
        return Comparison("==" if name == "=" else name, left, right)

    def not_in(self, left: Operand, _in: Token, right: Operand) -> Comparison:
        return Comparison("NOT IN", left, right)

    def not_(self, operand: Condition) -> Not:
        return Not(operand)

    def all_of(self, *operands: Condition) -> AllOf:
        return AllOf(operands)

    def any_of(self, *operands: Condition) -> AnyOf:
        return AnyOf(operands)


_BUILD: Final = _Build()


# --- errors -----------------------------------------------------------------------------------

_VALUES: Final = frozenset({"STRING", "NUMBER", "TRUE", "FALSE", "NULL", "_LSQB", "ATTRIBUTE"})
_CONSTANTS: Final = frozenset({"STRING", "NUMBER", "TRUE", "FALSE", "NULL"})
_COMPARING: Final = frozenset({"COMPARATOR", "HAS", "CONTAINS", "IN"})
_WORDS: Final = {  # in the order they are said
    "_AND": "AND",
    "_OR": "OR",
    "_RPAR": "')'",
    "_COMMA": "','",
    "_RSQB": "']'",
    "IN": "IN",
    "$END": "the end",
}


def _expected(names: set[str]) -> str:
    """What the parser could have taken next, in words."""
    if "_LPAR" in names:
        return "a condition"
    if len(names & _COMPARING) > 1:
        return "a comparison operator (==, !=, >, >=, <, <=, HAS, CONTAINS, IN or NOT IN)"
    if names & _VALUES == _CONSTANTS:
        return "a constant or ']'" if "_RSQB" in names else "a constant"
    if names & _VALUES:
        return "a value"
    words = [word for name, word in _WORDS.items() if name in names]
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


def _error(text: str, exc: UnexpectedToken) -> ExpressionError:
    """Says what was expected where. LALR merges the states of alike contexts, and reduces before
    it notices an error, so the terminals the failing state knew (``exc.expected``) need not be the
    ones that fit here: a fresh parser fed the tokens before the failing one says what it accepts."""
    at_end = exc.token.type == "$END"
    position = len(text) if at_end else exc.token.start_pos or 0
    before = list(takewhile(lambda token: (token.end_pos or 0) <= position, _PARSER.lex(text)))
    parser = _PARSER.parse_interactive("")
    for token in before:
        parser.feed_token(token)
    accepted: set[str] = parser.accepts()  # type: ignore[no-untyped-call]  # lark leaves it unannotated
    message = f"expected {_expected(accepted)}"
    if before:
        message += f" after '{before[-1]}'"
    message += f" at position {position}"
    if not at_end:
        message += f", found '{exc.token}'"
    return ExpressionError(message, text, position)


@lru_cache(maxsize=1024)
def parse_expression(text: str) -> Expression:
    """The expression ``text`` parsed; raises ``ExpressionError`` saying what was expected where.
    Expressions are immutable, so the parses of recent texts are kept."""
    if not text.strip():
        raise ExpressionError("the expression is empty", text, 0)
    try:
        tree = _PARSER.parse(text)
    except UnexpectedToken as exc:
        raise _error(text, exc) from None
    except UnexpectedCharacters as exc:
        position = exc.pos_in_stream or 0
        problem = "unterminated string" if text[position] in "\"'" else f"unexpected character {text[position]!r}"
        raise ExpressionError(f"{problem} at position {position}", text, position) from None
    return Expression(text, _BUILD.transform(tree))
