"""Chat v2 as Flex integrations call it with the official ``twilio`` client: Functions that write a
task's SID into a channel's attributes, read horizons and message edits, and the channel Webhooks
hand-off (a plugin deletes the channel's Studio webhook, so the customer's next messages no
longer run the flow; a ``webhook`` filtering ``onMessageSent`` gets them posted instead)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.helpers.flows import create_flow
from tests.helpers.messages import conversation, text
from tests.helpers.recording import RecordingServer
from tests.helpers.stack import Stack, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

WELCOME = "Welcome! An agent will be with you shortly."


def welcome_definition() -> dict[str, Any]:
    """A flow that greets whoever writes and ends, as Studio's console exports it."""
    return {
        "description": "Greeter",
        "flags": {"allow_concurrent_calls": True},
        "initial_state": "Trigger",
        "states": [
            {
                "name": "Trigger",
                "type": "trigger",
                "transitions": [
                    {"event": "incomingMessage", "next": "greet"},
                    {"event": "incomingCall"},
                    {"event": "incomingRequest"},
                ],
                "properties": {"offset": {"x": 0, "y": 0}},
            },
            {
                "name": "greet",
                "type": "send-message",
                "transitions": [{"event": "sent"}, {"event": "failed"}],
                "properties": {"from": "{{flow.channel.address}}", "body": WELCOME},
            },
        ],
    }


def add_task_sid_to_channel_attributes(client: Client, service_sid: str, channel_sid: str, task_sid: str) -> None:
    """What a Function on ``task.created`` does: merge the task into the channel's attributes."""
    channel = client.chat.v2.services(service_sid).channels(channel_sid).fetch()
    attributes = json.loads(channel.attributes)
    attributes["tasks"] = [*attributes.get("tasks", []), task_sid]
    client.chat.v2.services(service_sid).channels(channel_sid).update(attributes=json.dumps(attributes))


def remove_studio_webhook(client: Client, service_sid: str, channel_sid: str) -> list[str]:
    """A plugin's hand-off: the channel's Studio webhooks go, so the flow hears no more."""
    webhooks = client.chat.v2.services(service_sid).channels(channel_sid).webhooks
    removed = []
    for webhook in webhooks.list():
        if webhook.type == "studio":
            webhooks(webhook.sid).delete()
            removed.append(webhook.sid)
    return removed


def test_a_function_writes_the_task_into_the_channel_attributes(stack: Stack) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="functions")
    channels = client.chat.v2.services(service.sid).channels
    channel = channels.create(friendly_name="web chat", attributes=json.dumps({"from": "Ada"}))
    task_sid = "WT" + "a" * 32
    add_task_sid_to_channel_attributes(client, service.sid, channel.sid, task_sid)
    fetched = channels(channel.sid).fetch()
    assert json.loads(fetched.attributes) == {"from": "Ada", "tasks": [task_sid]}
    assert fetched.friendly_name == "web chat"  # what the update did not name stays

    renamed = channels(channel.sid).update(friendly_name="Order 77", unique_name="order-77")
    assert (renamed.friendly_name, renamed.unique_name) == ("Order 77", "order-77")
    assert channels("order-77").fetch().sid == channel.sid
    assert json.loads(renamed.attributes)["tasks"] == [task_sid]

    other = channels.create(unique_name="taken")
    with pytest.raises(TwilioRestException) as taken:
        channels(other.sid).update(unique_name="order-77")
    assert taken.value.status == 409
    with pytest.raises(TwilioRestException) as bad_json:
        channels(channel.sid).update(attributes="{nope")
    assert bad_json.value.status == 400 and "Attributes" in bad_json.value.msg

    # The channel's workflow holds the attributes: messages after the update keep them.
    channels(channel.sid).messages.create(body="still here", from_="agent")
    assert json.loads(channels(channel.sid).fetch().attributes)["tasks"] == [task_sid]


