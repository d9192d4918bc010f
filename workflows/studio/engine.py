"""The Studio interpreter: runs one execution of a flow definition, widget by widget, inside the
channel workflow. Everything here is deterministic; side effects go through activities (HTTP, the
store) or through the host channel (messages, replies, tasks)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from temporalio import workflow

from workflows import activity_options, sids
from workflows.business_hours import status_data
from workflows.messages import MESSAGE_SOURCES, InboundMessage, StoredMessage
from workflows.studio.conditions import condition_matches
from workflows.studio.definition import FAILURE_EVENTS, FlowDefinition, State
from workflows.studio.messages import ExecutionState, HttpCall, HttpResult, RecordStep
from workflows.studio.templates import render, render_json, render_value

with workflow.unsafe.imports_passed_through():
    from liquid.exceptions import LiquidError

    from activities.http import HttpActivities
    from activities.studio import StudioActivities

# Studio ends an execution that loops without end.
MAX_STEPS = 1000
DEFAULT_REPLY_TIMEOUT = 3600.0
HTTP_TIMEOUT = 10.0
ENDED = "Ended"
# JSON-valued properties render with each output as one JSON value (templates.render_json);
# executions recorded before rendered them as plain text.
JSON_TEMPLATES_PATCH = "studio-json-templates"
# A widget whose template does not render takes its failure transition (Studio saves such flows);
# executions recorded before ended there.
TEMPLATE_FAILURE_PATCH = "studio-template-failure-transition"
# ``flow.business_hours`` (open, next_change, next_open, away_message); executions recorded
# before had no such variable.
BUSINESS_HOURS_PATCH = "studio-business-hours"
# A customer's message fires ``incomingConversationMessage`` in runs started from Conversations
# (and in any run whose trigger leads on that event alone), and the trigger holds
# ``trigger.conversation``; executions recorded before fired ``incomingMessage`` only.
CONVERSATION_TRIGGER_PATCH = "studio-conversation-trigger"
MESSAGE_EVENT = "incomingMessage"
CONVERSATION_EVENT = "incomingConversationMessage"


@dataclass
class Reply:
    """A customer's message handed to a waiting ``send-and-wait-for-reply``."""

    message: InboundMessage
    stored: StoredMessage
    channel_sid: str
    service_sid: str
    # The business's address the customer wrote to.
    to: str | None


class FlowHost(Protocol):
    """What the channel workflow does for the interpreter."""

    async def flow_send(self, key: str, author: str, body: str, attributes: str) -> StoredMessage | None: ...

    async def flow_wait_for_reply(self, deadline: float) -> Reply | None: ...

    async def flow_create_task(
        self, workflow_sid: str, channel: str, attributes: str, priority: int, task_timeout: int
    ) -> tuple[str | None, str]:
        """The new task's SID, or None and why it could not be created."""
        ...

    def flow_progress(self, step: str | None) -> None: ...


@dataclass
class Outcome:
    """What a widget did: the transition event it takes, and what it publishes under
    ``widgets.NAME``. ``next_state`` overrides the event's transition (split-based-on); ``end``
    stops the execution whatever the transitions say (send-to-flex hands over)."""

    event: str
    output: dict[str, Any] = field(default_factory=dict)
    next_state: str | None = None
    chosen: bool = False
    end: bool = False


class FlowFailedError(Exception):
    """A widget cannot go on (unsupported widget, unrenderable template): the execution ends."""


def inbound_context(reply: Reply) -> dict[str, Any]:
    """A message as Studio shows it (``trigger.message`` and ``widgets.X.inbound``)."""
    message, stored = reply.message, reply.stored
    try:
        attributes: Any = json.loads(message.attributes)
    except ValueError:
        attributes = {}
    return {
        "Body": message.body or "",
        "From": message.author,
        "To": reply.to or "",
        "MessageSid": stored.sid,
        "Index": stored.index,
        "ChannelSid": reply.channel_sid,
        "InstanceSid": reply.service_sid,
        "Attributes": attributes,
        "Media": [{"ContentType": m.content_type, "Url": m.url} for m in message.media],
    }


