"""Studio flow definitions: parsing Studio's JSON and checking it the way Studio's Flow API does.

A definition is ``{"description", "initial_state", "flags", "states": [{"name", "type",
"transitions": [{"event", "next", "conditions"}], "properties"}]}``. Problems that make a flow
unrunnable are errors (the API refuses it, as Twilio's does); everything Twilio saves but
Switchboard cannot fully run is a warning in the flow's ``warnings``: widgets Switchboard does not
run (an execution reaching one ends cleanly), Liquid that does not parse (the widget fails when it
runs, taking its failure transition where it has one), ``run-function`` widgets whose function has
no URL here, and the subflow trigger event (``incomingParent``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows.studio.conditions import CONDITION_TYPES
from workflows.studio.templates import check_template

# The widgets Switchboard runs, with the transition events each can take.
SUPPORTED_WIDGETS: dict[str, tuple[str, ...]] = {
    "trigger": (
        "incomingMessage",
        "incomingCall",
        "incomingConversationMessage",
        "incomingRequest",
        "incomingParent",
    ),
    "send-message": ("sent", "failed"),
    "send-and-wait-for-reply": ("incomingMessage", "timeout", "deliveryFailure"),
    "split-based-on": ("noMatch", "match"),
    "set-variables": ("next",),
    "make-http-request": ("success", "failed"),
    "run-function": ("success", "fail"),
    "send-to-flex": ("callComplete", "failedToEnqueue", "callFailure"),
}
# The event each widget takes when it cannot run (a template that does not render, a function
# with no URL), as Studio's widgets do on their own failures.
FAILURE_EVENTS: dict[str, str] = {
    "send-message": "failed",
    "send-and-wait-for-reply": "deliveryFailure",
    "make-http-request": "failed",
    "run-function": "fail",
    "send-to-flex": "failedToEnqueue",
}
# Trigger events that never fire here: a flow started by another flow (Switchboard runs no
# subflows). ``incomingConversationMessage`` fires (``engine.trigger_event``).
UNFIRED_TRIGGERS = ("incomingParent",)
# Where operators map Twilio Functions to URLs (switchboard.settings).
FUNCTION_URLS_SETTING = "SWITCHBOARD_STUDIO_FUNCTION_URLS"
MAX_STATES = 1000
# The longest definition text (JSON) the API takes.
MAX_DEFINITION_CHARS = 4 * 1024 * 1024


@dataclass(frozen=True)
class Transition:
    event: str
    next: str | None
    conditions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class State:
    name: str
    type: str
    transitions: list[Transition]
    properties: dict[str, Any]

    def next_for(self, event: str) -> str | None:
        """Where the ``event`` transition leads; None ends the execution."""
        for transition in self.transitions:
            if transition.event == event:
                return transition.next
        return None


@dataclass(frozen=True)
class FlowDefinition:
    initial_state: str
    states: dict[str, State]
    description: str = ""


@dataclass(frozen=True)
class FlowProblem:
    """One error or warning, in the shape of Studio's ``errors``/``warnings`` entries."""

    message: str
    property_path: str
    state: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "property_path": self.property_path}

    def __str__(self) -> str:
        where = f"state {self.state!r}" if self.state else self.property_path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class CheckedDefinition:
    definition: FlowDefinition | None
    errors: list[FlowProblem]
    warnings: list[FlowProblem]

    @property
    def valid(self) -> bool:
        return not self.errors


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its JSON-pointer-like path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}/{i}")


def _parse_transition(raw: Any, path: str, state: str, errors: list[FlowProblem]) -> Transition | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
        errors.append(FlowProblem("a transition needs an event name", path, state))
        return None
    nxt = raw.get("next")
    if nxt is not None and not isinstance(nxt, str):
        errors.append(FlowProblem("'next' must be a state name", f"{path}/next", state))
        return None
    conditions = raw.get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        errors.append(FlowProblem("'conditions' must be a list of objects", f"{path}/conditions", state))
        return None
    return Transition(raw["event"], nxt or None, conditions)


def function_url(properties: Mapping[str, Any], function_urls: Mapping[str, str]) -> str:
    """The URL a ``run-function`` widget calls: its function SID's mapping; else its ``url`` with
    the scheme and host of its service SID's mapping (a service hosted elsewhere); else its
    ``url``. Empty when none of these gives one."""
    url = str(properties.get("url") or "")
    mapped = function_urls.get(str(properties.get("function_sid") or ""))
    if mapped:
        return mapped
    base = function_urls.get(str(properties.get("service_sid") or ""))
    if base and url:
        path = url.split("://", 1)[-1].partition("/")[2]
        return f"{base.rstrip('/')}/{path}"
    return url


def _check_function(state: State, path: str, function_urls: Mapping[str, str], warnings: list[FlowProblem]) -> None:
    if function_url(state.properties, function_urls):
        return
    function_sid = str(state.properties.get("function_sid") or "")
    if function_sid:
        message = (
            f"function {function_sid} has no URL here: map it (or give the widget a url and map its service "
            f"{state.properties.get('service_sid') or ''}) in {FUNCTION_URLS_SETTING}; until then the widget fails"
        )
    else:
        message = "the widget names no function and no url; it fails when it runs"
    warnings.append(FlowProblem(message, f"{path}/properties/function_sid", state.name))