def test_a_deleted_channel_is_gone(stack: Stack) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="deletes")
    channels = client.chat.v2.services(service.sid).channels
    channel = channels.create(unique_name="short-lived")
    channels(channel.sid).members.create(identity="bob")
    channels(channel.sid).messages.create(body="bye", from_="bob")
    assert channels(channel.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        channels(channel.sid).fetch()
    assert gone.value.status == 404 and gone.value.code == 20404
    with stack.http() as http:
        answer = http.get(f"/v2/Services/{service.sid}/Channels/{channel.sid}/Messages")
        assert answer.status_code == 404 and answer.json()["code"] == 20404
    assert channel.sid not in [c.sid for c in channels.list()]
    # Its unique name is free again.
    assert channels.create(unique_name="short-lived").sid != channel.sid


def test_read_horizons_and_message_edits(stack: Stack) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="edits")
    channel = client.chat.v2.services(service.sid).channels.create()
    members = client.chat.v2.services(service.sid).channels(channel.sid).members
    messages = client.chat.v2.services(service.sid).channels(channel.sid).messages
    member = members.create(identity="agent.alice")
    sent = [messages.create(body=f"line {i}", from_="customer") for i in range(3)]

    read = members(member.sid).update(last_consumed_message_index=2, attributes=json.dumps({"seen": True}))
    assert read.last_consumed_message_index == 2 and read.last_consumption_timestamp is not None
    assert json.loads(members("agent.alice").fetch().attributes) == {"seen": True}

    edited = messages(sent[1].sid).update(body="line one, corrected", attributes=json.dumps({"fixed": 1}))
    assert edited.body == "line one, corrected" and edited.was_edited is True
    assert json.loads(edited.attributes) == {"fixed": 1}
    assert messages(sent[0].sid).fetch().was_edited is False

    assert messages(sent[1].sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        messages(sent[1].sid).fetch()
    assert gone.value.status == 404
    assert [m.index for m in messages.list()] == [0, 2]  # the others keep their indexes
    assert client.chat.v2.services(service.sid).channels(channel.sid).fetch().messages_count == 2
    assert messages.create(body="next", from_="customer").index == 3


def test_every_advertised_link_resolves(stack: Stack) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="links")
    channel = client.chat.v2.services(service.sid).channels.create()
    client.chat.v2.services(service.sid).channels(channel.sid).messages.create(body="hi", from_="x")
    with stack.http() as http:
        for resource in (f"/v2/Services/{service.sid}", f"/v2/Services/{service.sid}/Channels/{channel.sid}"):
            for name, link in http.get(resource).json()["links"].items():
                answer = http.get(httpx.URL(link).path)
                assert answer.status_code == 200, (name, answer.text)
    assert list(client.chat.v2.services(service.sid).channels(channel.sid).invites.list()) == []


def test_webhook_resource_validates_and_round_trips(stack: Stack, outside: RecordingServer) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="hooks")
    channel = client.chat.v2.services(service.sid).channels.create()
    webhooks = client.chat.v2.services(service.sid).channels(channel.sid).webhooks
    assert webhooks.list() == []  # a channel of no Flex Flow has none

    hook = webhooks.create(
        type="webhook",
        configuration_url=f"{outside.url}/bridge",
        configuration_filters=["onMessageSent", "onMessageUpdated"],
        configuration_retry_count=1,
    )
    assert hook.sid.startswith("WH") and hook.type == "webhook"
    assert hook.configuration == {
        "url": f"{outside.url}/bridge",
        "method": "POST",
        "filters": ["onMessageSent", "onMessageUpdated"],
        "retry_count": 1,
    }
    assert webhooks(hook.sid).fetch().configuration == hook.configuration
    updated = webhooks(hook.sid).update(configuration_method="GET", configuration_filters=["onMessageSent"])
    assert updated.configuration["method"] == "GET" and updated.configuration["filters"] == ["onMessageSent"]

    trigger = webhooks.create(type="trigger", configuration_url=f"{outside.url}/t", configuration_triggers=["help"])
    assert trigger.configuration["triggers"] == ["help"]
    assert [w.sid for w in webhooks.list()] == [hook.sid, trigger.sid]

    for refused in (
        {"type": "studio"},  # no flow
        {"type": "webhook"},  # no URL
        {"type": "trigger", "configuration_url": f"{outside.url}/t"},  # no triggers
        {"type": "studio", "configuration_flow_sid": "FWnot-a-sid"},
        {"type": "webhook", "configuration_url": "ftp://bridge.example"},
    ):
        with pytest.raises(TwilioRestException) as bad:
            webhooks.create(**refused)
        assert bad.value.status == 400, refused
    with pytest.raises(TwilioRestException) as missing:
        webhooks("WH" + "0" * 32).fetch()
    assert missing.value.status == 404 and missing.value.code == 20404
    assert webhooks(trigger.sid).delete() is True
    assert [w.sid for w in webhooks.list()] == [hook.sid]


