"""Conversations webhooks through the official ``twilio`` client: a conversation's own webhooks are
its chat channel's (made through either API, listed and obeyed through both; a ``studio`` target
runs its flow), and the account's and each service's pre-event and post-event webhooks: a
pre-event answer refuses a message (nothing stored, delivered or announced) or changes it,
post-events arrive signed with Twilio's parameters and only for the filters chosen, from REST
(with ``X-Twilio-Webhook-Enabled: true``), the customer's socket and inbound SMS alike. Webhook
URLs go through the outbound policy, and only the account manages webhooks."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client as TemporalClient
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.flows import create_flow
from tests.helpers.recording import Recorded, RecordingServer, Reply
from tests.helpers.sockets import as_customer, frame, open_session, refused
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone
from tests.helpers.tokens import forge

GREETING = "Hello from the conversation's flow"


def refusal(call: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def hook_path(name: str) -> str:
    return f"/{name}/{uuid.uuid4().hex}"


def signed(stack: Stack, server: RecordingServer, request: Recorded) -> bool:
    """Whether ``request`` carries Twilio's signature of its URL and form, by the auth token."""
    url = server.url + request.path
    signature = request.headers.get("X-Twilio-Signature", "")
    return bool(RequestValidator(stack.settings.auth_token).validate(url, request.form, signature))


def events(server: RecordingServer, path: str, event_type: str) -> list[dict[str, str]]:
    return [r.form for r in server.received(path) if r.form.get("EventType") == event_type]


def new_service(client: Client) -> str:
    return str(client.conversations.v1.services.create(friendly_name="hooks").sid)


def post_events_done(stack: Stack, channel_sid: str) -> None:
    """Waits until the channel's workflow finished a ``post_conversation_events`` activity."""

    async def fetch(client: TemporalClient) -> bool:
        scheduled: set[int] = set()
        async for item in client.get_workflow_handle(channel_sid).fetch_history_events():
            attributes = item.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "post_conversation_events":
                scheduled.add(item.event_id)
            completed = item.activity_task_completed_event_attributes
            if item.HasField("activity_task_completed_event_attributes") and completed.scheduled_event_id in scheduled:
                return True
        return False

    def done() -> None:
        assert stack.call(fetch)

    eventually(done)


def test_a_conversation_webhook_is_the_channel_webhook_of_both_apis(stack: Stack, outside: RecordingServer) -> None:
    client = stack.twilio()
    conversation = client.conversations.v1.conversations.create(friendly_name="hooks")
    service = conversation.chat_service_sid
    url = outside.url + hook_path("scoped")
    made = conversation.webhooks.create(
        target="webhook", configuration_url=url, configuration_method="post", configuration_filters=["onMessageAdded"]
    )
    assert made.sid.startswith("WH") and made.target == "webhook" and made.conversation_sid == conversation.sid
    assert made.configuration == {"url": url, "method": "post", "filters": ["onMessageAdded"]}
    assert made.url == f"{stack.url}/v1/Conversations/{conversation.sid}/Webhooks/{made.sid}"

    chat_webhooks = client.chat.v2.services(service).channels(conversation.sid).webhooks
    [seen] = chat_webhooks.list()
    assert (seen.sid, seen.type, seen.configuration["url"]) == (made.sid, "webhook", url)
    trigger = chat_webhooks.create(type="trigger", configuration_url=url, configuration_triggers=["help"])
    assert [w.sid for w in conversation.webhooks.list()] == [made.sid, trigger.sid]
    through_service = client.conversations.v1.services(service).conversations(conversation.sid).webhooks
    fetched = through_service(trigger.sid).fetch()
    assert fetched.target == "trigger" and fetched.chat_service_sid == service
    assert fetched.configuration["triggers"] == ["help"]

    changed = conversation.webhooks(made.sid).update(configuration_filters=["onMessageAdded", "onParticipantAdded"])
    assert changed.configuration["filters"] == ["onMessageAdded", "onParticipantAdded"]
    assert chat_webhooks(made.sid).fetch().configuration["filters"] == ["onMessageAdded", "onParticipantAdded"]
    conversation.webhooks(trigger.sid).delete()
    assert [w.sid for w in chat_webhooks.list()] == [made.sid]

    # Twilio's codes.
    assert refusal(lambda: conversation.webhooks("WH" + "0" * 32).fetch()).code == 50360
    bad_filter = refusal(
        lambda: conversation.webhooks.create(
            target="webhook", configuration_url=url, configuration_filters=["onSomethingElse"]
        )
    )
    assert (bad_filter.status, bad_filter.code) == (400, 50365) and "Configuration.Filters" in bad_filter.msg
    no_filter = refusal(lambda: conversation.webhooks.create(target="webhook", configuration_url=url))
    assert no_filter.code == 50370
    assert refusal(lambda: conversation.webhooks.create(target="trigger", configuration_url=url)).code == 50371
    replay = refusal(
        lambda: conversation.webhooks.create(
            target="webhook",
            configuration_url=url,
            configuration_filters=["onMessageAdded"],
            configuration_replay_after=0,
        )
    )
    assert replay.status == 400 and "ReplayAfter" in replay.msg


