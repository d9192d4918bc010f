"""Flex Flow integrations other than Studio: ``external`` posts each message to a URL in
Programmable Chat's webhook shape with retries and recorded failures; ``task`` creates one routing
task per interaction; Flex v1 Channels create channels that run their flow's integration."""

from __future__ import annotations

import json

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.helpers.flows import create_flow
from tests.helpers.messages import conversation, text
from tests.helpers.recording import RecordingServer, Reply
from tests.helpers.routing import Routing
from tests.helpers.stack import Stack, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


def test_external_integration_retries_then_delivers_in_order(stack: Stack, outside: RecordingServer) -> None:
    outside.script("/bot", Reply(500), Reply(502), Reply(200))
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(
            http,
            service,
            IntegrationType="external",
            **{"Integration.Url": f"{outside.url}/bot", "Integration.RetryCount": "3"},
        )
        customer = new_phone()
        text(stack, http, flow["contact_identity"], customer, "first")
        text(stack, http, flow["contact_identity"], customer, "second")
        messages = conversation(http, service, 2)
        assert messages == [(customer, "first"), (customer, "second")]

        def posts() -> list[dict[str, str]]:
            received = [r.form for r in outside.received("/bot")]
            assert len(received) == 4, received
            return received

        received = eventually(posts)
        channel_sid = http.get(f"/v2/Services/{service}/Channels").json()["channels"][0]["sid"]
    # Two failures, then the first message; the second waited for it.
    assert [(p["Body"], p["RetryCount"]) for p in received] == [
        ("first", "0"),
        ("first", "1"),
        ("first", "2"),
        ("second", "0"),
    ]
    first = received[0]
    assert first["EventType"] == "onMessageSent" and first["ChannelSid"] == channel_sid
    assert first["From"] == customer and first["Index"] == "0" and first["InstanceSid"] == service
    assert first["MessageSid"].startswith("IM") and received[1]["MessageSid"] == first["MessageSid"]
    assert json.loads(first["Attributes"]) == {} and first["DateCreated"].endswith("Z")
    # Signed with the account's auth token, as Twilio signs webhooks.
    request = outside.received("/bot")[-1]
    validator = RequestValidator(stack.settings.auth_token)
    assert validator.validate(f"{outside.url}/bot", request.form, request.headers["X-Twilio-Signature"])
    with stack.http() as http:
        failures = http.get(f"/v1/FlexFlows/{flow['sid']}/IntegrationFailures").json()["integration_failures"]
    assert failures == []


def test_external_integration_failures_are_recorded(stack: Stack, outside: RecordingServer) -> None:
    outside.script("/broken", Reply(503, "down"))
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(
            http,
            service,
            IntegrationType="external",
            **{"Integration.Url": f"{outside.url}/broken", "Integration.RetryCount": "1"},
        )
        text(stack, http, flow["contact_identity"], new_phone(), "anyone there?")
        assert len(conversation(http, service, 1)) == 1

        def failures() -> list[dict[str, object]]:
            response = http.get(f"/v1/FlexFlows/{flow['sid']}/IntegrationFailures")
            items: list[dict[str, object]] = response.json()["integration_failures"]
            assert items, "no failure recorded yet"
            return items

        [failure] = eventually(failures)
    assert len(outside.received("/broken")) == 2  # the first try and one retry
    assert failure["attempts"] == 2 and failure["url"] == f"{outside.url}/broken"
    assert "HTTP 503" in str(failure["error"])
    assert str(failure["message_sid"]).startswith("IM")


def test_task_integration_creates_one_task_per_interaction(stack: Stack) -> None:
    routing = Routing(stack)
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(
            http,
            service,
            IntegrationType="task",
            **{
                "Integration.WorkspaceSid": routing.workspace.sid,
                "Integration.WorkflowSid": routing.workflow.sid,
                "Integration.Channel": "sms",
                "Integration.Priority": "7",
                "Integration.Timeout": "900",
            },
        )
        customer = new_phone()
        for body in ("hi", "are you there?", "hello?"):
            text(stack, http, flow["contact_identity"], customer, body)
        conversation(http, service, 3)
        channel_sid = http.get(f"/v2/Services/{service}/Channels").json()["channels"][0]["sid"]
    task = eventually(lambda: routing.task_for(channel_sid))
    assert task.priority == 7 and task.timeout == 900 and task.task_channel_unique_name == "sms"
    assert json.loads(task.attributes) == {
        "name": customer,
        "channelType": "sms",
        "channelSid": channel_sid,
        "from": customer,
    }
    assert len(routing.tasks()) == 1  # later messages of the interaction add no task


