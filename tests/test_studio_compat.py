"""Studio flows as Twilio saves them: flows exported from Twilio's console import through the
official client and run. What Twilio saves Switchboard saves too, with a warning for what it
cannot fully run (a Liquid mistake in one widget, a Function known only by its SID, a
Conversations trigger, a voice widget); at run time the widget fails and names its problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.helpers.flows import ended, sms_flex_flow
from tests.helpers.messages import conversation, text
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone
from workflows.studio.conditions import CONDITION_TYPES
from workflows.studio.definition import SUPPORTED_WIDGETS

FLOWS = Path(__file__).parent / "compat" / "flows"
# The Function the operator maps to a URL, and the one left unmapped (exported_functions.json).
MAPPED_FUNCTION = "ZH7d2e4f6a8b0c1d3e5f7a9b0c2d4e6f8a"
UNMAPPED_FUNCTION = "ZH1b3d5f7a9c0e2a4c6e8a0b2d4f6a8c0e"

# Studio's widget library by JSON type: the ones Switchboard runs, and the voice and other
# widgets it saves with a warning (an execution reaching one ends).
RUN_WIDGETS = {
    "trigger",
    "send-message",
    "send-and-wait-for-reply",
    "split-based-on",
    "set-variables",
    "make-http-request",
    "run-function",
    "send-to-flex",
}
WARNED_WIDGETS = {
    "say-play",
    "gather-input-on-call",
    "connect-call-to",
    "record-voicemail",
    "record-call",
    "enqueue-call",
    "make-outgoing-call-v2",
    "fork-stream",
    "capture-payments",
    "add-twiml-redirect",
    "run-subflow",
    "connect-virtual-agent",
    "send-to-autopilot",
}
# Studio's split-based-on condition types: every one runs.
STUDIO_CONDITIONS = {
    "equal_to",
    "not_equal_to",
    "matches_any_of",
    "does_not_match_any_of",
    "is_blank",
    "is_not_blank",
    "regex",
    "contains",
    "does_not_contain",
    "starts_with",
    "does_not_start_with",
    "less_than",
    "greater_than",
    "is_before_time",
    "is_after_time",
    "is_before_date",
    "is_after_date",
}


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FLOWS / name).read_text())
    return loaded


def import_flow(stack: Stack, name: str) -> Any:
    """Import an export as the console's "Import from JSON" does, through the official client."""
    return stack.twilio().studio.v2.flows.create(friendly_name=name, status="published", definition=load(name))


def step_path(execution: Any) -> list[tuple[str, str, str]]:
    return [(s.transitioned_from, s.name, s.transitioned_to) for s in execution.steps.list()]


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory, outside: RecordingServer) -> Stack:
    """The module's stack, whose operator mapped one exported Function to a URL (on the recording
    server)."""
    return make_stack(studio_function_urls=json.dumps({MAPPED_FUNCTION: f"{outside.url}/appointments"}))


def test_a_liquid_mistake_in_one_widget_is_a_warning_and_the_widget_fails_over(stack: Stack) -> None:
    flow = import_flow(stack, "liquid_typo.json")
    assert flow.valid is True and flow.errors == []
    [warning] = flow.warnings
    assert warning["property_path"] == "#/states/2/properties/body"
    assert warning["message"].startswith("template does not parse: ")
    validated = stack.twilio().studio.v2.flow_validate.update(
        friendly_name="typo", status="draft", definition=load("liquid_typo.json")
    )
    assert validated.valid is True

    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow.sid)
        text(stack, http, number, customer, "hi")
        assert conversation(http, service, 2)[1] == (number, "What is your order number?")
        text(stack, http, number, customer, "A-1234")
        # The broken confirmation takes its failure transition: the plain one is sent instead.
        assert conversation(http, service, 4)[3] == (number, "Looking up your order now.")

    [execution] = stack.twilio().studio.v2.flows(flow.sid).executions.list()
    execution = eventually(lambda: ended(stack, flow.sid, execution.sid))
    steps = execution.steps.list()
    assert [(s.transitioned_from, s.name, s.transitioned_to) for s in steps][:4] == [
        ("Trigger", "incomingMessage", "ask_order"),
        ("ask_order", "incomingMessage", "confirm"),
        ("confirm", "failed", "confirm_plain"),
        ("confirm_plain", "sent", "to_agent"),
    ]
    error = steps[2].context["error"]
    assert error.startswith("widget 'confirm' (send-message): Liquid template problem: "), error