def test_a_pre_event_webhook_refusing_a_message_leaves_nothing(stack: Stack, outside: RecordingServer) -> None:
    client = stack.twilio()
    service = new_service(client)
    pre, post = hook_path("pre"), hook_path("post")
    outside.script(pre, Reply(403, {"reason": "no spam"}))
    client.conversations.v1.services(service).configuration.webhooks().update(
        pre_webhook_url=outside.url + pre,
        post_webhook_url=outside.url + post,
        filters=["onMessageAdd", "onMessageAdded"],
    )
    conversation = client.conversations.v1.services(service).conversations.create(friendly_name="guarded")
    messages = conversation.messages
    refused_rest = refusal(lambda: messages.create(author="ann", body="buy now", x_twilio_webhook_enabled="true"))
    assert refused_rest.status == 403 and outside.url + pre in refused_rest.msg and "onMessageAdd" in refused_rest.msg
    [asked] = outside.received(pre)
    assert signed(stack, outside, asked)
    assert asked.form["EventType"] == "onMessageAdd" and asked.form["Body"] == "buy now"
    assert asked.form["Author"] == "ann" and asked.form["Source"] == "API"
    assert asked.form["ConversationSid"] == conversation.sid and asked.form["ChatServiceSid"] == service
    assert asked.form["AccountSid"] == stack.settings.account_sid and "MessageSid" not in asked.form
    assert messages.list() == []
    assert client.chat.v2.services(service).channels(conversation.sid).fetch().messages_count == 0

    # Without the header a REST post fires no webhooks, as at Twilio: it is stored, unasked.
    kept = messages.create(author="ann", body="from the back office")
    assert kept.index == 0 and len(outside.received(pre)) == 1
    # A post-event was never queued for either.
    assert outside.received(post) == []


def test_a_pre_event_webhook_changes_a_message_and_the_post_event_tells_it(
    stack: Stack, outside: RecordingServer
) -> None:
    client = stack.twilio()
    service = new_service(client)
    pre, post = hook_path("pre"), hook_path("post")
    outside.script(pre, Reply(200, {"body": "[redacted]", "attributes": '{"filtered": true}'}))
    client.conversations.v1.services(service).configuration.webhooks().update(
        pre_webhook_url=outside.url + pre,
        post_webhook_url=outside.url + post,
        filters=["onMessageAdd", "onMessageAdded"],
        method="POST",
    )
    conversation = client.conversations.v1.services(service).conversations.create(friendly_name="filtered")
    ann = conversation.participants.create(identity="ann")
    message = conversation.messages.create(author="ann", body="my card is 4111", x_twilio_webhook_enabled="true")
    assert message.body == "[redacted]" and json.loads(message.attributes) == {"filtered": True}

    def posted() -> dict[str, str]:
        [event] = events(outside, post, "onMessageAdded")
        return event

    event = eventually(posted)
    [request] = outside.received(post)
    assert signed(stack, outside, request)
    assert event["MessageSid"] == message.sid and event["Index"] == "0" and event["Body"] == "[redacted]"
    assert event["Author"] == "ann" and event["ParticipantSid"] == ann.sid and event["Source"] == "API"
    assert event["ConversationSid"] == conversation.sid and event["ChatServiceSid"] == service
    assert event["AccountSid"] == stack.settings.account_sid and json.loads(event["Attributes"]) == {"filtered": True}
    assert event["DateCreated"].endswith("Z")


