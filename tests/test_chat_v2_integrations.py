"""Chat v2 as Flex integrations call it with the official ``twilio`` client: Functions that write a
task's SID into a channel's attributes, read horizons and message edits, and the channel Webhooks
hand-off (a plugin deletes the channel's Studio webhook, so the customer's next messages no
longer run the flow; a ``webhook`` filtering ``onMessageSent`` gets them posted instead)."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from switchboard.fake_provider import FakeTwilio
from tests.helpers.flows import create_flow
from tests.helpers.messages import conversation, text
from tests.helpers.recording import Recorded, RecordingServer, Reply
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

WELCOME = "Welcome! An agent will be with you shortly."


@pytest.fixture(scope="module")
def quick_sending(make_stack: StackFactory, fake_twilio: FakeTwilio) -> Stack:
    """A stack that sends SMS through ``fake_twilio`` and closes channels after two quiet seconds."""
    return make_stack(
        twilio_auth_token=fake_twilio.auth_token,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_api_url=fake_twilio.url,
        channel_inactivity_seconds=2.0,
    )


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
        {"type": "trigger", "configuration_url": f"{outside.url}/t", "configuration_triggers": [" "]},
        {"type": "trigger", "configuration_url": f"{outside.url}/t", "configuration_triggers": ["x" * 249]},
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


def received(outside: RecordingServer, path: str, count: int) -> list[Recorded]:
    """The requests ``path`` got, once it got ``count`` of them."""

    def check() -> list[Recorded]:
        requests = outside.received(path)
        assert len(requests) >= count, requests
        return requests

    return eventually(check)


def signed_by(stack: Stack, url: str, params: dict[str, str], request: Recorded) -> bool:
    """Whether ``request`` carries the account's signature of ``url`` and ``params``, as Twilio
    signs its webhooks."""
    validator = RequestValidator(stack.settings.auth_token)
    return bool(validator.validate(url, params, request.headers["X-Twilio-Signature"]))


def test_a_reopened_contact_channel_keeps_the_webhooks_a_caller_set(
    quick_sending: Stack, outside: RecordingServer
) -> None:
    """A long-lived channel closes for inactivity after the hand-off (Studio webhook deleted, a
    ``webhook`` added); the customer's next message reopens it with those webhooks, not with its
    Flex Flow's Studio integration."""
    stack = quick_sending
    client = stack.twilio()
    customer = new_phone()
    flow_sid = create_flow(stack, welcome_definition())
    with stack.http() as http:
        service = stack.create_service(http)
        flex_flow = stack.create_flex_flow(
            http, service, LongLived="true", IntegrationType="studio", **{"Integration.FlowSid": flow_sid}
        )
        number = str(flex_flow["contact_identity"])
        text(stack, http, number, customer, "hello")
        assert conversation(http, service, 2) == [(customer, "hello"), (number, WELCOME)]
        [channel] = client.chat.v2.services(service).channels.list()
        eventually(lambda: executions_ended(client, flow_sid, 1))
        assert remove_studio_webhook(client, service, channel.sid)
        webhooks = client.chat.v2.services(service).channels(channel.sid).webhooks
        bridge = webhooks.create(
            type="webhook", configuration_url=f"{outside.url}/reopened", configuration_filters=["onMessageSent"]
        )

        def closed() -> None:
            fetched = client.chat.v2.services(service).channels(channel.sid).fetch()
            assert json.loads(fetched.attributes)["status"] == "INACTIVE"

        eventually(closed)
        eventually(lambda: workflow_completed(stack, channel.sid))
        text(stack, http, number, customer, "back again")
        [post] = received(outside, "/reopened", 1)
        assert post.form["Body"] == "back again" and post.form["ChannelSid"] == channel.sid
        assert conversation(http, service, 3)[2:] == [(customer, "back again")]
        assert len(client.studio.v2.flows(flow_sid).executions.list()) == 1
        assert [w.sid for w in webhooks.list()] == [bridge.sid]


