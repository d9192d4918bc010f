"""Studio definitions, split conditions and Liquid templates: pure functions, no stack."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.settings import parse_function_urls
from workflows.studio.conditions import CONDITION_TYPES, condition_matches
from workflows.studio.definition import SUPPORTED_WIDGETS, FlowProblem, function_url, parse_definition
from workflows.studio.engine import trigger_event
from workflows.studio.templates import check_template, render, render_value

pytestmark = pytest.mark.fast

# A messaging flow as Twilio's console exports it: layout offsets, flags, a voice widget on the
# incomingCall branch (not run by Switchboard), conditions with friendly names and arguments.
CONSOLE_FLOW: dict[str, Any] = {
    "description": "Messaging front door",
    "states": [
        {
            "name": "Trigger",
            "type": "trigger",
            "transitions": [
                {"next": "ask", "event": "incomingMessage"},
                {"next": "greet_caller", "event": "incomingCall"},
                {"event": "incomingConversationMessage"},
                {"next": "ask", "event": "incomingRequest"},
                {"event": "incomingParent"},
            ],
            "properties": {"offset": {"x": 0, "y": 0}},
        },
        {
            "name": "ask",
            "type": "send-and-wait-for-reply",
            "transitions": [
                {"next": "route", "event": "incomingMessage"},
                {"next": "remember", "event": "timeout"},
                {"event": "deliveryFailure"},
            ],
            "properties": {
                "offset": {"x": 40, "y": 220},
                "service": "{{trigger.message.InstanceSid}}",
                "channel": "{{trigger.message.ChannelSid}}",
                "from": "{{flow.channel.address}}",
                "body": "Hi {{trigger.message.From}}! Sales or support?",
                "timeout": "3600",
            },
        },
        {
            "name": "route",
            "type": "split-based-on",
            "transitions": [
                {"next": "remember", "event": "noMatch"},
                {
                    "next": "to_agent",
                    "event": "match",
                    "conditions": [
                        {
                            "friendly_name": "If value equal_to sales",
                            "arguments": ["{{widgets.ask.inbound.Body}}"],
                            "type": "equal_to",
                            "value": "sales",
                        }
                    ],
                },
                {
                    "next": "lookup",
                    "event": "match",
                    "conditions": [
                        {
                            "friendly_name": "order number",
                            "arguments": ["{{widgets.ask.inbound.Body}}"],
                            "type": "regex",
                            "value": "^#?\\d{6}$",
                        }
                    ],
                },
            ],
            "properties": {"input": "{{widgets.ask.inbound.Body}}", "offset": {"x": 60, "y": 470}},
        },
        {
            "name": "lookup",
            "type": "make-http-request",
            "transitions": [{"next": "to_agent", "event": "success"}, {"next": "to_agent", "event": "failed"}],
            "properties": {
                "offset": {"x": 380, "y": 700},
                "method": "POST",
                "content_type": "application/json;charset=utf-8",
                "body": '{"order": {{widgets.ask.inbound.Body | to_json}}}',
                "url": "https://orders.example.com/lookup",
            },
        },
        {
            "name": "remember",
            "type": "set-variables",
            "transitions": [{"next": "to_agent", "event": "next"}],
            "properties": {
                "variables": [{"value": "{{widgets.ask.inbound.Body | default: 'none'}}", "key": "topic"}],
                "offset": {"x": -300, "y": 700},
            },
        },
        {
            "name": "to_agent",
            "type": "send-to-flex",
            "transitions": [{"event": "callComplete"}, {"event": "failedToEnqueue"}, {"event": "callFailure"}],
            "properties": {
                "offset": {"x": 20, "y": 950},
                "workflow": "WW" + "0" * 32,
                "channel": "TC" + "0" * 32,
                "attributes": '{"name": "{{trigger.message.ChannelAttributes.from}}", '
                '"channelType": "{{trigger.message.ChannelAttributes.channel_type}}"}',
                "priority": "0",
                "timeout": "3600",
            },
        },
        {
            "name": "greet_caller",
            "type": "say-play",
            "transitions": [{"event": "audioComplete"}],
            "properties": {
                "voice": "alice",
                "offset": {"x": 500, "y": 220},
                "loop": 1,
                "say": "Hello",
                "language": "en",
            },
        },
    ],
    "initial_state": "Trigger",
    "flags": {"allow_concurrent_calls": True},
}


def flow() -> dict[str, Any]:
    return copy.deepcopy(CONSOLE_FLOW)


def state(raw: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in raw["states"] if s["name"] == name)
    return found


def single_error(raw: Any) -> FlowProblem:
    checked = parse_definition(raw)
    assert checked.definition is None and not checked.valid
    assert len(checked.errors) == 1, [str(e) for e in checked.errors]
    return checked.errors[0]


# --- definitions ------------------------------------------------------------------------------


def test_a_console_export_parses_with_a_warning_for_the_voice_widget() -> None:
    checked = parse_definition(flow())
    assert checked.valid and checked.errors == []
    definition = checked.definition
    assert definition is not None
    assert definition.initial_state == "Trigger"
    assert definition.description == "Messaging front door"
    assert list(definition.states) == ["Trigger", "ask", "route", "lookup", "remember", "to_agent", "greet_caller"]
    assert definition.states["ask"].properties["timeout"] == "3600"
    assert definition.states["ask"].properties["offset"] == {"x": 40, "y": 220}
    assert definition.states["Trigger"].next_for("incomingRequest") == "ask"
    assert definition.states["Trigger"].next_for("incomingParent") is None  # no next: the execution ends
    assert definition.states["Trigger"].next_for("noSuchEvent") is None
    route = definition.states["route"]
    assert [t.next for t in route.transitions if t.event == "match"] == ["to_agent", "lookup"]
    assert route.transitions[2].conditions[0]["type"] == "regex"

    assert [w.to_json() for w in checked.warnings] == [
        {
            "message": "widget type 'say-play' is not run by Switchboard; an execution reaching it ends",
            "property_path": "#/states/6/type",
        }
    ]
    assert checked.warnings[0].state == "greet_caller"
    assert str(checked.warnings[0]).startswith("state 'greet_caller': widget type 'say-play'")


def test_every_supported_widget_lists_its_events() -> None:
    assert set(SUPPORTED_WIDGETS) == {
        "trigger",
        "send-message",
        "send-and-wait-for-reply",
        "split-based-on",
        "set-variables",
        "make-http-request",
        "run-function",
        "send-to-flex",
    }
    # A console flow uses no event outside these lists (otherwise it would not have parsed).
    for raw_state in CONSOLE_FLOW["states"]:
        events = SUPPORTED_WIDGETS.get(raw_state["type"])
        if events is not None:
            assert {t["event"] for t in raw_state["transitions"]} <= set(events)


def test_missing_initial_state_is_an_error() -> None:
    raw = flow()
    del raw["initial_state"]
    problem = single_error(raw)
    assert problem.property_path == "#/initial_state"
    assert problem.message == "'initial_state' is missing"
    assert str(problem) == "#/initial_state: 'initial_state' is missing"


def test_initial_state_must_exist_and_be_a_trigger() -> None:
    raw = flow()
    raw["initial_state"] = "Start"
    problem = single_error(raw)
    assert problem.message == "initial state 'Start' is not a state of the flow"
    raw["initial_state"] = "ask"
    problem = single_error(raw)
    assert (problem.state, problem.message) == ("ask", "the initial state must be a trigger widget")


def test_transition_to_an_unknown_state_names_state_and_target() -> None:
    raw = flow()
    state(raw, "ask")["transitions"][0]["next"] = "nope"
    problem = single_error(raw)
    assert str(problem) == "state 'ask': transition 'incomingMessage' leads to unknown state 'nope'"
    assert problem.property_path == "#/states/1/transitions/0/next"
    assert problem.to_json() == {
        "message": "transition 'incomingMessage' leads to unknown state 'nope'",
        "property_path": "#/states/1/transitions/0/next",
    }


def test_an_event_the_widget_does_not_have_is_an_error() -> None:
    raw = flow()
    state(raw, "remember")["transitions"][0]["event"] = "success"
    problem = single_error(raw)
    assert problem.state == "remember"
    assert problem.message == "set-variables has no event 'success' (it has next)"


def test_bad_condition_type_is_an_error() -> None:
    raw = flow()
    state(raw, "route")["transitions"][1]["conditions"][0]["type"] = "sounds_like"
    problem = single_error(raw)
    assert problem.state == "route"
    assert problem.property_path == "#/states/2/transitions/1/conditions/0/type"
    assert problem.message.startswith("condition type 'sounds_like' is not one of ")
    assert "equal_to" in problem.message and "regex" in problem.message


def test_unparsable_liquid_is_a_warning_with_its_path() -> None:
    """Twilio saves a flow whose Liquid has a mistake; the widget fails when it runs."""
    raw = flow()
    state(raw, "ask")["properties"]["body"] = "Hi {{trigger.message.From"
    checked = parse_definition(raw)
    assert checked.valid and checked.definition is not None
    [problem] = [w for w in checked.warnings if w.state == "ask"]
    assert problem.property_path == "#/states/1/properties/body"
    assert problem.message.startswith("template does not parse: ")

    raw = flow()
    state(raw, "route")["transitions"][1]["conditions"][0]["arguments"] = ["{% if %}"]
    checked = parse_definition(raw)
    assert checked.valid
    [problem] = [w for w in checked.warnings if w.state == "route"]
    assert problem.property_path == "#/states/2/transitions/1/conditions/0/arguments/0"


def test_duplicate_state_names_are_an_error() -> None:
    raw = flow()
    raw["states"].append({"name": "ask", "type": "send-message", "transitions": [], "properties": {}})
    problem = single_error(raw)
    assert (problem.state, problem.property_path) == ("ask", "#/states/7/name")
    assert problem.message == "state name 'ask' is used twice"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "the definition must be a JSON object"),
        ({"initial_state": "Trigger", "states": []}, "'states' must be a non-empty list"),
        ({"initial_state": "Trigger", "states": [{"type": "trigger"}]}, "a state needs a non-empty 'name'"),
        ({"initial_state": "Trigger", "states": [{"name": "Trigger"}]}, "a state needs a widget 'type'"),
        (
            {"initial_state": "Trigger", "states": [{"name": "Trigger", "type": "trigger", "transitions": [{}]}]},
            "a transition needs an event name",
        ),
        (
            {"initial_state": "T", "states": [{"name": "T", "type": "trigger", "properties": ["x"]}]},
            "'properties' must be an object",
        ),
    ],
)
def test_malformed_definitions_name_the_problem(raw: Any, message: str) -> None:
    checked = parse_definition(raw)
    assert not checked.valid and checked.definition is None
    assert message in [e.message for e in checked.errors]


def test_every_error_is_reported_not_just_the_first() -> None:
    raw = flow()
    state(raw, "ask")["transitions"][0]["next"] = "nope"
    state(raw, "remember")["transitions"][0]["next"] = "gone"
    checked = parse_definition(raw)
    assert [str(e) for e in checked.errors] == [
        "state 'ask': transition 'incomingMessage' leads to unknown state 'nope'",
        "state 'remember': transition 'next' leads to unknown state 'gone'",
    ]
    assert len(checked.warnings) == 1  # the voice widget is still reported


def test_the_parsed_definition_survives_a_json_round_trip() -> None:
    text = json.dumps(CONSOLE_FLOW)
    assert parse_definition(json.loads(text)).valid


# --- conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "argument", "value", "expected"),
    [
        ("equal_to", "  Sales ", "sales", True),
        ("equal_to", "SALES", "  sales", True),
        ("equal_to", "sale", "sales", False),
        ("not_equal_to", " Sales", "SALES ", False),
        ("not_equal_to", "support", "sales", True),
        ("matches_any_of", " Yes ", "no, yes ,maybe", True),
        ("matches_any_of", "YES", "no,y", False),
        ("matches_any_of", "", "a,,b", False),  # empty options are dropped
        ("does_not_match_any_of", "stop", "STOP, quit", False),
        ("does_not_match_any_of", "go", "STOP, quit", True),
        ("contains", "Hello World", " WORLD ", True),
        ("contains", "Hello", "world", False),
        ("starts_with", "  Order 42", "order", True),
        ("starts_with", "my order", "order", False),
        ("regex", "order #123456", r"#\d{6}", True),
        ("regex", "ABC", "abc", False),  # regex is matched as written: case matters
        ("regex", "anything", "(", False),  # a bad pattern never matches, it does not raise
        ("is_blank", "   ", "", True),
        ("is_blank", " x ", "", False),
        ("is_not_blank", "\t", "", False),
        ("is_not_blank", "x", "", True),
        ("less_than", "9", "10", True),  # numbers compare as numbers...
        ("less_than", "10", " 9 ", False),
        ("greater_than", "1e3", "999", True),
        ("greater_than", "-1", "-2.5", True),
        ("less_than", "apple", "Banana", True),  # ...text as text, ignoring case
        ("greater_than", "b", "A", True),
        ("less_than", "10", "abc", True),  # a number and a word compare as text ("10" < "abc")
        ("greater_than", "same", " SAME ", False),
        ("less_than", "same", "same", False),
    ],
)
def test_conditions(kind: str, argument: str, value: str, expected: bool) -> None:
    assert condition_matches(kind, argument, value) is expected


NOON = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "argument", "value", "expected"),
    [
        ("does_not_contain", "Hello World", "world", False),
        ("does_not_contain", "Hello", "world", True),
        ("does_not_start_with", " Order 42", "ORDER", False),
        ("does_not_start_with", "my order", "order", True),
        ("is_before_time", "", "12:30", True),  # blank: now
        ("is_before_time", "", "11:59", False),
        ("is_after_time", "", "11:59", True),
        ("is_after_time", "2030-06-03T17:31:00Z", "17:30", True),
        ("is_after_time", "2030-06-03T19:31:00+02:00", "17:30", True),  # compared in UTC
        ("is_before_time", "08:59", "09:00", True),
        ("is_before_date", "", "2030-06-04", True),
        ("is_before_date", "", "2030-06-03", False),
        ("is_after_date", "2030-06-04", "2030-06-03", True),
        ("is_after_date", "2030-06-03T23:00:00Z", "2030-06-03", False),
        ("is_after_date", "soon", "2030-06-03", False),  # not a date: no match
        ("is_before_time", "", "noon", False),
    ],
)
def test_more_conditions(kind: str, argument: str, value: str, expected: bool) -> None:
    assert condition_matches(kind, argument, value, NOON) is expected


def test_condition_types_are_studios() -> None:
    studio_types = {
        "equal_to",
        "not_equal_to",
        "matches_any_of",
        "does_not_match_any_of",
        "contains",
        "does_not_contain",
        "starts_with",
        "does_not_start_with",
        "regex",
        "is_blank",
        "is_not_blank",
        "less_than",
        "greater_than",
        "is_before_time",
        "is_after_time",
        "is_before_date",
        "is_after_date",
    }
    assert studio_types == CONDITION_TYPES
    with pytest.raises(KeyError):
        condition_matches("sounds_like", "a", "a")


# --- templates --------------------------------------------------------------------------------


def test_templates_render_studio_context() -> None:
    context = {
        "trigger": {"message": {"Body": "hello", "From": "+15550001111"}},
        "flow": {"variables": {"topic": "billing"}, "data": {"name": "Zeke"}},
    }
    assert render("{{trigger.message.From}} says {{trigger.message.Body}}", context) == "+15550001111 says hello"
    assert render("{{ flow.variables.topic | upcase }} for {{flow.data.name}}", context) == "BILLING for Zeke"
    assert render("plain text, no tags", {}) == "plain text, no tags"
    assert render("{% if flow.data.name == 'Zeke' %}hi Zeke{% else %}who?{% endif %}", context) == "hi Zeke"


def test_undefined_names_render_empty() -> None:
    assert render("Hi {{trigger.message.Body}}!", {}) == "Hi !"
    assert render("[{{ widgets.ask.inbound.Body }}]", {"widgets": {}}) == "[]"
    assert render("{{ a.b.c.d }}", {"a": {"b": None}}) == ""


def test_to_json_filter() -> None:
    context = {"flow": {"data": {"items": [1, "two", None], "ok": True}}, "quote": 'he said "hi"'}
    assert render("{{ flow.data | to_json }}", context) == '{"items":[1,"two",null],"ok":true}'
    assert json.loads(render("{{ quote | to_json }}", context)) == 'he said "hi"'
    assert render('{"order": {{ n | to_json }}}', {"n": "#123"}) == '{"order": "#123"}'


def test_render_value_walks_dicts_and_lists() -> None:
    value = {"a": ["{{x}}", 3, {"b": "{{x}}-{{y}}"}], "n": None, "t": True, "plain": "text"}
    assert render_value(value, {"x": 1}) == {"a": ["1", 3, {"b": "1-"}], "n": None, "t": True, "plain": "text"}
    assert render_value("{{x}}", {"x": "y"}) == "y"
    assert render_value(7, {}) == 7


def test_check_template() -> None:
    assert check_template("{{ trigger.message.Body | downcase }}") is None
    assert check_template("no tags at all") is None
    problem = check_template("{{ foo")
    assert problem is not None and "\n" not in problem and problem
    assert check_template("{% if x %}never closed") is not None
    assert check_template("{% bogus %}") is not None


# --- flows exported from Twilio -------------------------------------------------------------


def exported_function(**properties: str) -> dict[str, Any]:
    return {
        "initial_state": "Trigger",
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingRequest", "next": "fn"}]},
            {"name": "fn", "type": "run-function", "transitions": [], "properties": properties},
        ],
    }


FUNCTION = "ZH" + "1" * 32
SERVICE = "ZS" + "2" * 32


@pytest.mark.parametrize(
    ("properties", "mapping", "url"),
    [
        ({"function_sid": FUNCTION, "url": ""}, {FUNCTION: "https://fn.example/a"}, "https://fn.example/a"),
        (
            {"function_sid": FUNCTION, "service_sid": SERVICE, "url": "https://x-1234-dev.twil.io/lookup"},
            {SERVICE: "https://fn.example/base/"},
            "https://fn.example/base/lookup",
        ),
        ({"function_sid": FUNCTION, "service_sid": SERVICE, "url": ""}, {SERVICE: "https://fn.example"}, ""),
        ({"url": "https://fn.example/direct"}, {}, "https://fn.example/direct"),
    ],
)
def test_functions_map_to_urls(properties: dict[str, str], mapping: dict[str, str], url: str) -> None:
    assert function_url(properties, mapping) == url
    checked = parse_definition(exported_function(**properties), mapping)
    assert checked.valid
    assert [w.property_path for w in checked.warnings] == ([] if url else ["#/states/1/properties/function_sid"])


def test_an_unmapped_function_is_a_warning_naming_it() -> None:
    checked = parse_definition(exported_function(function_sid=FUNCTION, service_sid=SERVICE, url=""))
    [warning] = checked.warnings
    assert FUNCTION in warning.message and "SWITCHBOARD_STUDIO_FUNCTION_URLS" in warning.message


def test_a_conversations_trigger_fires_and_only_the_subflow_trigger_is_warned_about() -> None:
    raw = flow()
    state(raw, "Trigger")["transitions"][2]["next"] = "ask"
    assert [w for w in parse_definition(raw).warnings if w.state == "Trigger"] == []
    state(raw, "Trigger")["transitions"][4]["next"] = "ask"
    checked = parse_definition(raw)
    assert checked.valid
    [warning] = [w for w in checked.warnings if w.state == "Trigger"]
    assert warning.property_path == "#/states/0/transitions/4/event"
    assert "incomingParent" in warning.message


def test_a_message_fires_the_trigger_event_the_flow_has() -> None:
    """``incomingConversationMessage`` from Conversations, ``incomingMessage`` otherwise; a trigger
    that leads somewhere on only one of them fires that one, wherever the flow is attached."""
    both = parse_definition(flow()).definition
    assert both is not None
    trigger = both.states["Trigger"]
    assert trigger_event(trigger, conversations=False) == "incomingMessage"
    assert trigger_event(trigger, conversations=True) == "incomingMessage"  # only incomingMessage leads on
    raw = flow()
    state(raw, "Trigger")["transitions"][2]["next"] = "ask"
    checked = parse_definition(raw).definition
    assert checked is not None
    assert trigger_event(checked.states["Trigger"], conversations=True) == "incomingConversationMessage"
    assert trigger_event(checked.states["Trigger"], conversations=False) == "incomingMessage"
    state(raw, "Trigger")["transitions"][0].pop("next")
    only_conversations = parse_definition(raw).definition
    assert only_conversations is not None
    assert trigger_event(only_conversations.states["Trigger"], conversations=False) == "incomingConversationMessage"


def test_the_function_url_setting_is_checked() -> None:
    mapping = {FUNCTION: "https://fn.example/a", SERVICE: "https://fn.example"}
    assert parse_function_urls(json.dumps(mapping)) == mapping
    assert parse_function_urls("") == {}
    for bad in ("[1]", "{nope", json.dumps({"XX1": "https://a"}), json.dumps({FUNCTION: "ftp://a"})):
        with pytest.raises(ValueError):
            parse_function_urls(bad)


def test_now_in_a_template_is_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """``{{ 'now' | date: ... }}`` (flows use it for opening hours) reads UTC, as Studio does, and in
    a workflow its clock: never the worker machine's local zone, which would differ between replays."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30: its minute is never UTC's
    time.tzset()
    try:
        before = datetime.now(UTC)
        minute = render("{{ 'now' | date: '%M' }}", {})
        after = datetime.now(UTC)
        assert minute in {before.strftime("%M"), after.strftime("%M")}
        seconds = int(render("{{ 'today' | date: '%s' }}", {}))
        assert int(before.timestamp()) <= seconds <= int(after.timestamp())
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
