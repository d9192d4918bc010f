"""Flex Flows and Studio flows the tests send conversations through."""

from __future__ import annotations

from typing import Any

import httpx

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.routing import Routing
from tests.helpers.stack import Stack, new_phone


def create_flow(stack: Stack, definition: dict[str, Any]) -> str:
    flow = stack.twilio().studio.v2.flows.create(friendly_name="bot", status="published", definition=definition)
    return str(flow.sid)


def ended(stack: Stack, flow_sid: str, execution_sid: str) -> Any:
    execution = stack.twilio().studio.v2.flows(flow_sid).executions(execution_sid).fetch()
    assert execution.status == "ended", execution.status
    return execution


def sms_flex_flow(stack: Stack, http: httpx.Client, flow_sid: str) -> tuple[str, str]:
    service = stack.create_service(http)
    flex_flow = stack.create_flex_flow(http, service, IntegrationType="studio", **{"Integration.FlowSid": flow_sid})
    return service, str(flex_flow["contact_identity"])


def whatsapp_flow(stack: Stack) -> str:
    """A WhatsApp number on the default Messaging Flow."""
    defaults = plan_flex_defaults(stack.settings).defaults
    number = "whatsapp:" + new_phone()
    with stack.http() as http:
        stack.create_flex_flow(
            http,
            defaults.chat_service_sid,
            ChannelType="whatsapp",
            ContactIdentity=number,
            IntegrationType="studio",
            **{"Integration.FlowSid": defaults.studio_flow_sid},
        )
    return number


def web_flow(stack: Stack) -> str:
    return plan_flex_defaults(stack.settings).defaults.web_flex_flow_sid


def long_lived_default_flow(stack: Stack, http: Any) -> tuple[str, str]:
    """A long-lived SMS Flex Flow running Flex's default "Messaging Flow"."""
    [flow] = [f for f in stack.twilio().studio.v2.flows.list() if f.friendly_name == "Messaging Flow"]
    service = stack.create_service(http)
    flex_flow = stack.create_flex_flow(
        http, service, LongLived="true", IntegrationType="studio", **{"Integration.FlowSid": flow.sid}
    )
    return service, str(flex_flow["contact_identity"])


def task_flex_flow(stack: Stack, http: Any, routing: Routing) -> tuple[str, str]:
    service = stack.create_service(http)
    flow = stack.create_flex_flow(
        http,
        service,
        IntegrationType="task",
        **{
            "Integration.WorkspaceSid": routing.workspace.sid,
            "Integration.WorkflowSid": routing.workflow.sid,
            "Integration.Channel": "chat",
        },
    )
    return service, str(flow["contact_identity"])


QUIZ = {
    "initial_state": "Trigger",
    "states": [
        {
            "name": "Trigger",
            "type": "trigger",
            "transitions": [{"event": "incomingMessage", "next": "ask"}, {"event": "incomingRequest", "next": "ask"}],
        },
        {
            "name": "ask",
            "type": "send-and-wait-for-reply",
            "transitions": [{"event": "incomingMessage", "next": "check"}, {"event": "timeout"}],
            "properties": {"from": "Bot", "body": "Reply 1 to go on"},
        },
        {
            "name": "check",
            "type": "split-based-on",
            "transitions": [
                {"event": "noMatch", "next": "ask"},
                {
                    "event": "match",
                    "next": "note",
                    "conditions": [
                        {
                            "friendly_name": "one",
                            "arguments": ["{{widgets.ask.inbound.Body}}"],
                            "type": "equal_to",
                            "value": "1",
                        }
                    ],
                },
            ],
            "properties": {"input": "{{widgets.ask.inbound.Body}}"},
        },
        {
            "name": "note",
            "type": "set-variables",
            "transitions": [{"event": "next", "next": "done"}],
            "properties": {"variables": [{"key": "answer", "value": "{{widgets.ask.inbound.Body}}"}]},
        },
        {
            "name": "done",
            "type": "send-message",
            "transitions": [{"event": "sent"}],
            "properties": {"from": "Bot", "body": "Thanks, you said {{flow.variables.answer}}"},
        },
    ],
}


# A flow as the console exports it, plus a property Studio's console never wrote: Switchboard
# must hand every one of them back verbatim.
NOTIFY_FLOW: dict[str, Any] = {
    "description": "REST notification",
    "states": [
        {
            "name": "Trigger",
            "type": "trigger",
            "transitions": [
                {"event": "incomingMessage"},
                {"next": "remember", "event": "incomingRequest"},
                {"event": "incomingParent"},
            ],
            "properties": {"offset": {"x": 0, "y": 0}},
        },
        {
            "name": "remember",
            "type": "set-variables",
            "transitions": [{"next": "notify", "event": "next"}],
            "properties": {
                "variables": [
                    {"key": "topic", "value": "{{flow.data.topic}}"},
                    {"key": "greeting", "value": "Hi {{flow.data.name}}"},
                ],
                "offset": {"x": 10, "y": 200},
            },
        },
        {
            "name": "notify",
            "type": "send-message",
            "transitions": [{"event": "sent"}, {"event": "failed"}],
            "properties": {
                "offset": {"x": 20, "y": 400},
                "service": "{{trigger.message.InstanceSid}}",
                "channel": "{{trigger.message.ChannelSid}}",
                "from": "{{flow.channel.address}}",
                "to": "{{contact.channel.address}}",
                "body": "{{flow.variables.greeting}} about {{flow.variables.topic}}",
                "x_switchboard_note": {"kept": ["verbatim", 1, None]},
            },
        },
    ],
    "initial_state": "Trigger",
    "flags": {"allow_concurrent_calls": True},
}