def workflow_completed(stack: Stack, channel_sid: str) -> None:
    """The channel's run ended (so the next message starts a new one)."""

    async def status(temporal: Any) -> str:
        return str((await temporal.get_workflow_handle(channel_sid).describe()).status.name)

    assert stack.call(status) == "COMPLETED"


def test_trigger_webhooks_post_the_messages_naming_their_keywords(stack: Stack, outside: RecordingServer) -> None:
    """A ``trigger`` webhook gets, in order and once each, the messages whose body holds one of
    its keywords (a whole word, in any case), in Chat's webhook shape, signed; retried
    ``RetryCount`` times with the same idempotency token; ``Method=GET`` puts the parameters in
    the query string."""
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="triggers")
    channel = client.chat.v2.services(service.sid).channels.create()
    webhooks = client.chat.v2.services(service.sid).channels(channel.sid).webhooks
    outside.script("/keywords", Reply(status=500), Reply())
    webhooks.create(
        type="trigger",
        configuration_url=f"{outside.url}/keywords",
        configuration_triggers=["help", "talk to agent"],
        configuration_retry_count=1,
    )
    webhooks.create(
        type="trigger",
        configuration_url=f"{outside.url}/keywords-get?source=chat",
        configuration_method="GET",
        configuration_triggers=["refund"],
    )
    messages = client.chat.v2.services(service.sid).channels(channel.sid).messages
    bodies = ["I need HELP, please", "helpful tips", "Can I talk to AGENT now?", "refund!", "nothing here"]
    sent = [messages.create(body=body, from_="customer", x_twilio_webhook_enabled="true") for body in bodies]
    messages.create(body="help (not for the webhooks)", from_="customer")

    posts = received(outside, "/keywords", 3)
    # The first post failed once and was tried again: same message, same idempotency token.
    assert [p.form["Body"] for p in posts] == [bodies[0], bodies[0], bodies[2]]
    assert [p.form["RetryCount"] for p in posts] == ["0", "1", "0"]
    assert [p.headers["I-Twilio-Idempotency-Token"] for p in posts] == [sent[0].sid, sent[0].sid, sent[2].sid]
    assert all(p.method == "POST" for p in posts)
    first = posts[0].form
    assert first["EventType"] == "onMessageSent" and first["ChannelSid"] == channel.sid
    assert (first["InstanceSid"], first["MessageSid"], first["Index"], first["From"]) == (
        service.sid,
        sent[0].sid,
        "0",
        "customer",
    )
    assert signed_by(stack, f"{outside.url}/keywords", first, posts[0])

    [get] = received(outside, "/keywords-get", 1)
    assert get.method == "GET" and get.body == b""
    query = {name: values[0] for name, values in get.query.items()}
    assert query["Body"] == "refund!" and query["MessageSid"] == sent[3].sid and query["source"] == "chat"
    params = {name: value for name, value in query.items() if name != "source"}
    assert signed_by(stack, f"{outside.url}/keywords-get?source=chat&{urlencode(params)}", {}, get)
    # Nothing else came: the other messages named no keyword, the last asked for no webhooks.
    eventually(lambda: channel_idle(client, service.sid, channel.sid))
    assert len(outside.received("/keywords")) == 3 and len(outside.received("/keywords-get")) == 1


def channel_idle(client: Client, service_sid: str, channel_sid: str) -> None:
    assert client.chat.v2.services(service_sid).channels(channel_sid).fetch().messages_count == 6