def test_post_events_follow_the_filters(stack: Stack, outside: RecordingServer) -> None:
    client = stack.twilio()
    service = new_service(client)
    post = hook_path("post")
    hooks = client.conversations.v1.services(service).configuration.webhooks()
    configured = hooks.update(post_webhook_url=outside.url + post, filters=["onParticipantAdded", "onMessageAdded"])
    assert configured.filters == ["onParticipantAdded", "onMessageAdded"] and configured.method == "POST"
    assert hooks.fetch().post_webhook_url == outside.url + post
    conversations = client.conversations.v1.services(service).conversations

    first = conversations.create(friendly_name="first", x_twilio_webhook_enabled="true")
    first.participants.create(identity="bea", x_twilio_webhook_enabled="true")
    first.messages.create(author="bea", body="hi", x_twilio_webhook_enabled="true")

    def heard_both() -> None:
        assert len(events(outside, post, "onParticipantAdded")) == 1
        assert len(events(outside, post, "onMessageAdded")) == 1

    eventually(heard_both)
    assert events(outside, post, "onConversationAdded") == []  # not among the filters
    [joined] = events(outside, post, "onParticipantAdded")
    assert joined["Identity"] == "bea" and joined["ParticipantSid"].startswith("MB")
    assert joined["ConversationSid"] == first.sid and joined["Source"] == "API"

    hooks.update(filters=["onConversationAdded"])
    second = conversations.create(friendly_name="second", attributes='{"vip": true}', x_twilio_webhook_enabled="true")

    def added() -> dict[str, str]:
        [event] = events(outside, post, "onConversationAdded")
        return event

    event = eventually(added)
    assert event["ConversationSid"] == second.sid and event["FriendlyName"] == "second"
    assert json.loads(event["Attributes"]) == {"vip": True} and event["State"] == "active"
    assert all(signed(stack, outside, r) for r in outside.received(post))
    # A conversation's own webhook hears what it filters, naming itself.
    scoped = hook_path("scoped")
    hook = second.webhooks.create(
        target="webhook", configuration_url=outside.url + scoped, configuration_filters=["onMessageAdded"]
    )
    second.messages.create(author="cy", body="to the scoped hook", x_twilio_webhook_enabled="true")

    def scoped_heard() -> dict[str, str]:
        [event] = events(outside, scoped, "onMessageAdded")
        return event

    heard = eventually(scoped_heard)
    assert (
        heard["WebhookSid"] == hook.sid and heard["WebhookType"] == "webhook" and heard["Body"] == "to the scoped hook"
    )
    assert len(events(outside, post, "onMessageAdded")) == 1  # the service no longer filters it


def test_refusals_on_the_customer_socket_and_on_inbound_sms(stack: Stack, outside: RecordingServer) -> None:
    client = stack.twilio()
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    pre = hook_path("pre")
    outside.script(pre, Reply(403))
    hooks = client.conversations.v1.services(default_service).configuration.webhooks()
    session = open_session(stack, "Ida")
    hooks.update(pre_webhook_url=outside.url + pre, filters=["onMessageAdd"])
    try:

        async def send() -> dict[str, Any]:
            async with as_customer(stack, session["token"]) as chat:
                await frame(chat, lambda f: f["type"] == "ready")
                return await refused(chat, "c1", "send_message", body="spam from the widget")

        error = asyncio.run(send())
        assert error["code"] == 403 and outside.url + pre in error["message"]
    finally:
        hooks.update(pre_webhook_url="", filters=[])
    [asked] = outside.received(pre)
    assert asked.form["Source"] == "SDK" and asked.form["ClientIdentity"] == asked.form["Author"]
    bodies = [m.body for m in client.conversations.v1.conversations(session["channel_sid"]).messages.list()]
    assert "spam from the widget" not in bodies

    # An inbound SMS the pre-event webhook refuses is dropped: the provider is answered, nothing is stored.
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        client.conversations.v1.services(service).configuration.webhooks().update(
            pre_webhook_url=outside.url + pre, filters=["onMessageAdd"]
        )
        customer = new_phone()
        answer = stack.post_webhook(http, stack.sms_params(flow["contact_identity"], customer, "unwanted"))
        assert answer.status_code == 200, answer.text
        assert http.get(f"/v2/Services/{service}/Channels").json()["channels"] == []
    sms = [r.form for r in outside.received(pre) if r.form.get("Source") == "SMS"]
    assert [(f["Body"], f["Author"]) for f in sms] == [("unwanted", customer)]


def greeter() -> dict[str, Any]:
    return {
        "initial_state": "Trigger",
        "states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "greet"}]},
            {
                "name": "greet",
                "type": "send-message",
                "transitions": [{"event": "sent"}, {"event": "failed"}],
                "properties": {"body": GREETING},
            },
        ],
    }


def test_a_studio_conversation_webhook_runs_its_flow(stack: Stack) -> None:
    client = stack.twilio()
    flow_sid = create_flow(stack, greeter())
    conversation = client.conversations.v1.conversations.create(friendly_name="bot")
    hook = conversation.webhooks.create(target="studio", configuration_flow_sid=flow_sid)
    assert hook.configuration == {"flow_sid": flow_sid}
    conversation.messages.create(author="dan", body="hello?", x_twilio_webhook_enabled="true")

    def greeted() -> None:
        assert GREETING in [m.body for m in conversation.messages.list()]

    eventually(greeted)
    assert len(client.studio.v2.flows(flow_sid).executions.list()) == 1


