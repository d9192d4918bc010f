"""Studio flows run end to end inside channel workflows: through the SMS webhook and Studio's REST
trigger, with a local HTTP endpoint, routing tasks and the reply timeout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from tests.helpers.flows import create_flow, ended, sms_flex_flow
from tests.helpers.messages import conversation, text
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.routing import Routing
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone


def bot_definition(lookup_url: str, workflow_sid: str, task_channel_sid: str, timeout: str = "3600") -> dict[str, Any]:
    """A support bot as Studio's console exports it: asks, waits, branches on the answer, looks the
    customer up over HTTP and sends the conversation to Flex."""
    sent_from = "{{flow.channel.address}}"
    return {
        "description": "Support bot",
        "flags": {"allow_concurrent_calls": True},
        "initial_state": "Trigger",
        "states": [
            {
                "name": "Trigger",
                "type": "trigger",
                "transitions": [
                    {"event": "incomingMessage", "next": "ask"},
                    {"event": "incomingCall"},
                    {"event": "incomingRequest", "next": "ask"},
                ],
                "properties": {"offset": {"x": 0, "y": 0}},
            },
            {
                "name": "ask",
                "type": "send-and-wait-for-reply",
                "transitions": [
                    {"event": "incomingMessage", "next": "route"},
                    {"event": "timeout", "next": "goodbye"},
                    {"event": "deliveryFailure"},
                ],
                "properties": {
                    "offset": {"x": 10, "y": 200},
                    "from": sent_from,
                    "body": "Hi {{flow.data.name | default: 'there'}}! Reply 1 for billing or 2 for sales.",
                    "timeout": timeout,
                },
            },
            {
                "name": "route",
                "type": "split-based-on",
                "transitions": [
                    {"event": "noMatch", "next": "ask"},
                    {
                        "event": "match",
                        "next": "billing",
                        "conditions": [
                            {
                                "friendly_name": "billing",
                                "arguments": ["{{widgets.ask.inbound.Body}}"],
                                "type": "matches_any_of",
                                "value": "1, billing",
                            }
                        ],
                    },
                    {
                        "event": "match",
                        "next": "sales",
                        "conditions": [
                            {
                                "friendly_name": "sales",
                                "arguments": ["{{widgets.ask.inbound.Body}}"],
                                "type": "equal_to",
                                "value": "2",
                            }
                        ],
                    },
                ],
                "properties": {"input": "{{widgets.ask.inbound.Body}}", "offset": {"x": 0, "y": 400}},
            },
            {
                "name": "billing",
                "type": "set-variables",
                "transitions": [{"event": "next", "next": "lookup"}],
                "properties": {
                    "variables": [
                        {"key": "department", "value": "billing"},
                        {"key": "team", "value": "{{flow.variables.department}} team"},
                    ]
                },
            },
            {
                "name": "sales",
                "type": "set-variables",
                "transitions": [{"event": "next", "next": "lookup"}],
                "properties": {"variables": [{"key": "department", "value": "sales"}]},
            },
            {
                "name": "lookup",
                "type": "make-http-request",
                "transitions": [{"event": "success", "next": "to_flex"}, {"event": "failed", "next": "apology"}],
                "properties": {
                    "method": "GET",
                    "url": lookup_url,
                    "content_type": "application/x-www-form-urlencoded;charset=utf-8",
                    "parameters": [{"key": "phone", "value": "{{contact.channel.address}}"}],
                },
            },
            {
                "name": "apology",
                "type": "send-message",
                "transitions": [{"event": "sent", "next": "to_flex"}, {"event": "failed"}],
                "properties": {"from": sent_from, "body": "Our records are offline; an agent will help you."},
            },
            {
                "name": "to_flex",
                "type": "send-to-flex",
                "transitions": [
                    {"event": "callComplete"},
                    {"event": "failedToEnqueue", "next": "sorry"},
                    {"event": "callFailure"},
                ],
                "properties": {
                    "workflow": workflow_sid,
                    "channel": task_channel_sid,
                    "attributes": (
                        '{"name": "{{widgets.lookup.parsed.name}}", "department": "{{flow.variables.department}}",'
                        ' "team": "{{flow.variables.team}}", "channelSid": "{{trigger.message.ChannelSid}}",'
                        ' "answer": "{{widgets.ask.inbound.Body}}", "tags": {{widgets.lookup.parsed.tags | to_json}}}'
                    ),
                    "priority": "5",
                    "timeout": "600",
                },
            },
            {
                "name": "goodbye",
                "type": "send-message",
                "transitions": [{"event": "sent"}, {"event": "failed"}],
                "properties": {"from": sent_from, "body": "We did not hear back; write again any time."},
            },
            {
                "name": "sorry",
                "type": "send-message",
                "transitions": [{"event": "sent"}, {"event": "failed"}],
                "properties": {"from": sent_from, "body": "Sorry, nobody can take your request right now."},
            },
        ],
    }


@pytest.fixture(scope="module")
def routing(stack: Stack) -> Routing:
    return Routing(stack)


def current_details(stack: Stack, channel_sid: str, containing: str) -> str:
    """The channel workflow's current details, as the Temporal UI shows them."""

    async def query(client: Client) -> str:
        metadata = await client.get_workflow_handle(channel_sid).query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
        return str(metadata.current_details)

    details = stack.call(query)
    assert containing in details, details
    return details


