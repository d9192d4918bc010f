"""Conversations' address configurations through the official client: Twilio's fields and errors,
and inbound without code. A customer's SMS to a configured address auto-creates a conversation
(listed through Conversations, the customer a participant with a messaging binding) that runs a
Conversations-style Studio flow to an agent's accepted reservation, or is posted to a webhook in
Conversations' shape, signed; a provider's retry creates nothing twice."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from switchboard.fake_provider import FakeMeta, FakeTwilio, meta_webhook
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.compat import fixture_text, substitute
from tests.helpers.flows import QUIZ, create_flow, sms_flex_flow
from tests.helpers.messages import bodies_sent_to, text
from tests.helpers.recording import RecordingServer
from tests.helpers.sockets import as_agent, command, event, frame, sign_in
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually, new_phone

APP_SECRET = secrets.token_hex(16)
GREETING = "Thanks for writing in. Someone from the support team will reply here shortly."


def conversations_flow(stack: Stack) -> str:
    """The Conversations-era Flex messaging flow (tests/compat/flows), on Flex's workspace."""
    defaults = plan_flex_defaults(stack.settings).defaults
    values = {"WORKFLOW_SID": defaults.workflow_sid, "CHAT_CHANNEL_SID": defaults.chat_task_channel_sid}
    return create_flow(stack, json.loads(substitute(fixture_text("flows", "conversations_messaging_flow"), values)))


def studio_address(stack: Stack, flow_sid: str) -> Any:
    return stack.twilio().conversations.v1.address_configurations.create(
        type="sms",
        address=new_phone(),
        friendly_name="Support line",
        auto_creation_enabled=True,
        auto_creation_type="studio",
        auto_creation_studio_flow_sid=flow_sid,
        auto_creation_studio_retry_count=1,
    )


def refused(call: Any, status: int, *words: str) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    assert caught.value.status == status, caught.value
    for word in words:
        assert word in str(caught.value.msg), caught.value.msg
    return caught.value


def conversations_with(stack: Stack, customer: str) -> list[Any]:
    """The default service's conversations whose customer participant is at ``customer``."""
    client = stack.twilio().conversations.v1
    found = []
    for conversation in client.conversations.list():
        for participant in client.conversations(conversation.sid).participants.list():
            if (participant.messaging_binding or {}).get("address") == customer:
                found.append(conversation)
    return found


def test_address_configurations_have_twilios_fields_and_errors(sending: Stack) -> None:
    client = sending.twilio().conversations.v1
    flow_sid = conversations_flow(sending)
    created = studio_address(sending, flow_sid)
    assert created.sid.startswith("IG") and created.type == "sms" and created.friendly_name == "Support line"
    service = plan_flex_defaults(sending.settings).defaults.chat_service_sid
    assert created.auto_creation == {
        "enabled": True,
        "type": "studio",
        "conversation_service_sid": service,
        "studio_flow_sid": flow_sid,
        "studio_retry_count": 1,
    }
    assert created.url.endswith(f"/v1/Configuration/Addresses/{created.sid}")
    assert client.address_configurations(created.sid).fetch().address == created.address
    assert client.address_configurations(created.address).fetch().sid == created.sid  # by address

    hook = client.address_configurations.create(
        type="whatsapp",
        address="whatsapp:" + new_phone(),
        auto_creation_enabled=False,
        auto_creation_type="webhook",
        auto_creation_webhook_url="https://example.com/hook",
        address_country="US",
    )
    assert hook.auto_creation == {
        "enabled": False,
        "type": "webhook",
        "conversation_service_sid": service,
        "webhook_url": "https://example.com/hook",
        "webhook_method": "POST",
        "webhook_filters": ["onMessageAdded"],
    }
    assert hook.address_country == "US"
    listed = {c.sid for c in client.address_configurations.list(type="whatsapp")}
    assert hook.sid in listed and created.sid not in listed

    # Switching type drops the old type's fields.
    updated = client.address_configurations(hook.sid).update(
        friendly_name="Renamed", auto_creation_type="default", auto_creation_enabled=True
    )
    assert updated.friendly_name == "Renamed"
    assert updated.auto_creation == {"enabled": True, "type": "default", "conversation_service_sid": service}

    # Twilio's errors, naming what is wrong.
    creations = client.address_configurations
    refused(lambda: creations.create(type="gbm", address="gbm:agent"), 400, "Type", "gbm")
    refused(lambda: creations.create(type="sms", address=created.address), 409, created.sid)
    refused(lambda: creations.create(type="whatsapp", address=new_phone()), 400, "Address", "whatsapp:")
    refused(
        lambda: creations.create(type="sms", address=new_phone(), auto_creation_type="studio"),
        400,
        "AutoCreation.StudioFlowSid",
    )
    refused(
        lambda: creations.create(
            type="sms",
            address=new_phone(),
            auto_creation_type="webhook",
            auto_creation_webhook_url="https://example.com/hook",
            auto_creation_webhook_filters=["onMessageAdded", "onParticipantAdded"],
        ),
        400,
        "AutoCreation.WebhookFilters",
        "onParticipantAdded",
    )
    refused(
        lambda: creations.create(type="sms", address=new_phone(), auto_creation_webhook_url="https://example.com"),
        400,
        "AutoCreation.WebhookUrl",
    )
    # One address, one of them: a Flex Flow's address takes no configuration, and the reverse.
    refused(lambda: creations.create(type="sms", address=sending.settings.flex_sms_number), 409, "Flex Flow")
    with sending.http() as http:
        flex_flow = {"FriendlyName": "sms", "ChatServiceSid": service, "ChannelType": "sms"}
        answer = http.post("/v1/FlexFlows", data={**flex_flow, "ContactIdentity": created.address})
    assert answer.status_code == 409 and created.sid in answer.json()["message"], answer.text

    client.address_configurations(hook.sid).delete()
    refused(lambda: client.address_configurations(hook.sid).fetch(), 404)