def conversation_context(
    message: dict[str, Any], channel_type: str, participant_sid: str, now: datetime
) -> dict[str, Any]:
    """A message as a Conversations-triggered flow reads it (``trigger.conversation``), from its
    ``trigger.message``: the parameters of Conversations' ``onMessageAdded`` webhook to Studio."""
    return {
        "EventType": "onMessageAdded",
        "ConversationSid": message["ChannelSid"],
        "ChannelSid": message["ChannelSid"],
        "ChatServiceSid": message["InstanceSid"],
        "InstanceSid": message["InstanceSid"],
        "MessageSid": message["MessageSid"],
        "Index": message["Index"],
        "Body": message["Body"],
        "Author": message["From"],
        "From": message["From"],
        "ParticipantSid": participant_sid,
        "Source": MESSAGE_SOURCES.get(channel_type, "SDK"),
        "MessagingServiceSid": "",
        "Media": list(message["Media"]),
        "Attributes": message["Attributes"],
        "ChannelAttributes": message.get("ChannelAttributes", {}),
        "DateCreated": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "WebhookSid": message.get("WebhookSid", ""),
        "WebhookType": "studio",
        "RetryCount": 0,
    }


def trigger_event(trigger: State, conversations: bool) -> str:
    """The event a customer's message fires: ``incomingConversationMessage`` in a run started from
    Conversations, ``incomingMessage`` otherwise; but a trigger that leads somewhere on only the
    other one fires that one, so a flow written for either API runs wherever it is attached."""
    wanted, other = (CONVERSATION_EVENT, MESSAGE_EVENT) if conversations else (MESSAGE_EVENT, CONVERSATION_EVENT)
    leads = {transition.event for transition in trigger.transitions if transition.next}
    return other if wanted not in leads and other in leads else wanted