def test_a_bot_asks_branches_looks_up_and_sends_to_flex(
    stack: Stack, routing: Routing, outside: RecordingServer
) -> None:
    outside.script("/customers", Reply(200, {"name": "Ada Lovelace", "tags": ["vip", "billing"]}))
    definition = bot_definition(f"{outside.url}/customers", routing.workflow.sid, routing.chat_channel.sid)
    flow_sid = create_flow(stack, definition)
    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow_sid)
        prompt = "Hi there! Reply 1 for billing or 2 for sales."
        text(stack, http, number, customer, "hello")
        assert conversation(http, service, 2) == [(customer, "hello"), (number, prompt)]
        channel_sid = http.get(f"/v2/Services/{service}/Channels").json()["channels"][0]["sid"]
        # The Temporal UI shows where the conversation's flow stands.
        details = eventually(lambda: current_details(stack, channel_sid, "waiting"))
        assert f"Studio flow {flow_sid}" in details and "step **ask** (waiting for a reply)" in details
        # An answer that matches nothing asks again; the case of the answer does not matter.
        text(stack, http, number, customer, "maybe")
        assert conversation(http, service, 4)[2:] == [(customer, "maybe"), (number, prompt)]
        text(stack, http, number, customer, "BILLING")
        task = eventually(lambda: routing.task_for(channel_sid))
        assert f"routing task {task.sid}" in eventually(lambda: current_details(stack, channel_sid, "routing task"))

    lookups = outside.received("/customers")
    assert [r.query["phone"] for r in lookups] == [[customer]]
    assert task.assignment_status == "pending"
    assert task.priority == 5 and task.timeout == 600
    assert json.loads(task.attributes) == {
        "name": "Ada Lovelace",
        "department": "billing",
        "team": "billing team",
        "channelSid": channel_sid,
        "answer": "BILLING",
        "tags": ["vip", "billing"],
    }

    # The task exists before the execution records its last step: wait for the end.
    steps = only_execution_once_ended(stack, flow_sid).steps.list()
    by_order = [(s.transitioned_from, s.name, s.transitioned_to) for s in steps]
    assert by_order == [
        ("Trigger", "incomingMessage", "ask"),
        ("ask", "incomingMessage", "route"),
        ("route", "noMatch", "ask"),
        ("ask", "incomingMessage", "route"),
        ("route", "match", "billing"),
        ("billing", "next", "lookup"),
        ("lookup", "success", "to_flex"),
        ("to_flex", "callComplete", "Ended"),
    ]