def test_an_sms_to_a_studio_address_reaches_an_agents_accepted_reservation(
    sending: Stack, fake_twilio: FakeTwilio
) -> None:
    clear_the_floor(sending)
    configuration = studio_address(sending, conversations_flow(sending))
    customer = new_phone()
    token = sign_in(sending, "address-ada")["token"]

    def customer_writes() -> None:
        with sending.http() as http:
            params = sending.sms_params(configuration.address, customer, "My order never arrived")
            for _ in range(2):  # the provider retries: one conversation, one message
                response = sending.post_webhook(http, params)
                assert response.status_code == 200, response.text

    async def work() -> tuple[dict[str, Any], dict[str, Any]]:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            await asyncio.to_thread(customer_writes)
            offered = await frame(desk, event("reservation.created"))
            accepted = await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            return offered, accepted

    offered, _accepted = asyncio.run(work())
    [conversation] = conversations_with(sending, customer)
    assert offered["channel_sid"] == conversation.sid
    assert conversation.state == "active"

    client = sending.twilio().conversations.v1.conversations(conversation.sid)
    [participant] = [p for p in client.participants.list() if p.messaging_binding]
    assert participant.identity is None
    assert participant.messaging_binding == {
        "type": "sms",
        "address": customer,
        "proxy_address": configuration.address,
    }
    bodies = [(m.author, m.body) for m in client.messages.list()]
    assert bodies == [(customer, "My order never arrived"), (configuration.address, GREETING)]
    assert client.messages.list()[0].participant_sid == participant.sid

    def greeted() -> None:
        assert bodies_sent_to(fake_twilio, customer) == [GREETING]

    eventually(greeted)

    # The flow fired its Conversations trigger with Twilio's variables, and handed over to Flex.
    studio = sending.twilio().studio.v2.flows(configuration.auto_creation["studio_flow_sid"])
    [execution] = studio.executions.list()
    steps = [(s.transitioned_from, s.name, s.transitioned_to) for s in execution.steps.list()]
    assert steps == [
        ("Trigger", "incomingConversationMessage", "greet_customer"),
        ("greet_customer", "sent", "hand_to_agent"),
        ("hand_to_agent", "callComplete", "Ended"),
    ]
    trigger = studio.executions(execution.sid).execution_context().fetch().context["trigger"]
    assert {
        key: trigger["conversation"][key]
        for key in ("ConversationSid", "ChatServiceSid", "Body", "Author", "ParticipantSid", "Source")
    } == {
        "ConversationSid": conversation.sid,
        "ChatServiceSid": conversation.chat_service_sid,
        "Body": "My order never arrived",
        "Author": customer,
        "ParticipantSid": participant.sid,
        "Source": "SMS",
    }
    assert trigger["message"]["Body"] == "My order never arrived"  # both shapes are filled

    workspace = sending.twilio().taskrouter.v1.workspaces(plan_flex_defaults(sending.settings).defaults.workspace_sid)

    def accepted_task() -> Any:
        [task] = [
            t for t in workspace.tasks.list() if json.loads(t.attributes).get("conversationSid") == conversation.sid
        ]
        assert task.assignment_status == "assigned", task.assignment_status
        return task

    task = eventually(accepted_task)
    assert json.loads(task.attributes)["channelType"] == "sms"
    [reservation] = workspace.tasks(task.sid).reservations.list()
    assert reservation.reservation_status == "accepted"

    # As Flex on Conversations does, send-to-flex opened an interaction on the conversation: the
    # task names it, and the accepting agent is now a participant of the conversation.
    attributes = json.loads(task.attributes)
    interaction = sending.twilio().flex_api.v1.interaction(attributes["flexInteractionSid"]).fetch()
    assert interaction.channel["properties"]["media_channel_sid"] == conversation.sid
    assert attributes["flexInteractionChannelSid"] == interaction.channel["sid"]
    assert "address-ada" in [p.identity for p in client.participants.list()]