def test_flex_channels_api_creates_channels_and_runs_integrations(stack: Stack) -> None:
    routing = Routing(stack)
    client = stack.twilio()
    with stack.http() as http:
        service = stack.create_service(http)
        task_flow = stack.create_flex_flow(
            http,
            service,
            FriendlyName="custom chat",
            ChannelType="custom",
            IntegrationType="task",
            **{
                "Integration.WorkspaceSid": routing.workspace.sid,
                "Integration.WorkflowSid": routing.workflow.sid,
                "Integration.Channel": "chat",
            },
        )
    created = client.flex_api.v1.channel.create(
        flex_flow_sid=task_flow["sid"],
        identity="customer-42",
        chat_user_friendly_name="Ada",
        chat_friendly_name="Chat with Ada",
        pre_engagement_data=json.dumps({"question": "Where is my order?"}),
        task_attributes=json.dumps({"priorityCustomer": True}),
    )
    assert created.sid.startswith("CH") and created.flex_flow_sid == task_flow["sid"]
    # creation_on_message is off: the task exists as soon as the channel does.
    assert created.task_sid is not None and created.task_sid.startswith("WT")
    task = routing.task_for(created.sid)
    assert task.sid == created.task_sid
    assert json.loads(task.attributes) == {
        "name": "Ada",
        "channelType": "custom",
        "channelSid": created.sid,
        "from": "customer-42",
        "pre_engagement_data": {"question": "Where is my order?"},
        "priorityCustomer": True,
    }
    again = client.flex_api.v1.channel.create(
        flex_flow_sid=task_flow["sid"], identity="customer-42", chat_user_friendly_name="Ada", chat_friendly_name="x"
    )
    assert again.sid == created.sid and again.task_sid == created.task_sid
    assert len(routing.tasks()) == 1
    fetched = client.flex_api.v1.channel(created.sid).fetch()
    assert fetched.task_sid == created.task_sid
    assert created.sid in [c.sid for c in client.flex_api.v1.channel.list()]
    chat_channel = client.chat.v2.services(service).channels(created.sid).fetch()
    attributes = json.loads(chat_channel.attributes)
    assert attributes["from"] == "Ada" and attributes["pre_engagement_data"] == {"question": "Where is my order?"}
    assert chat_channel.friendly_name == "Chat with Ada"


def test_flex_channel_on_a_studio_flow_runs_it_on_webhook_enabled_messages(stack: Stack) -> None:
    definition = {
        "initial_state": "Trigger",
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "echo"}]},
            {
                "name": "echo",
                "type": "send-message",
                "transitions": [{"event": "sent"}],
                "properties": {"from": "Bot", "body": "You said: {{trigger.message.Body}}"},
            },
        ],
    }
    flow_sid = create_flow(stack, definition)
    client = stack.twilio()
    with stack.http() as http:
        service = stack.create_service(http)
        web = stack.create_flex_flow(
            http,
            service,
            ChannelType="web",
            ContactIdentity="",
            IntegrationType="studio",
            **{"Integration.FlowSid": flow_sid},
        )
        channel = client.flex_api.v1.channel.create(
            flex_flow_sid=web["sid"], identity="visitor-7", chat_user_friendly_name="Visitor", chat_friendly_name="web"
        )
        assert channel.task_sid is None
        url = f"/v2/Services/{service}/Channels/{channel.sid}/Messages"
        # A REST post without the webhook header does not reach the flow, as in Programmable Chat.
        quiet = http.post(url, data={"From": "visitor-7", "Body": "<b>hi</b>"})
        assert quiet.status_code == 201, quiet.text
        loud = http.post(
            url, data={"From": "visitor-7", "Body": "<b>hi</b>"}, headers={"X-Twilio-Webhook-Enabled": "true"}
        )
        assert loud.status_code == 201, loud.text

        def bodies() -> list[str]:
            response: httpx.Response = http.get(url)
            found = [m["body"] for m in response.json()["messages"]]
            assert len(found) == 3, found
            return found

        assert eventually(bodies) == ["<b>hi</b>", "<b>hi</b>", "You said: <b>hi</b>"]