MISSING_WORKFLOW = "WW" + "0" * 32


def test_rest_trigger_failed_lookup_and_failed_enqueue(stack: Stack, outside: RecordingServer) -> None:
    outside.script("/down", Reply(503, {"message": "maintenance"}))
    flow_sid = create_flow(stack, bot_definition(f"{outside.url}/down", MISSING_WORKFLOW, "chat"))
    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow_sid)
        execution = (
            stack.twilio()
            .studio.v2.flows(flow_sid)
            .executions.create(to=customer, from_=number, parameters={"name": "Grace"})
        )
        assert execution.status == "active" and execution.contact_channel_address == customer
        assert conversation(http, service, 1) == [(number, "Hi Grace! Reply 1 for billing or 2 for sales.")]
        text(stack, http, number, customer, " 2 ")
        assert [body for _, body in conversation(http, service, 4)][1:] == [
            " 2 ",
            "Our records are offline; an agent will help you.",
            "Sorry, nobody can take your request right now.",
        ]
    execution = eventually(lambda: ended(stack, flow_sid, execution.sid))
    context = execution.execution_context().fetch().context
    assert context["flow"]["data"] == {"name": "Grace"}
    assert context["flow"]["variables"] == {"department": "sales"}
    assert context["widgets"]["lookup"]["status_code"] == 503
    assert context["widgets"]["lookup"]["parsed"] == {"message": "maintenance"}
    assert "does not exist" in context["widgets"]["to_flex"]["error"]
    assert context["trigger"]["request"]["From"] == number


def only_execution_once_ended(stack: Stack, flow_sid: str) -> Any:
    def check() -> Any:
        executions = stack.twilio().studio.v2.flows(flow_sid).executions.list()
        assert len(executions) == 1 and executions[0].status == "ended", [e.status for e in executions]
        return executions[0]

    return eventually(check)


def test_the_reply_wait_times_out(stack: Stack, outside: RecordingServer) -> None:
    flow_sid = create_flow(stack, bot_definition(f"{outside.url}/x", MISSING_WORKFLOW, "chat", timeout="2"))
    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow_sid)
        text(stack, http, number, customer, "hello")
        assert [b for _, b in conversation(http, service, 3)] == [
            "hello",
            "Hi there! Reply 1 for billing or 2 for sales.",
            "We did not hear back; write again any time.",
        ]


def test_http_widgets_and_an_unsupported_widget(stack: Stack, outside: RecordingServer) -> None:
    outside.script("/orders", Reply(201, {"order": {"id": 42, "items": ["tea"]}}))
    outside.script("/fn", Reply(200, "ok"))
    definition = {
        "initial_state": "Trigger",
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingRequest", "next": "create"}]},
            {
                "name": "create",
                "type": "make-http-request",
                "transitions": [{"event": "success", "next": "notify"}, {"event": "failed"}],
                "properties": {
                    "method": "POST",
                    "url": f"{outside.url}/orders",
                    "content_type": "application/json;charset=utf-8",
                    "body": '{"phone": "{{contact.channel.address}}", "data": {{flow.data | to_json}}}',
                },
            },
            {
                "name": "notify",
                "type": "run-function",
                "transitions": [{"event": "success", "next": "call"}, {"event": "fail"}],
                "properties": {
                    "url": f"{outside.url}/fn",
                    "parameters": [{"key": "order", "value": "{{widgets.create.parsed.order.id}}"}],
                },
            },
            {"name": "call", "type": "say-play", "transitions": [{"event": "audioComplete"}], "properties": {}},
        ],
    }
    flow = stack.twilio().studio.v2.flows.create(friendly_name="orders", status="published", definition=definition)
    assert flow.warnings and "say-play" in flow.warnings[0]["message"]
    customer = new_phone()
    with stack.http() as http:
        _service, number = sms_flex_flow(stack, http, flow.sid)
    execution = (
        stack.twilio()
        .studio.v2.flows(flow.sid)
        .executions.create(to=customer, from_=number, parameters={"basket": ["tea"], "total": 3.5})
    )
    execution = eventually(lambda: ended(stack, flow.sid, execution.sid))
    [order] = outside.received("/orders")
    assert order.method == "POST" and order.headers["Content-Type"] == "application/json"
    assert json.loads(order.body) == {"phone": customer, "data": {"basket": ["tea"], "total": 3.5}}
    [call] = outside.received("/fn")
    assert call.method == "POST" and call.form == {"order": "42"}
    steps = execution.steps.list()
    assert [(s.transitioned_from, s.name, s.transitioned_to) for s in steps] == [
        ("Trigger", "incomingRequest", "create"),
        ("create", "success", "notify"),
        ("notify", "success", "call"),
        ("call", "failed", "Ended"),
    ]
    assert "say-play" in steps[-1].context["error"]
    context = execution.execution_context().fetch().context
    assert context["widgets"]["notify"]["body"] == "ok" and "parsed" not in context["widgets"]["notify"]


