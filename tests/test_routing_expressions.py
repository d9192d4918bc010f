"""TaskRouter's expression language: parsing (operators, precedence, keywords, constants, paths)
and the errors it gives, then evaluation against attributes, task and worker documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.routing.expressions import (
    AllOf,
    AnyOf,
    Attribute,
    Comparison,
    Constant,
    ExpressionError,
    Not,
    parse_expression,
    time_variables,
    unsupported,
)

pytestmark = pytest.mark.fast

WORKER: dict[str, Any] = {
    "skills": ["support", "sales"],
    "languages": ["en", "fr"],
    "language": "en",
    "level": 3,
    "rating": 4.5,
    "name": "Alice Smith",
    "vip": True,
    "manager": None,
    "routing": {"skills": ["billing"], "levels": {"billing": 5}},
    "shifts": [{"day": "mon"}, {"day": "tue"}],
}


def matches(text: str, attributes: dict[str, Any] | None = None, **documents: Any) -> bool:
    return parse_expression(text).evaluate(WORKER if attributes is None else attributes, **documents)


# --- parsing ----------------------------------------------------------------------------------


def test_a_comparison_parses_to_its_tree_with_or_without_spaces() -> None:
    expected = Comparison("==", Constant(1), Constant(1))
    assert parse_expression("1==1").condition == expected
    assert parse_expression("1 == 1").condition == expected
    assert parse_expression("1 = 1").condition == expected  # = is ==
    assert parse_expression("  1 ==\n1 ").text == "  1 ==\n1 "


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    a, b, c = (Comparison("==", Attribute((name,)), Constant(1)) for name in "abc")
    assert parse_expression("a == 1 OR b == 1 AND c == 1").condition == AnyOf((a, AllOf((b, c))))
    assert parse_expression("a == 1 AND b == 1 OR c == 1").condition == AnyOf((AllOf((a, b)), c))
    assert parse_expression("(a == 1 OR b == 1) AND c == 1").condition == AllOf((AnyOf((a, b)), c))
    assert parse_expression("NOT a == 1 AND b == 1").condition == AllOf((Not(a), b))
    assert parse_expression("NOT (a == 1 AND b == 1)").condition == Not(AllOf((a, b)))
    assert parse_expression("a == 1 OR b == 1 OR c == 1").condition == AnyOf((a, b, c))
    assert parse_expression("((a == 1))").condition == a
    assert parse_expression("NOT NOT a == 1").condition == Not(Not(a))


def test_keywords_are_case_insensitive_and_names_are_not_keywords() -> None:
    lower = parse_expression('skills has "x" and not level in [1] or name contains "y" and x not in [2]')
    upper = parse_expression('skills HAS "x" AND NOT level IN [1] OR name CONTAINS "y" AND x NOT IN [2]')
    assert lower.condition == upper.condition
    assert parse_expression("flag == TRUE or flag == False or flag == Null").condition == AnyOf(
        tuple(Comparison("==", Attribute(("flag",)), Constant(value)) for value in (True, False, None))
    )
    # Names that start with a keyword are names.
    names = parse_expression(
        "order == 1 AND android == 1 AND notes == 1 AND hash == 1 AND index == 1 AND nullable == 1"
    )
    assert isinstance(names.condition, AllOf)
    assert [c.left for c in names.condition.operands if isinstance(c, Comparison)] == [
        Attribute((name,)) for name in ("order", "android", "notes", "hash", "index", "nullable")
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"en"', "en"),
        ("'en'", "en"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"a \"quoted\" word"', 'a "quoted" word'),
        (r"'back\\slash'", "back\\slash"),
        ('""', ""),
        ('"AND OR == ("', "AND OR == ("),
        ("42", 42),
        ("-7", -7),
        ("5.1", 5.1),
        ("-0.25", -0.25),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[\"en\", 'fr', 3, -1.5, true, null]", ("en", "fr", 3, -1.5, True, None)),
        ("[]", ()),
    ],
)
def test_constants(text: str, value: Any) -> None:
    comparison = parse_expression(f"x == {text}").condition
    assert isinstance(comparison, Comparison) and isinstance(comparison.right, Constant)
    assert comparison.right == Constant(value)
    assert type(comparison.right.value) is type(value)  # 42 stays an int, 5.1 a float, true is no 1


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("skills", ("skills",)),
        ("routing.skills", ("routing", "skills")),
        ("task.language", ("task", "language")),
        ("worker.routing.levels.billing", ("worker", "routing", "levels", "billing")),
        ("languages[1]", ("languages", 1)),
        ("shifts[0].day", ("shifts", 0, "day")),
        ("_private_2", ("_private_2",)),
    ],
)
def test_attribute_paths(text: str, path: tuple[str | int, ...]) -> None:
    assert parse_expression(f"{text} == 1").condition == Comparison("==", Attribute(path), Constant(1))


def test_every_operator_parses_to_its_name() -> None:
    for written, name in [
        ("==", "=="),
        ("=", "=="),
        ("!=", "!="),
        (">", ">"),
        (">=", ">="),
        ("<", "<"),
        ("<=", "<="),
        ("HAS", "HAS"),
        ("CONTAINS", "CONTAINS"),
        ("IN", "IN"),
        ("NOT IN", "NOT IN"),
        ("not   in", "NOT IN"),
    ]:
        assert parse_expression(f"a {written} b").condition == Comparison(name, Attribute(("a",)), Attribute(("b",)))


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("lang ==", "expected a value after '==' at position 7", 7),
        ("skills HAS )", "expected a value after 'HAS' at position 11, found ')'", 11),
        (
            "skills",
            "expected a comparison operator (==, !=, >, >=, <, <=, HAS, CONTAINS, IN or NOT IN) after 'skills'",
            6,
        ),
        ("a == 1 b == 2", "expected AND, OR or the end after '1' at position 7, found 'b'", 7),
        ("(a == 1", "expected AND, OR or ')' after '1' at position 7", 7),
        ("a == 1)", "expected AND, OR or the end after '1' at position 6, found ')'", 6),
        ("a == 1 AND", "expected a condition after 'AND' at position 10", 10),
        ("a == 1 or OR b == 2", "expected a condition after 'or' at position 10, found 'OR'", 10),
        ("NOT", "expected a condition after 'NOT' at position 3", 3),
        ("a NOT [1]", "expected IN after 'NOT' at position 6, found '['", 6),
        ("a IN [1 2]", "expected ',' or ']' after '1' at position 8, found '2'", 8),
        ("a IN [1,", "expected a constant after ',' at position 8", 8),
        ("a IN [b]", "expected a constant or ']' after '[' at position 6, found 'b'", 6),
        ("in == 1", "expected a condition at position 0, found 'in'", 0),
        ("skill-level == 1", "unexpected character '-' at position 5", 5),
        ('name == "Alice', "unterminated string at position 8", 8),
        ("a == 1 && b == 2", "unexpected character '&' at position 7", 7),
        ("", "the expression is empty", 0),
        ("   ", "the expression is empty", 0),
    ],
)
def test_errors_say_what_was_expected_where(text: str, message: str, position: int) -> None:
    with pytest.raises(ExpressionError) as refused:
        parse_expression(text)
    assert str(refused.value).startswith(message), str(refused.value)
    assert refused.value.position == position
    assert refused.value.column == position + 1
    assert isinstance(refused.value, ValueError)


def test_an_error_column_counts_from_the_start_of_its_line() -> None:
    with pytest.raises(ExpressionError) as refused:
        parse_expression("a == 1 AND\n  b == )")
    assert (refused.value.position, refused.value.column) == (18, 8)
    assert str(refused.value) == "expected a value after '==' at position 18, found ')'"


# --- evaluation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 == 1", True),
        ("1 == 2", False),
        ('"apple" != "orange"', True),
        ('language == "en"', True),
        ('language = "en"', True),
        ('language == "EN"', False),  # case-sensitive
        ('language != "fr"', True),
        ('language != "en"', False),
        ("level == 3", True),
        ("level == 3.0", True),  # numbers compare numerically
        ("level > 2", True),
        ("level > 3", False),
        ("level >= 3", True),
        ("level < 3", False),
        ("level <= 3", True),
        ("rating > 4.4 AND rating < 4.6", True),
        ("level > -1", True),
        ('name > "Aardvark"', True),  # strings order by code point
        ('name < "B"', True),
        ('skills HAS "support"', True),
        ('skills HAS "Support"', False),
        ('skills HAS "billing"', False),
        ('name CONTAINS "Smith"', True),
        ('name CONTAINS "smith"', False),
        ('skills CONTAINS "sales"', True),  # a list contains its items
        ('skills CONTAINS "sal"', False),
        ('language IN ["en", "es"]', True),
        ('language IN ["de", "es"]', False),
        ("language IN languages", True),  # a list held by an attribute
        ('language NOT IN ["de", "es"]', True),
        ('language NOT IN ["en"]', False),
        ('"de" NOT IN languages', True),
        ("level IN [1, 2, 3]", True),
        ("level IN [1.5, 2]", False),
        ("vip == true", True),
        ("vip != false", True),
        ("manager == null", True),
        ("manager != null", False),
        ("name != null", True),
        ('routing.skills HAS "billing"', True),
        ("routing.levels.billing >= 5", True),
        ('languages[1] == "fr"', True),
        ('shifts[1].day == "tue"', True),
        ('skills == ["support", "sales"]', True),
        ('skills == ["sales", "support"]', False),
        ('routing.skills == ["billing"]', True),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("level == 1 OR level == 3 AND vip == true", True),
        ("level == 3 OR level == 1 AND vip == false", True),  # AND first: 3 OR (1 AND ...)
        ("(level == 3 OR level == 1) AND vip == false", False),
        ("NOT level == 3", False),
        ("NOT level == 1 AND vip == true", True),
        ("NOT (level == 1 AND vip == true)", True),
        ("NOT (level == 3 AND vip == true)", False),
        ('(skills HAS "support") AND (languages HAS "en")', True),
        ('(language == "en" OR language == "fr") AND rating >= 5.1', False),
    ],
)
def test_logic(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        'level == "3"',  # a number is not a string
        'level != "3"',  # nor different from one: the comparison does not apply
        'level > "2"',
        "name > 1",
        "vip > false",
        "skills > 1",
        '"sales" HAS "s"',  # HAS needs a list
        'language IN "english"',  # IN needs a list
        'language NOT IN "english"',
        "level CONTAINS 3",
        "vip == 1",  # true is not 1
        "routing == 1",
    ],
)
def test_mismatched_types_are_false(text: str) -> None:
    assert matches(text) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("missing == 1", False),
        ("missing != 1", False),  # != holds only for an attribute that exists
        ('missing NOT IN ["a"]', False),
        ("missing == null", True),  # a missing key resolves to null, as TaskRouter documents
        ("missing != null", False),
        ("null == missing", True),
        ("NOT missing != null", True),
        ("NOT missing == 1", True),  # the way to match workers without the attribute too
        ("skills HAS missing", False),  # missing on the right too
        ("routing.missing == 1", False),
        ("language.deeper == 1", False),  # below a string
        ("languages[5] == 1", False),  # past the end
        ("routing[0] == 1", False),  # an index into an object
        ("missing == 1 OR level == 3", True),
    ],
)
def test_missing_attributes(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_task_and_worker_prefixes() -> None:
    task = {"language": "fr", "required_skill": "sales", "priority": 5}
    worker = {"skills": ["sales"], "languages": ["fr", "de"]}
    attributes = {"language": "en", "skills": []}

    # With the documents given, prefixed names resolve in them and the rest in attributes.
    assert matches("worker.skills HAS task.required_skill", attributes, task=task, worker=worker)
    assert matches("task.language IN worker.languages", attributes, task=task, worker=worker)
    assert matches('language == "en" AND task.language == "fr"', attributes, task=task, worker=worker)
    assert not matches("skills HAS task.required_skill", attributes, task=task, worker=worker)
    assert not matches("task.skills == []", attributes, task=task, worker=worker)  # not looked up in attributes

    # Without them, the prefix is dropped and the name resolves in attributes: a queue's
    # target_workers may say either.
    assert matches('worker.skills HAS "sales"', worker)
    assert matches('skills HAS "sales"', worker)
    assert matches("task.priority > 4", task)
    assert matches("task.priority > 4", task, worker=worker)  # only the worker given
    assert not matches('worker.skills HAS "sales"', worker, task=task, worker={})

    # A name that is only "task" or "worker" is an attribute like any other.
    assert matches('worker == "yes"', {"worker": "yes"}, worker=worker)
    assert matches('task.kind == "chat"', {"task": {"kind": "x"}, "kind": "chat"})


def test_parsing_is_cached_and_expressions_are_values() -> None:
    first = parse_expression('skills HAS "support"')
    assert parse_expression('skills HAS "support"') is first
    assert first == parse_expression.__wrapped__('skills HAS "support"')
    assert hash(first) == hash(parse_expression.__wrapped__('skills HAS "support"'))
    with pytest.raises(AttributeError):
        first.text = "changed"  # type: ignore[misc]


# --- the router's worker fields and time of day ---------------------------------------------------

# As the router builds them (``placement.worker_fields``): a worker with two of three chat slots
# taken, voice free, sms switched off.
FIELDS: dict[str, Any] = {
    "sid": "WK0123",
    "activity_sid": "WA0123",
    "activity_name": "Available",
    "channel": {
        "chat": {"assigned_tasks": 2, "available": True, "available_capacity_percentage": 33, "configured_capacity": 3},
        "voice": {
            "assigned_tasks": 0,
            "available": True,
            "available_capacity_percentage": 100,
            "configured_capacity": 1,
        },
        "sms": {"assigned_tasks": 0, "available": False, "available_capacity_percentage": 0, "configured_capacity": 0},
    },
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("worker.channel.chat.assigned_tasks == 2", True),
        ("worker.channel.chat.assigned_tasks <= 1", False),
        ("worker.channel.voice.assigned_tasks == 0 AND worker.channel.chat.assigned_tasks < 3", True),
        ("worker.channel.voice.available_capacity_percentage == 100", True),
        ("worker.channel.chat.available_capacity_percentage > 50", False),
        ("worker.channel.chat.configured_capacity > 0", True),
        ("worker.channel.sms.available == false", True),
        ("worker.channel.voice.available == true", True),
        ("worker.channel.fax.assigned_tasks == 0", False),  # no such channel
        ("worker.sid == task.targetSid", True),
        ("worker.activity_name IN ['Available', 'Busy']", True),
        ("worker.activity_sid == 'WA0123'", True),
        ('worker.skills HAS "support"', True),  # attributes still resolve
    ],
)
def test_worker_fields(text: str, expected: bool) -> None:
    worker = {"skills": ["support"], "channel": {"chat": {"assigned_tasks": 9}}, "sid": "attribute"}
    task = {"targetSid": "WK0123"}
    assert parse_expression(text).evaluate(worker, worker=worker, worker_fields=FIELDS, task=task) is expected


def test_time_variables_are_taskrouters() -> None:
    # A Saturday, 18:05 UTC.
    now = datetime(2026, 12, 5, 18, 5, tzinfo=UTC)
    assert time_variables(now) == {
        "businessOpen": True,  # Switchboard's own: no schedule, open
        "currentTime": 1805,
        "currentHour": 18,
        "currentMin": 5,
        "currentMinute": 5,
        "dayOfWeek": "Sat",
    }
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    week = [time_variables(monday + timedelta(days=day))["dayOfWeek"] for day in range(7)]
    assert week == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert time_variables(monday)["currentTime"] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("taskrouter.currentTime > 0800 AND taskrouter.currentTime < 1830", True),
        ("taskrouter.currentTime > 1805", False),
        ("taskrouter.currentHour > 8 AND taskrouter.currentHour < 18", False),
        ("taskrouter.currentHour >= 18", True),
        ("taskrouter.currentMin > 1 AND taskrouter.currentMin < 10", True),
        ("taskrouter.currentMinute == 5", True),
        ("taskrouter.dayOfWeek IN ['Sat', 'Sun']", True),
        ("taskrouter.dayOfWeek = 'Sat' AND taskrouter.currentTime > 1100 AND taskrouter.currentTime < 1830", True),
        ("taskrouter.dayOfWeek IN ['Mon', 'Tue', 'Wed', 'Thu', 'Fri']", False),
        ("taskrouter.dayOfWeek == 'sat'", False),  # strings are case-sensitive
    ],
)
def test_time_of_day(text: str, expected: bool) -> None:
    clock = time_variables(datetime(2026, 12, 5, 18, 5, tzinfo=UTC))
    assert parse_expression(text).evaluate({}, task={}, taskrouter=clock) is expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("taskrouter.currentSecond > 5", "taskrouter.currentSecond is not a TaskRouter variable"),
        ("taskrouter.dayOfWeek.name == 'x'", "taskrouter.dayOfWeek.name is not a TaskRouter variable"),
        ("worker.channel.chat.capacity > 0", "worker.channel.chat.capacity is not worker.channel."),
        ("worker.channel.chat == 1", "worker.channel.chat is not worker.channel."),
        ("1 == 1 AND NOT worker.channel.voice.assigned_tasks.x == 0", "worker.channel.voice.assigned_tasks.x"),
    ],
)
def test_what_the_router_cannot_evaluate_is_named(text: str, problem: str) -> None:
    found = unsupported(parse_expression(text))
    assert found is not None and found.startswith(problem), found


@pytest.mark.parametrize(
    "text",
    [
        "1==1",
        "worker.channel.chat.assigned_tasks == 0",
        "worker.channel.voice.available_capacity_percentage == 100",
        "taskrouter.dayOfWeek IN ['Mon'] AND taskrouter.currentTime > 800",
        'skills HAS "x" AND channel.chat == 1',  # an attribute named channel
        "taskrouter == 1",
    ],
)
def test_what_the_router_evaluates_passes(text: str) -> None:
    assert unsupported(parse_expression(text)) is None