def _check_templates(state: State, path: str, warnings: list[FlowProblem]) -> None:
    """Liquid that does not parse: Twilio saves it, and so does Switchboard, with a warning."""
    texts = list(_strings(state.properties, f"{path}/properties"))
    for t_index, transition in enumerate(state.transitions):
        texts.extend(_strings(transition.conditions, f"{path}/transitions/{t_index}/conditions"))
    for s_path, text in texts:
        problem = check_template(text)
        if problem is not None:
            warnings.append(
                FlowProblem(f"template does not parse: {problem}; the widget fails when it runs", s_path, state.name)
            )


def _check_state(
    state: State,
    index: int,
    names: set[str],
    function_urls: Mapping[str, str],
    errors: list[FlowProblem],
    warnings: list[FlowProblem],
) -> None:
    path = f"#/states/{index}"
    events = SUPPORTED_WIDGETS.get(state.type)
    if events is None:
        warnings.append(
            FlowProblem(
                f"widget type {state.type!r} is not run by Switchboard; an execution reaching it ends",
                f"{path}/type",
                state.name,
            )
        )
    for t_index, transition in enumerate(state.transitions):
        t_path = f"{path}/transitions/{t_index}"
        if transition.next is not None and transition.next not in names:
            errors.append(
                FlowProblem(
                    f"transition {transition.event!r} leads to unknown state {transition.next!r}",
                    f"{t_path}/next",
                    state.name,
                )
            )
        if events is not None and transition.event not in events:
            errors.append(
                FlowProblem(
                    f"{state.type} has no event {transition.event!r} (it has {', '.join(events)})",
                    f"{t_path}/event",
                    state.name,
                )
            )
        for c_index, condition in enumerate(transition.conditions):
            kind = condition.get("type")
            if kind not in CONDITION_TYPES:
                errors.append(
                    FlowProblem(
                        f"condition type {kind!r} is not one of {', '.join(sorted(CONDITION_TYPES))}",
                        f"{t_path}/conditions/{c_index}/type",
                        state.name,
                    )
                )
    if state.type == "trigger":
        for t_index, transition in enumerate(state.transitions):
            if transition.event in UNFIRED_TRIGGERS and transition.next is not None:
                warnings.append(
                    FlowProblem(
                        f"trigger event {transition.event!r} starts a flow from another flow (run-subflow), which "
                        "Switchboard does not run: it never fires here",
                        f"{path}/transitions/{t_index}/event",
                        state.name,
                    )
                )
    if state.type == "run-function":
        _check_function(state, path, function_urls, warnings)
    _check_templates(state, path, warnings)


def parse_definition(raw: Any, function_urls: Mapping[str, str] | None = None) -> CheckedDefinition:
    """Parse and check a definition (already decoded from JSON); ``function_urls`` is the
    operator's Functions mapping, for the warnings about ``run-function`` widgets."""
    errors: list[FlowProblem] = []
    warnings: list[FlowProblem] = []
    if not isinstance(raw, dict):
        return CheckedDefinition(None, [FlowProblem("the definition must be a JSON object", "#")], [])
    raw_states = raw.get("states")
    if not isinstance(raw_states, list) or not raw_states:
        errors.append(FlowProblem("'states' must be a non-empty list", "#/states"))
        raw_states = []
    if len(raw_states) > MAX_STATES:
        errors.append(FlowProblem(f"a flow has at most {MAX_STATES} states", "#/states"))
    states: dict[str, State] = {}
    for index, raw_state in enumerate(raw_states):
        path = f"#/states/{index}"
        if not isinstance(raw_state, dict) or not isinstance(raw_state.get("name"), str) or not raw_state["name"]:
            errors.append(FlowProblem("a state needs a non-empty 'name'", path))
            continue
        name = raw_state["name"]
        if not isinstance(raw_state.get("type"), str):
            errors.append(FlowProblem("a state needs a widget 'type'", f"{path}/type", name))
            continue
        if name in states:
            errors.append(FlowProblem(f"state name {name!r} is used twice", f"{path}/name", name))
            continue
        raw_transitions = raw_state.get("transitions") or []
        if not isinstance(raw_transitions, list):
            errors.append(FlowProblem("'transitions' must be a list", f"{path}/transitions", name))
            raw_transitions = []
        transitions = [
            t
            for t_index, rt in enumerate(raw_transitions)
            if (t := _parse_transition(rt, f"{path}/transitions/{t_index}", name, errors)) is not None
        ]
        properties = raw_state.get("properties") or {}
        if not isinstance(properties, dict):
            errors.append(FlowProblem("'properties' must be an object", f"{path}/properties", name))
            properties = {}
        states[name] = State(name, raw_state["type"], transitions, properties)
    initial = raw.get("initial_state")
    if not isinstance(initial, str) or not initial:
        errors.append(FlowProblem("'initial_state' is missing", "#/initial_state"))
    elif states and initial not in states:
        errors.append(FlowProblem(f"initial state {initial!r} is not a state of the flow", "#/initial_state", initial))
    elif initial in states and states[initial].type != "trigger":
        errors.append(FlowProblem("the initial state must be a trigger widget", "#/initial_state", initial))
    names = set(states)
    for index, state in enumerate(states.values()):
        _check_state(state, index, names, function_urls or {}, errors, warnings)
    if errors or not isinstance(initial, str):
        return CheckedDefinition(None, errors, warnings)
    return CheckedDefinition(FlowDefinition(initial, states, str(raw.get("description", ""))), errors, warnings)