def test_a_flow_runs_to_a_task_on_postgresql(
    make_stack: StackFactory, postgres_url: str, outside: RecordingServer
) -> None:
    """Flows, executions, steps and tasks on the production database."""
    stack = make_stack(database_url=postgres_url)
    routing = Routing(stack)
    outside.script("/pg-customers", Reply(200, {"name": "Grace Hopper", "tags": []}))
    definition = bot_definition(f"{outside.url}/pg-customers", routing.workflow.sid, routing.chat_channel.sid)
    flow_sid = create_flow(stack, definition)
    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow_sid)
        text(stack, http, number, customer, "hello")
        conversation(http, service, 2)
        text(stack, http, number, customer, "1")
        channel_sid = http.get(f"/v2/Services/{service}/Channels").json()["channels"][0]["sid"]
    task = eventually(lambda: routing.task_for(channel_sid))
    assert json.loads(task.attributes)["name"] == "Grace Hopper"
    assert len(only_execution_once_ended(stack, flow_sid).steps.list()) == 6


def test_a_flow_reads_the_time_of_day_at_the_workflows_clock(stack: Stack) -> None:
    """Opening hours written as Liquid (``{{ 'now' | date: '%H' }}`` then a numeric split) run at
    the workflow's clock, in UTC."""
    definition = {
        "description": "hours",
        "initial_state": "Trigger",
        "flags": {"allow_concurrent_calls": True},
        "states": [
            {
                "name": "Trigger",
                "type": "trigger",
                "transitions": [{"event": "incomingMessage"}, {"event": "incomingRequest", "next": "hour"}],
                "properties": {},
            },
            {
                "name": "hour",
                "type": "set-variables",
                "transitions": [{"event": "next", "next": "tell"}],
                "properties": {"variables": [{"key": "hour", "value": "{{ 'now' | date: '%H' | plus: 0 }}"}]},
            },
            {
                "name": "tell",
                "type": "send-message",
                "transitions": [{"event": "sent"}, {"event": "failed"}],
                "properties": {"body": "It is {{ flow.variables.hour }} o'clock UTC ({{ 'today' | date: '%Y' }})."},
            },
        ],
    }
    flow_sid = create_flow(stack, definition)
    customer = new_phone()
    with stack.http() as http:
        service, number = sms_flex_flow(stack, http, flow_sid)
        before = datetime.now(UTC)
        stack.twilio().studio.v2.flows(flow_sid).executions.create(to=customer, from_=number)
        [(_, said)] = conversation(http, service, 1)
        after = datetime.now(UTC)
    assert said in {f"It is {t.hour} o'clock UTC ({t.year})." for t in (before, after)}, said