def test_a_webhook_with_method_get_gets_the_messages_in_its_query_string(
    stack: Stack, outside: RecordingServer
) -> None:
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="get hooks")
    channel = client.chat.v2.services(service.sid).channels.create()
    client.chat.v2.services(service.sid).channels(channel.sid).webhooks.create(
        type="webhook",
        configuration_url=f"{outside.url}/by-get",
        configuration_method="GET",
        configuration_filters=["onMessageSent"],
    )
    messages = client.chat.v2.services(service.sid).channels(channel.sid).messages
    sent = [messages.create(body=f"line {i}", from_="bob", x_twilio_webhook_enabled="true") for i in range(2)]
    requests = received(outside, "/by-get", 2)
    assert [r.method for r in requests] == ["GET", "GET"]
    queries = [{name: values[0] for name, values in r.query.items()} for r in requests]
    assert [(q["Body"], q["MessageSid"], q["EventType"]) for q in queries] == [
        ("line 0", sent[0].sid, "onMessageSent"),
        ("line 1", sent[1].sid, "onMessageSent"),
    ]
    assert signed_by(stack, f"{outside.url}/by-get?{urlencode(queries[0])}", {}, requests[0])


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Runs ``calls`` at once on threads; answers each one's result or the exception it raised."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(position: int, call: Callable[[], Any]) -> None:
        start.wait()
        try:
            results[position] = call()
        except Exception as exc:
            results[position] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def one_success_one_conflict(results: list[Any]) -> None:
    conflicts = [r for r in results if isinstance(r, TwilioRestException)]
    assert len(conflicts) == 1, results
    assert (conflicts[0].status, conflicts[0].code) == (409, 50307), conflicts[0]
    assert "unique name" in conflicts[0].msg


RACE_ROUNDS = 6


def test_racing_for_a_unique_name_gives_one_channel_a_409(stack: Stack) -> None:
    """Two callers set the same ``UniqueName`` at once (two updates, or a create and an
    update): one wins, the other gets Twilio's 409 (code 50307), never a 500."""
    client = stack.twilio()
    service = client.chat.v2.services.create(friendly_name="races")
    channels = client.chat.v2.services(service.sid).channels
    for round_ in range(RACE_ROUNDS):
        first, second = channels.create(), channels.create()
        name = f"updates-{round_}"
        results = concurrently(
            functools.partial(channels(first.sid).update, unique_name=name),
            functools.partial(channels(second.sid).update, unique_name=name),
        )
        one_success_one_conflict(results)
        winner = next(r for r in results if not isinstance(r, Exception))
        assert channels(name).fetch().sid == winner.sid

        name = f"create-{round_}"
        results = concurrently(
            functools.partial(channels.create, unique_name=name),
            functools.partial(channels(first.sid).update, unique_name=name),
        )
        one_success_one_conflict(results)
        winner = next(r for r in results if not isinstance(r, Exception))
        assert channels(name).fetch().sid == winner.sid


def test_a_reopened_contact_channel_keeps_the_attributes_a_caller_wrote(quick_sending: Stack) -> None:
    """A Function wrote the task's SID into a long-lived channel's attributes; the channel closes
    for inactivity and the customer's next message reopens it with those attributes (Flex's
    ``status`` current), not with the attributes a new channel gets."""
    stack = quick_sending
    client = stack.twilio()
    customer = new_phone()
    with stack.http() as http:
        service = stack.create_service(http)
        flex_flow = stack.create_flex_flow(http, service, LongLived="true")
        number = str(flex_flow["contact_identity"])
        text(stack, http, number, customer, "hello")
        conversation(http, service, 1)
        [channel] = client.chat.v2.services(service).channels.list()
        add_task_sid_to_channel_attributes(client, service, channel.sid, "WT" + "b" * 32)

        def closed() -> None:
            fetched = client.chat.v2.services(service).channels(channel.sid).fetch()
            assert json.loads(fetched.attributes)["status"] == "INACTIVE"

        eventually(closed)
        eventually(lambda: workflow_completed(stack, channel.sid))
        text(stack, http, number, customer, "back again")
        assert conversation(http, service, 2)[1:] == [(customer, "back again")]
    attributes = json.loads(client.chat.v2.services(service).channels(channel.sid).fetch().attributes)
    assert attributes["tasks"] == ["WT" + "b" * 32]
    assert attributes["status"] == "ACTIVE"
