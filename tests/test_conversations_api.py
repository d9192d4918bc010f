"""Conversations v1 through the official ``twilio`` client's ``conversations`` domain with only its
base URL changed: conversations, participants and messages over the same chat channels Chat v2
serves (one channel workflow, one history, the same indexes), under ``/v1/Conversations`` (the
default service) and ``/v1/Services/{IS}/Conversations``; Twilio's errors; the widget hearing, and
an SMS customer receiving, a message posted through Conversations."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.fake_provider import FakeTwilio
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.messages import bodies_sent_to, text
from tests.helpers.sockets import as_customer, event, frame, open_session
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


def refusal(call: object) -> TwilioRestException:
    """The Twilio error ``call`` (a thunk) raises."""
    assert callable(call)
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def test_conversations_participants_and_messages_through_the_twilio_client(stack: Stack) -> None:
    client = stack.twilio()
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    conversations = client.conversations.v1.conversations
    made = conversations.create(friendly_name="Order 77", unique_name="order-77", attributes=json.dumps({"order": 77}))
    assert made.sid.startswith("CH") and made.chat_service_sid == default_service
    assert made.state == "active" and made.timers == {} and made.messaging_service_sid is None
    assert json.loads(made.attributes) == {"order": 77}
    assert made.url == f"{stack.url}/v1/Conversations/{made.sid}"
    assert made.links["messages"] == f"{made.url}/Messages"
    assert conversations("order-77").fetch().sid == made.sid  # the unique name addresses it too
    assert made.sid in [c.sid for c in conversations.list(state="active")]
    assert made.sid not in [c.sid for c in conversations.list(state="closed")]

    renamed = conversations(made.sid).update(friendly_name="Order 77 (paid)", attributes='{"paid": true}')
    assert renamed.friendly_name == "Order 77 (paid)" and json.loads(renamed.attributes) == {"paid": True}
    assert renamed.unique_name == "order-77"

    participants = conversations(made.sid).participants
    alice = participants.create(identity="alice", attributes='{"team": "billing"}')
    assert alice.sid.startswith("MB") and alice.identity == "alice" and alice.messaging_binding is None
    bob = participants.create(identity="bob")
    assert [p.identity for p in participants.list()] == ["alice", "bob"]
    assert participants("alice").fetch().sid == alice.sid  # by identity, as Twilio's fetchByIdentity

    messages = conversations(made.sid).messages
    sent = [messages.create(author="alice", body=f"note {i}", attributes=json.dumps({"n": i})) for i in range(5)]
    assert [m.index for m in sent] == list(range(5))
    assert sent[1].author == "alice" and sent[1].participant_sid == alice.sid and sent[1].delivery is None
    assert json.loads(sent[1].attributes) == {"n": 1}
    system = messages.create(body="A system note")
    assert system.author == "system" and system.participant_sid is None and system.index == 5
    assert [m.index for m in messages.list(page_size=2)] == list(range(6))  # the client follows the pages
    assert [m.body for m in messages.list(order="desc", limit=2)] == ["A system note", "note 4"]
    assert messages(sent[2].sid).fetch().body == "note 2"

    edited = messages(sent[2].sid).update(body="note 2, edited")
    assert edited.body == "note 2, edited" and edited.index == 2
    messages(sent[3].sid).delete()
    assert [m.index for m in messages.list()] == [0, 1, 2, 4, 5]  # the others keep their indexes

    read = participants(bob.sid).update(last_read_message_index=4, attributes='{"seen": true}')
    assert read.last_read_message_index == 4 and read.last_read_timestamp is not None
    participants(bob.sid).delete()
    assert [p.identity for p in participants.list()] == ["alice"]

    conversations(made.sid).delete()
    gone = refusal(lambda: conversations(made.sid).fetch())
    assert gone.status == 404 and gone.code == 20404


def test_a_chat_v2_channel_is_a_conversation_and_the_reverse(stack: Stack) -> None:
    """One channel, one workflow, one history: what either API writes the other reads, with the
    same indexes, members and participants."""
    client = stack.twilio()
    service = client.conversations.v1.services.create(friendly_name="one engine")
    assert client.chat.v2.services(service.sid).fetch().friendly_name == "one engine"

    chat_channel = client.chat.v2.services(service.sid).channels.create(friendly_name="legacy", unique_name="legacy")
    client.chat.v2.services(service.sid).channels(chat_channel.sid).members.create(identity="carol")
    client.chat.v2.services(service.sid).channels(chat_channel.sid).messages.create(from_="carol", body="from chat")
    scoped = client.conversations.v1.services(service.sid).conversations
    seen = scoped("legacy").fetch()
    assert seen.sid == chat_channel.sid and seen.friendly_name == "legacy" and seen.chat_service_sid == service.sid
    assert seen.url == f"{stack.url}/v1/Services/{service.sid}/Conversations/{chat_channel.sid}"
    assert [p.identity for p in scoped(chat_channel.sid).participants.list()] == ["carol"]
    answered = scoped(chat_channel.sid).messages.create(author="carol", body="from conversations")
    assert answered.index == 1 and answered.participant_sid is not None
    chat_history = client.chat.v2.services(service.sid).channels(chat_channel.sid).messages.list()
    assert [(m.index, m.body, m._from) for m in chat_history] == [
        (0, "from chat", "carol"),
        (1, "from conversations", "carol"),
    ]
    assert client.chat.v2.services(service.sid).channels(chat_channel.sid).fetch().messages_count == 2

    # The reverse, on the default service: made through Conversations, written through Chat v2.
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    made = client.conversations.v1.conversations.create(friendly_name="modern")
    made.participants.create(identity="dave")
    made.messages.create(author="dave", body="first")
    channel = client.chat.v2.services(default_service).channels(made.sid)
    assert channel.fetch().friendly_name == "modern" and channel.fetch().members_count == 1
    assert [m.identity for m in channel.members.list()] == ["dave"]
    channel.messages.create(from_="dave", body="second")
    assert [(m.index, m.body) for m in made.messages.list()] == [(0, "first"), (1, "second")]
    # The default service's conversation is not in the other service, nor the other way round.
    assert refusal(lambda: scoped(made.sid).fetch()).status == 404
    assert refusal(lambda: client.conversations.v1.conversations(chat_channel.sid).fetch()).code == 20404


def test_refusals_are_twilios(stack: Stack) -> None:
    client = stack.twilio()
    conversations = client.conversations.v1.conversations
    conversations.create(unique_name="taken")
    taken = refusal(lambda: conversations.create(unique_name="taken"))
    assert (taken.status, taken.code) == (409, 50353)
    other = conversations.create(unique_name="other")
    assert refusal(lambda: conversations(other.sid).update(unique_name="taken")).code == 50353
    like_sid = refusal(lambda: conversations.create(unique_name="CH" + "a" * 32))
    assert (like_sid.status, like_sid.code) == (400, 50390)

    other.participants.create(identity="erin")
    twice = refusal(lambda: other.participants.create(identity="erin"))
    assert (twice.status, twice.code) == (409, 50433)
    missing = refusal(lambda: other.participants("MB" + "0" * 32).fetch())
    assert (missing.status, missing.code) == (404, 20404) and "Participant" in missing.msg

    # What Switchboard does not do yet is refused, naming the parameter, never silently dropped.
    unsupported = {
        "MessagingServiceSid": lambda: conversations.create(messaging_service_sid="MG" + "0" * 32),
        "MessagingBinding.ProjectedAddress": lambda: other.participants.create(
            identity="gmms", messaging_binding_projected_address="+15550002222"
        ),
        "MediaSid": lambda: other.messages.create(media_sid="ME" + "0" * 32),
    }
    for parameter, call in unsupported.items():
        refused = refusal(call)
        assert refused.status == 400 and refused.code == 20001 and parameter in refused.msg, (parameter, refused.msg)
    bad_json = refusal(lambda: other.messages.create(body="x", attributes="{not json"))
    assert bad_json.status == 400 and "Attributes" in bad_json.msg
    no_service = refusal(lambda: client.conversations.v1.services("IS" + "0" * 32).conversations("x").fetch())
    assert (no_service.status, no_service.code) == (404, 20404)


def test_services_and_configuration(stack: Stack) -> None:
    client = stack.twilio()
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    configuration = client.conversations.v1.configuration().fetch()
    assert configuration.default_chat_service_sid == default_service
    assert configuration.default_inactive_timer == "PT30S"  # the tests' channel inactivity period
    assert configuration.default_messaging_service_sid is None
    assert default_service in [s.sid for s in client.conversations.v1.services.list()]
    fetched = client.conversations.v1.services(default_service).fetch()
    assert fetched.links["conversations"] == f"{stack.url}/v1/Services/{default_service}/Conversations"
    service_configuration = client.conversations.v1.services(default_service).configuration().fetch()
    assert service_configuration.chat_service_sid == default_service
    assert service_configuration.reachability_enabled is False


def test_access_is_chat_v2_rest_access(stack: Stack) -> None:
    """As every REST route: account credentials, API keys and admin tokens; nobody else."""
    session = open_session(stack, "Fay")
    with stack.http() as http:
        minted = http.post("/v1/Tokens", data={"Identity": "probe-admin", "Role": "admin"})
        assert minted.status_code == 201, minted.text
        admin = minted.json()["token"]
    path = f"{stack.url}/v1/Conversations/{session['channel_sid']}"
    assert httpx.get(path, timeout=30).status_code == 401
    customer = httpx.get(path, headers={"Authorization": f"Bearer {session['token']}"}, timeout=30)
    assert customer.status_code == 403 and customer.json()["code"] == 20403
    assert httpx.get(path, headers={"Authorization": f"Bearer {admin}"}, timeout=30).status_code == 200
    wrong = Client(stack.settings.account_sid, "not-the-token")
    wrong.conversations.base_url = stack.url
    denied = refusal(lambda: wrong.conversations.v1.conversations(session["channel_sid"]).fetch())
    assert (denied.status, denied.code) == (401, 20003)


def test_a_message_posted_through_conversations_reaches_the_widget(stack: Stack) -> None:
    session = open_session(stack, "Gus")
    channel_sid = session["channel_sid"]
    conversation = stack.twilio().conversations.v1.conversations(channel_sid)
    assert conversation.fetch().state == "active"

    async def hear() -> dict[str, object]:
        async with as_customer(stack, session["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            posted = await asyncio.to_thread(conversation.messages.create, author="grace", body="Hello from Flex")
            heard = await frame(chat, event("message", sid=posted.sid))
            assert heard["data"]["index"] == posted.index
            return dict(heard["data"])

    data = asyncio.run(hear())
    assert data["body"] == "Hello from Flex" and data["from"] == "grace"


def test_a_quiet_conversation_goes_inactive_and_its_next_message_reactivates_it(make_stack: StackFactory) -> None:
    quiet = make_stack(channel_inactivity_seconds=2.0)
    conversations = quiet.twilio().conversations.v1.conversations
    made = conversations.create(friendly_name="quiet")
    made.messages.create(author="hal", body="before")

    def inactive() -> None:
        assert conversations(made.sid).fetch().state == "inactive"

    eventually(inactive)
    assert made.sid in [c.sid for c in conversations.list(state="inactive")]
    assert made.sid not in [c.sid for c in conversations.list(state="active")]
    after = made.messages.create(author="hal", body="after")

    def active() -> None:
        assert conversations(made.sid).fetch().state == "active"

    eventually(active)
    assert after.index == 1
    assert [m.body for m in made.messages.list()] == ["before", "after"]


def test_a_texting_customers_channel_is_a_conversation_answered_through_the_provider(
    sending: Stack, fake_twilio: FakeTwilio
) -> None:
    """The customer's SMS is the conversation's first message; a message posted through
    Conversations goes to the customer through the provider, as Chat v2's would."""
    customer = new_phone()
    with sending.http() as http:
        text(sending, http, sending.settings.flex_sms_number, customer, "Is my parcel lost?")
    conversations = sending.twilio().conversations.v1.conversations

    def customers_conversation() -> str:
        [found] = [c.sid for c in conversations.list() if c.friendly_name == customer]
        return str(found)

    sid = eventually(customers_conversation)
    # The texting customer is a participant by their messaging binding, not an identity.
    [participant] = conversations(sid).participants.list()
    assert participant.identity is None
    assert participant.messaging_binding == {
        "type": "sms",
        "address": customer,
        "proxy_address": sending.settings.flex_sms_number,
    }
    assert conversations(sid).participants(participant.sid).fetch().messaging_binding == participant.messaging_binding
    first = eventually(lambda: conversations(sid).messages.list()[0])
    assert (first.index, first.author, first.body) == (0, customer, "Is my parcel lost?")
    assert first.participant_sid is not None
    answer = conversations(sid).messages.create(author="kim", body="It is on its way")

    def sent() -> None:
        assert "It is on its way" in bodies_sent_to(fake_twilio, customer)

    eventually(sent)
    assert answer.index > first.index