def _seconds(value: Any, default: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


def _pairs(items: Any, context: dict[str, Any]) -> dict[str, str]:
    """Studio's ``[{key, value}]`` parameter lists, rendered."""
    if not isinstance(items, list):
        return {}
    return {
        str(item["key"]): render(str(item.get("value", "")), context)
        for item in items
        if isinstance(item, dict) and item.get("key")
    }


class FlowRun:
    def __init__(
        self,
        host: FlowHost,
        state: ExecutionState,
        definition: FlowDefinition,
        flow_name: str,
        business_hours: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.business_hours = business_hours
        self.state = state
        self.definition = definition
        self.flow_name = flow_name
        self.widgets: dict[str, Callable[[State], Awaitable[Outcome]]] = {
            "trigger": self._trigger,
            "send-message": self._send_message,
            "send-and-wait-for-reply": self._send_and_wait,
            "split-based-on": self._split,
            "set-variables": self._set_variables,
            "make-http-request": self._http_request,
            "run-function": self._run_function,
            "send-to-flex": self._send_to_flex,
        }

    @property
    def context(self) -> dict[str, Any]:
        return self.state.context

    async def run(self) -> None:
        """Run until the execution ends; waits (for replies) are durable workflow waits."""
        state = self.state
        while state.current is not None:
            widget = self.definition.states.get(state.current)
            self.host.flow_progress(state.current)
            if workflow.patched(BUSINESS_HOURS_PATCH):
                # Read afresh at every step: a flow that waited for a reply sees the hours of now.
                hours = status_data(self.business_hours, workflow.now())
                self.context.setdefault("flow", {})["business_hours"] = hours
            try:
                if widget is None:
                    raise FlowFailedError(f"state {state.current!r} is not in revision {state.revision}")
                if state.steps >= MAX_STEPS:
                    raise FlowFailedError(f"the execution ran {MAX_STEPS} steps without ending")
                run_widget = self.widgets.get(widget.type)
                if run_widget is None:
                    raise FlowFailedError(f"widget type {widget.type!r} is not run by Switchboard")
                outcome = await run_widget(widget)
            except LiquidError as exc:
                assert widget is not None  # LiquidError comes from a widget's templates
                failure = self._template_failure(widget, exc)
                if failure is None:
                    await self._record("failed", state.current, ENDED, {"error": str(exc)}, ended=True)
                    return
                outcome = failure
            except FlowFailedError as exc:
                await self._record("failed", state.current, ENDED, {"error": str(exc)}, ended=True)
                return
            if outcome.output:
                self.context.setdefault("widgets", {})[widget.name] = outcome.output
            target = outcome.next_state if outcome.chosen else widget.next_for(outcome.event)
            if outcome.end:
                target = None
            await self._record(outcome.event, widget.name, target or ENDED, outcome.output, ended=target is None)
            state.current = target
        self.host.flow_progress(None)

    def _template_failure(self, widget: State, exc: LiquidError) -> Outcome | None:
        """The failure a template problem makes of ``widget``: its failure transition when it has
        one (the step's context names the widget and the problem), else the execution's end."""
        if not workflow.patched(TEMPLATE_FAILURE_PATCH):
            return None
        # A send-and-wait-for-reply that failed before sending waits for nothing.
        self.state.wait_deadline = None
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = f"widget {widget.name!r} ({widget.type}): Liquid template problem: {problem}"
        event = FAILURE_EVENTS.get(widget.type)
        if event is None or not any(t.event == event for t in widget.transitions):
            return Outcome("failed", {"error": error}, end=True)
        return Outcome(event, {"error": error})

    async def _record(self, event: str, widget: str, target: str, output: dict[str, Any], *, ended: bool) -> None:
        """A step as Studio records it: named after the event that moved the execution from the
        widget that ran to the next one."""
        state = self.state
        state.steps += 1
        await workflow.execute_local_activity_method(
            StudioActivities.record_step,
            RecordStep(
                execution_sid=state.execution_sid,
                flow_sid=state.flow_sid,
                step_sid=sids.sid_from_uuid(sids.STEP, workflow.uuid4()),
                position=state.steps,
                name=event,
                transitioned_from=widget,
                transitioned_to=target,
                step_context=output,
                execution_context=self.context,
                ended=ended,
            ),
            **activity_options.STORE,
        )

    def _render(self, value: Any) -> Any:
        return render_value(value, self.context)

    def _text(self, widget: State, name: str, default: str = "") -> str:
        value = widget.properties.get(name, default)
        return str(self._render(value)) if value is not None else default

    def _json_text(self, widget: State, name: str, default: str = "") -> str:
        """A property that is a JSON document (attributes, a JSON body), rendered so that the
        values it takes in (a customer's name, a message) cannot add to its structure."""
        value = widget.properties.get(name)
        if not workflow.patched(JSON_TEMPLATES_PATCH):
            return self._text(widget, name, default)
        if isinstance(value, str):
            return render_json(value, self.context) or default
        if isinstance(value, (dict, list)):  # a definition may give the document as JSON itself
            return json.dumps(self._render(value))
        return default

    # --- widgets ------------------------------------------------------------------------------

    async def _trigger(self, widget: State) -> Outcome:
        trigger = self.context.get("trigger", {})
        if "request" in trigger:
            return Outcome("incomingRequest")
        if not workflow.patched(CONVERSATION_TRIGGER_PATCH):
            return Outcome(MESSAGE_EVENT)
        return Outcome(trigger_event(widget, self.state.conversations))

    def _author(self, widget: State) -> str:
        return self._text(widget, "from") or self.flow_name

    def _message_key(self) -> str:
        # Deterministic per step, so a retried store of this message is a duplicate.
        return f"studio:{self.state.execution_sid}:{self.state.steps + 1}"

    async def _send_message(self, widget: State) -> Outcome:
        body = self._text(widget, "body")
        attributes = self._json_text(widget, "attributes", "{}")
        stored = await self.host.flow_send(self._message_key(), self._author(widget), body, attributes)
        if stored is None:
            return Outcome("failed", {"status": "failed"})
        return Outcome("sent", {"sid": stored.sid, "index": stored.index, "body": body, "status": "sent"})

    async def _send_and_wait(self, widget: State) -> Outcome:
        state = self.state
        if state.wait_deadline is None:
            # Replies count from here (set before sending, so an instant reply is not missed).
            timeout = _seconds(widget.properties.get("timeout"), DEFAULT_REPLY_TIMEOUT)
            state.wait_deadline = workflow.now().timestamp() + timeout
            body = self._text(widget, "body")
            stored = await self.host.flow_send(self._message_key(), self._author(widget), body, "{}")
            if stored is None:
                state.wait_deadline = None
                return Outcome("deliveryFailure", {"outbound": {"Body": body, "Status": "failed"}})
            self.context.setdefault("widgets", {})[widget.name] = {
                "outbound": {"Sid": stored.sid, "Index": stored.index, "Body": body, "Status": "sent"}
            }
        outbound = self.context.get("widgets", {}).get(widget.name, {}).get("outbound", {})
        reply = await self.host.flow_wait_for_reply(state.wait_deadline)
        state.wait_deadline = None
        if reply is None:
            return Outcome("timeout", {"outbound": outbound})
        inbound = inbound_context(reply)
        return Outcome("incomingMessage", {"outbound": outbound, "inbound": inbound})

    async def _split(self, widget: State) -> Outcome:
        value = self._text(widget, "input")
        for transition in widget.transitions:
            if transition.event != "match" or not transition.conditions:
                continue
            if all(self._condition_holds(condition, value) for condition in transition.conditions):
                return Outcome("match", {"input": value}, next_state=transition.next, chosen=True)
        return Outcome("noMatch", {"input": value})

    def _condition_holds(self, condition: dict[str, Any], value: str) -> bool:
        arguments = condition.get("arguments") or []
        argument = str(self._render(arguments[0])) if arguments else value
        expected = str(self._render(condition.get("value", "")))
        return condition_matches(str(condition.get("type")), argument, expected, workflow.now())

    async def _set_variables(self, widget: State) -> Outcome:
        variables = self.context.setdefault("flow", {}).setdefault("variables", {})
        for item in widget.properties.get("variables") or []:
            if isinstance(item, dict) and item.get("key"):
                # One by one, so a later variable can use an earlier one.
                variables[str(item["key"])] = render(str(item.get("value", "")), self.context)
        return Outcome("next")

    async def _http(self, call: HttpCall) -> HttpResult:
        return await workflow.execute_activity_method(
            HttpActivities.http_call, call, **activity_options.http(call.timeout_seconds)
        )

    @staticmethod
    def _http_output(result: HttpResult) -> dict[str, Any]:
        output: dict[str, Any] = {
            "status_code": result.status_code,
            "content_type": result.content_type,
            "body": result.body,
        }
        if result.parsed is not None:
            output["parsed"] = result.parsed
        if result.error is not None:
            output["error"] = result.error
        return output

    async def _http_request(self, widget: State) -> Outcome:
        method = self._text(widget, "method", "GET").upper()
        content_type = self._text(widget, "content_type", "application/x-www-form-urlencoded")
        is_json = "json" in content_type
        call = HttpCall(
            method=method if method in ("GET", "POST", "PUT", "DELETE", "PATCH") else "GET",
            url=self._text(widget, "url"),
            content_type="application/json" if is_json else "application/x-www-form-urlencoded",
            form={} if is_json else _pairs(widget.properties.get("parameters"), self.context),
            body=self._json_text(widget, "body") if is_json else None,
            timeout_seconds=_seconds(widget.properties.get("timeout"), HTTP_TIMEOUT),
        )
        result = await self._http(call)
        ok = result.error is None and 200 <= result.status_code < 300
        return Outcome("success" if ok else "failed", self._http_output(result))

    async def _run_function(self, widget: State) -> Outcome:
        # Exported flows name their function by SID: the activity maps it to a URL.
        call = HttpCall(
            method="POST",
            url=self._text(widget, "url"),
            function_sid=self._text(widget, "function_sid"),
            service_sid=self._text(widget, "service_sid"),
            form=_pairs(widget.properties.get("parameters"), self.context),
            timeout_seconds=_seconds(widget.properties.get("timeout"), HTTP_TIMEOUT),
        )
        result = await self._http(call)
        ok = result.error is None and 200 <= result.status_code < 300
        return Outcome("success" if ok else "fail", self._http_output(result))

    async def _send_to_flex(self, widget: State) -> Outcome:
        attributes = self._json_text(widget, "attributes", "{}")
        try:
            json.loads(attributes)
        except ValueError:
            return Outcome("failedToEnqueue", {"error": "the rendered attributes are not JSON"})
        task_sid, error = await self.host.flow_create_task(
            workflow_sid=self._text(widget, "workflow"),
            channel=self._text(widget, "channel"),
            attributes=attributes,
            priority=int(_seconds(self._text(widget, "priority"), 0)),
            task_timeout=int(_seconds(self._text(widget, "timeout"), 86400)),
        )
        if task_sid is None:
            return Outcome("failedToEnqueue", {"error": error})
        # The conversation now belongs to the agent: the execution ends here.
        return Outcome("callComplete", {"sid": task_sid}, end=True)
