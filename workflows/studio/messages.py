"""Dataclasses of Studio executions that cross the workflow boundary: the update that starts one
from the REST trigger, the state a channel run carries across continue-as-new, and the inputs and
outputs of Studio's activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StartExecution:
    """The REST trigger (``incomingRequest``): Studio's ``Executions`` create."""

    execution_sid: str
    flow_sid: str
    # The contact's address (``To``) and the business's (``From``).
    to: str
    from_: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecutionStarted:
    execution_sid: str
    flow_sid: str
    revision: int


@dataclass
class EndExecution:
    execution_sid: str


@dataclass
class ExecutionState:
    """A running execution, small enough to carry across continue-as-new. The definition itself
    is reloaded by revision."""

    execution_sid: str
    flow_sid: str
    revision: int
    # The state to run next, or the one waiting for a reply.
    current: str | None
    # Studio's context: trigger, flow (variables, data, channel), contact, widgets.
    context: dict[str, Any]
    steps: int = 0
    # Set while a send-and-wait-for-reply waits: when its timeout fires (epoch seconds).
    wait_deadline: float | None = None
    # Started from Conversations (an address configuration, a conversation's studio webhook): a
    # customer's message fires the trigger's ``incomingConversationMessage``.
    conversations: bool = False


# --- activity inputs and outputs -------------------------------------------------------------


@dataclass
class LoadFlow:
    flow_sid: str
    # None = the revision new executions run (the latest published one, else the latest).
    revision: int | None = None


@dataclass
class LoadedFlow:
    flow_sid: str
    revision: int
    friendly_name: str
    definition_json: str
    # The business hours the flow reads (``flow.business_hours``): its workspace's schedule as
    # ``workflows.business_hours`` plain data; None: no schedule, always open.
    business_hours: dict[str, Any] | None = None


@dataclass
class BeginExecution:
    execution_sid: str
    flow_sid: str
    revision: int
    channel_sid: str
    contact_address: str
    context: dict[str, Any]


@dataclass
class RecordStep:
    execution_sid: str
    flow_sid: str
    step_sid: str
    position: int
    name: str
    transitioned_from: str
    transitioned_to: str
    # What this widget did (its entry under ``widgets``).
    step_context: dict[str, Any]
    # The execution's context after the step.
    execution_context: dict[str, Any]
    # The execution ends with this step.
    ended: bool


@dataclass
class HttpCall:
    """``make-http-request`` and ``run-function``: one HTTP call, never retried (Studio takes the
    failure transition instead)."""

    method: str
    url: str
    content_type: str = "application/x-www-form-urlencoded"
    # Form fields or a JSON text body, already rendered.
    form: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout_seconds: float = 10.0
    # run-function: the Twilio Function (and its Service) the widget names, for the operator's
    # mapping of Functions to URLs.
    function_sid: str = ""
    service_sid: str = ""


@dataclass
class HttpResult:
    status_code: int
    content_type: str
    body: str
    # The body decoded when it is JSON, else None.
    parsed: Any = None
    # Set when no response arrived (connection refused, timeout).
    error: str | None = None