@pytest.fixture(scope="module")
def refusing(make_stack: StackFactory) -> Stack:
    """A stack with the default outbound policy: loopback is out of reach."""
    return make_stack(outbound_allowed_networks="")


def test_webhooks_on_refused_addresses_get_nothing(refusing: Stack, outside: RecordingServer) -> None:
    client = refusing.twilio()
    service = new_service(client)
    pre, post = hook_path("pre"), hook_path("post")
    outside.script(pre, Reply(403))
    client.conversations.v1.services(service).configuration.webhooks().update(
        pre_webhook_url=outside.url + pre,
        post_webhook_url=outside.url + post,
        filters=["onMessageAdd", "onMessageAdded"],
    )
    conversation = client.conversations.v1.services(service).conversations.create(friendly_name="guarded")
    # The pre-event webhook cannot be asked: the message goes on unmodified, as on a timeout.
    message = conversation.messages.create(author="eve", body="through", x_twilio_webhook_enabled="true")
    assert message.body == "through"
    post_events_done(refusing, conversation.sid)
    assert outside.received(pre) == [] and outside.received(post) == []


def test_only_the_account_manages_webhooks(stack: Stack) -> None:
    conversation = stack.twilio().conversations.v1.conversations.create(friendly_name="private")
    session = open_session(stack, "Joe")
    agent = forge(stack.settings)  # an agent's token
    with stack.http() as http:
        admin = http.post("/v1/Tokens", data={"Identity": "probe-admin", "Role": "admin"}).json()["token"]
    paths = [
        "/v1/Configuration/Webhooks",
        f"/v1/Conversations/{conversation.sid}/Webhooks",
        f"/v1/Services/{conversation.chat_service_sid}/Configuration/Webhooks",
    ]
    for path in paths:
        assert httpx.get(stack.url + path, timeout=30).status_code == 401
        for token in (session["token"], agent):
            answer = httpx.get(stack.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert answer.status_code == 403, (path, answer.text)
        assert httpx.get(stack.url + path, headers={"Authorization": f"Bearer {admin}"}, timeout=30).status_code == 200
    customer = httpx.post(
        stack.url + "/v1/Configuration/Webhooks",
        data={"PostWebhookUrl": "https://example.com/steal"},
        headers={"Authorization": f"Bearer {session['token']}"},
        timeout=30,
    )
    assert customer.status_code == 403
    assert stack.twilio().conversations.v1.configuration.webhooks().fetch().post_webhook_url is None


def test_state_changes_are_posted_as_onconversationstateupdated(stack: Stack, outside: RecordingServer) -> None:
    """A conversation's state changes, made by a caller or by its own flow of time, reach the
    post-event webhooks that filter ``onConversationStateUpdated``, signed, with Twilio's
    ``StateFrom``, ``StateTo`` and ``Reason``; a service that does not filter them hears nothing."""
    client = stack.twilio()
    service = new_service(client)
    post = hook_path("state")
    hooks = client.conversations.v1.services(service).configuration.webhooks()
    hooks.update(post_webhook_url=outside.url + post, filters=["onConversationStateUpdated"])
    conversations = client.conversations.v1.services(service).conversations
    made = conversations.create(friendly_name="stateful")

    conversations(made.sid).update(state="inactive")
    made.messages.create(author="dee", body="back again")  # a message makes it active again
    conversations(made.sid).update(state="closed")

    def three_changes() -> list[dict[str, str]]:
        changes = events(outside, post, "onConversationStateUpdated")
        assert len(changes) == 3, [(c["StateFrom"], c["StateTo"], c["Reason"]) for c in changes]
        return changes

    changes = eventually(three_changes)
    assert [(c["StateFrom"], c["StateTo"], c["Reason"]) for c in changes] == [
        ("active", "inactive", "API"),
        ("inactive", "active", "EVENT"),
        ("active", "closed", "API"),
    ]
    assert all(c["ConversationSid"] == made.sid and c["ChatServiceSid"] == service for c in changes)
    assert all(c["StateUpdated"] for c in changes)
    assert all(signed(stack, outside, r) for r in outside.received(post))

    # Another service's conversations are not its to hear.
    elsewhere = client.conversations.v1.conversations.create(friendly_name="elsewhere")
    client.conversations.v1.conversations(elsewhere.sid).update(state="closed")
    post_events_done(stack, elsewhere.sid)
    assert len(events(outside, post, "onConversationStateUpdated")) == 3