def test_a_liquid_mistake_without_a_failure_transition_ends_the_execution_naming_the_widget(stack: Stack) -> None:
    definition = load("liquid_typo.json")
    confirm = next(s for s in definition["states"] if s["name"] == "confirm")
    confirm["transitions"] = [{"next": "to_agent", "event": "sent"}]
    flow = stack.twilio().studio.v2.flows.create(friendly_name="typo", status="published", definition=definition)
    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow.sid)
        text(stack, http, number, customer, "hi")
        conversation(http, service, 2)
        text(stack, http, number, customer, "A-1234")
        [execution] = stack.twilio().studio.v2.flows(flow.sid).executions.list()
        execution = eventually(lambda: ended(stack, flow.sid, execution.sid))
    steps = execution.steps.list()
    assert (steps[-1].transitioned_from, steps[-1].name, steps[-1].transitioned_to) == ("confirm", "failed", "Ended")
    assert steps[-1].context["error"].startswith("widget 'confirm' (send-message): Liquid template problem: ")


def test_what_twilio_refuses_is_still_refused(stack: Stack) -> None:
    definition = load("liquid_typo.json")
    definition["states"][1]["transitions"][0]["next"] = "nowhere"
    with pytest.raises(TwilioRestException) as refused:
        stack.twilio().studio.v2.flows.create(friendly_name="broken", status="draft", definition=definition)
    assert refused.value.status == 400
    assert "state 'ask_order': transition 'incomingMessage' leads to unknown state 'nowhere'" in str(refused.value.msg)


def test_exported_functions_run_through_the_operators_mapping(stack: Stack, outside: RecordingServer) -> None:
    outside.script("/appointments", Reply(200, {"when": "Tuesday 10:00"}))
    flow = import_flow(stack, "exported_functions.json")
    assert flow.valid is True
    [warning] = flow.warnings
    assert warning["property_path"] == "#/states/3/properties/function_sid"
    assert UNMAPPED_FUNCTION in warning["message"] and "SWITCHBOARD_STUDIO_FUNCTION_URLS" in warning["message"]

    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow.sid)
        execution = (
            stack.twilio()
            .studio.v2.flows(flow.sid)
            .executions.create(to=customer, from_=number, parameters={"reason": "checkup"})
        )
        assert conversation(http, service, 1) == [(number, "Your next appointment: Tuesday 10:00")]
    execution = eventually(lambda: ended(stack, flow.sid, execution.sid))
    [call] = outside.received("/appointments")
    assert call.method == "POST"
    assert call.form == {"phone": customer, "reason": "checkup"}
    steps = execution.steps.list()
    assert [(s.transitioned_from, s.name, s.transitioned_to) for s in steps] == [
        ("Trigger", "incomingRequest", "lookup_appointment"),
        ("lookup_appointment", "success", "notify_customer"),
        ("notify_customer", "sent", "log_contact"),
        ("log_contact", "fail", "Ended"),
    ]
    assert UNMAPPED_FUNCTION in steps[-1].context["error"]


def test_every_studio_widget_is_run_or_warned_about_never_refused(stack: Stack) -> None:
    states: list[dict[str, Any]] = [
        {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingRequest", "next": "w0"}]}
    ]
    widgets = sorted(WARNED_WIDGETS)
    for index, kind in enumerate(widgets):
        following = f"w{index + 1}" if index + 1 < len(widgets) else None
        transitions = [{"event": "next", "next": following}] if following else []
        states.append({"name": f"w{index}", "type": kind, "transitions": transitions, "properties": {}})
    flow = stack.twilio().studio.v2.flows.create(
        friendly_name="library", status="draft", definition={"initial_state": "Trigger", "states": states}
    )
    assert flow.valid is True
    assert [w["property_path"] for w in flow.warnings] == [f"#/states/{i + 1}/type" for i in range(len(widgets))]
    assert set(SUPPORTED_WIDGETS) == RUN_WIDGETS


def test_every_studio_condition_type_runs() -> None:
    assert STUDIO_CONDITIONS == CONDITION_TYPES