def test_deleting_the_studio_webhook_hands_the_conversation_off(sending: Stack, outside: RecordingServer) -> None:
    """Flex's hand-off: once the channel's Studio webhook is gone the customer's messages no
    longer run the flow; a webhook for ``onMessageSent`` then gets them posted."""
    client = sending.twilio()
    customer = new_phone()
    flow_sid = create_flow(sending, welcome_definition())
    with sending.http() as http:
        service = sending.create_service(http)
        flex_flow = sending.create_flex_flow(
            http, service, LongLived="true", IntegrationType="studio", **{"Integration.FlowSid": flow_sid}
        )
        number = str(flex_flow["contact_identity"])
        text(sending, http, number, customer, "hello")
        assert conversation(http, service, 2) == [(customer, "hello"), (number, WELCOME)]
        [channel] = client.chat.v2.services(service).channels.list()

        [studio] = client.chat.v2.services(service).channels(channel.sid).webhooks.list()
        assert studio.type == "studio" and studio.configuration["flow_sid"] == flow_sid
        assert channel.links["webhooks"].endswith(f"/Channels/{channel.sid}/Webhooks")
        # The flow ended; the customer's next message runs it again while the webhook stands.
        eventually(lambda: executions_ended(client, flow_sid, 1))
        text(sending, http, number, customer, "anyone?")
        assert conversation(http, service, 4)[2:] == [(customer, "anyone?"), (number, WELCOME)]
        eventually(lambda: executions_ended(client, flow_sid, 2))

        assert remove_studio_webhook(client, service, channel.sid) == [studio.sid]
        assert client.chat.v2.services(service).channels(channel.sid).webhooks.list() == []
        text(sending, http, number, customer, "still there?")
        assert conversation(http, service, 5)[4:] == [(customer, "still there?")]

        client.chat.v2.services(service).channels(channel.sid).webhooks.create(
            type="webhook", configuration_url=f"{outside.url}/handoff", configuration_filters=["onMessageSent"]
        )
        text(sending, http, number, customer, "for the bridge")

        def posted() -> list[dict[str, str]]:
            forms = [r.form for r in outside.received("/handoff")]
            assert forms, forms
            return forms

        [post] = eventually(posted)
        assert post["EventType"] == "onMessageSent" and post["Body"] == "for the bridge"
        assert post["ChannelSid"] == channel.sid
        assert len(client.studio.v2.flows(flow_sid).executions.list()) == 2


def executions_ended(client: Client, flow_sid: str, count: int) -> None:
    executions = client.studio.v2.flows(flow_sid).executions.list()
    assert len(executions) == count and all(e.status == "ended" for e in executions), executions


def test_a_customer_writing_after_their_channel_was_deleted_gets_a_new_one(stack: Stack) -> None:
    """Functions delete a finished conversation's channel; the customer's next text opens a new
    channel that runs the Flex Flow's flow again, and nothing of the old one comes back."""
    client = stack.twilio()
    flow_sid = create_flow(stack, welcome_definition())
    customer = new_phone()
    with stack.http() as http:
        service = stack.create_service(http)
        flex_flow = stack.create_flex_flow(http, service, IntegrationType="studio", **{"Integration.FlowSid": flow_sid})
        number = str(flex_flow["contact_identity"])
        text(stack, http, number, customer, "first visit")
        assert [body for _, body in conversation(http, service, 2)] == ["first visit", WELCOME]
        [old] = client.chat.v2.services(service).channels.list()
        assert client.chat.v2.services(service).channels(old.sid).delete() is True
        text(stack, http, number, customer, "back again")
        assert [body for _, body in conversation(http, service, 2)] == ["back again", WELCOME]
    [new] = client.chat.v2.services(service).channels.list()
    assert new.sid != old.sid