def test_a_webhook_address_posts_conversations_onmessageadded_signed(sending: Stack, outside: RecordingServer) -> None:
    client = sending.twilio().conversations.v1
    path = "/address-hook"
    configuration = client.address_configurations.create(
        type="sms",
        address=new_phone(),
        auto_creation_enabled=True,
        auto_creation_type="webhook",
        auto_creation_webhook_url=outside.url + path,
        auto_creation_webhook_filters=["onMessageAdded"],
    )
    customer = new_phone()
    with sending.http() as http:
        params = sending.sms_params(configuration.address, customer, "Is the shop open on Sunday?")
        for _ in range(2):  # a retried webhook is one message, posted once
            assert sending.post_webhook(http, params).status_code == 200

    def created() -> list[Any]:
        found = conversations_with(sending, customer)
        assert found
        return found

    [conversation] = eventually(created)

    def posts() -> list[Any]:
        received = outside.received(path)
        assert received
        return received

    [posted] = eventually(posts)
    form = posted.form
    [message] = client.conversations(conversation.sid).messages.list()
    [participant] = client.conversations(conversation.sid).participants.list()
    assert form["EventType"] == "onMessageAdded"
    assert form["ConversationSid"] == conversation.sid
    assert form["ChatServiceSid"] == conversation.chat_service_sid
    assert form["MessageSid"] == message.sid
    assert form["Body"] == "Is the shop open on Sunday?"
    assert form["Author"] == customer
    assert form["ParticipantSid"] == participant.sid
    assert form["Source"] == "SMS"
    # Signed with the account's auth token, as Twilio signs its webhooks.
    signature = posted.headers["X-Twilio-Signature"]
    assert RequestValidator(sending.settings.auth_token).validate(outside.url + path, form, signature)
    assert len(outside.received(path)) == 1

    # Auto-creation disabled: the address takes no more new customers.
    client.address_configurations(configuration.sid).update(auto_creation_enabled=False)
    with sending.http() as http:
        answer = sending.post_webhook(http, sending.sms_params(configuration.address, new_phone(), "hello?"))
    assert answer.status_code == 404, answer.text


@pytest.fixture(scope="module")
def meta(make_stack: StackFactory, fake_meta: FakeMeta) -> Stack:
    return make_stack(
        meta_access_token=fake_meta.access_token,
        meta_app_secret=APP_SECRET,
        meta_verify_token="verify",
        meta_graph_url=fake_meta.url,
    )


def test_a_messenger_address_of_type_default_auto_creates_the_conversation_only(meta: Stack) -> None:
    page = "5551" + str(secrets.randbelow(10**8)).zfill(8)
    configuration = meta.twilio().conversations.v1.address_configurations.create(
        type="messenger", address=f"messenger:{page}", auto_creation_enabled=True
    )
    assert configuration.auto_creation["type"] == "default"
    psid = str(secrets.randbelow(10**15))
    event = {
        "sender": {"id": psid},
        "recipient": {"id": page},
        "timestamp": 1764000000000,
        "message": {"mid": "m_" + secrets.token_hex(8), "text": "Do you ship abroad?"},
    }
    body, headers = meta_webhook(APP_SECRET, {"object": "page", "entry": [{"id": page, "messaging": [event]}]})
    assert httpx.post(f"{meta.url}/webhooks/meta", content=body, headers=headers).status_code == 200

    def created() -> list[Any]:
        found = conversations_with(meta, f"messenger:{psid}")
        assert found
        return found

    [conversation] = eventually(created)
    [participant] = meta.twilio().conversations.v1.conversations(conversation.sid).participants.list()
    assert participant.messaging_binding == {
        "type": "messenger",
        "address": f"messenger:{psid}",
        "proxy_address": f"messenger:{page}",
    }
    [message] = meta.twilio().conversations.v1.conversations(conversation.sid).messages.list()
    assert (message.author, message.body, message.participant_sid) == (
        f"messenger:{psid}",
        "Do you ship abroad?",
        participant.sid,
    )


def test_a_legacy_flow_on_a_flex_flow_sees_trigger_message_alone(sending: Stack) -> None:
    """``trigger.conversation`` is there when the trigger fires ``incomingConversationMessage``
    (a run for a conversation); a Programmable Chat flow firing ``incomingMessage`` sees
    ``trigger.message`` only, as before."""
    flow_sid = create_flow(sending, QUIZ)
    with sending.http() as http:
        _service, number = sms_flex_flow(sending, http, flow_sid)
        text(sending, http, number, new_phone(), "hello")
    executions = sending.twilio().studio.v2.flows(flow_sid).executions

    def started() -> Any:
        [execution] = executions.list()
        return execution

    execution = eventually(started)
    trigger = executions(execution.sid).execution_context().fetch().context["trigger"]
    assert trigger["message"]["Body"] == "hello" and "conversation" not in trigger
