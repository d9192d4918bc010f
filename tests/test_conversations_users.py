"""Conversations v1 beyond conversations, participants and messages, through the official
``twilio`` client: Users (made explicitly, and implicitly when an identity joins a conversation;
the same users Chat v2 lists), a user's conversations, Roles (each service's defaults, custom ones,
``RoleSid`` checked against them), ParticipantConversations, ConversationWithParticipants, and
media on messages (uploaded to the conversation, named by ``MediaSid``). The account's REST access
only: agent and customer tokens are refused."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.sockets import open_session
from tests.helpers.stack import Stack, eventually
from tests.helpers.tokens import forge

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def refusal(call: object) -> TwilioRestException:
    """The Twilio error ``call`` (a thunk) raises."""
    assert callable(call)
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def test_users_are_made_fetched_by_identity_updated_and_deleted(stack: Stack) -> None:
    client = stack.twilio()
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    users = client.conversations.v1.users
    made = users.create(identity="ursula", friendly_name="Ursula", attributes=json.dumps({"tier": "gold"}))
    assert made.sid.startswith("US") and made.identity == "ursula" and made.chat_service_sid == default_service
    assert made.friendly_name == "Ursula" and json.loads(made.attributes) == {"tier": "gold"}
    assert made.is_online is None and made.is_notifiable is None  # no reachability
    assert made.url == f"{stack.url}/v1/Users/{made.sid}"
    assert made.links["user_conversations"] == f"{made.url}/Conversations"
    configuration = client.conversations.v1.services(default_service).configuration().fetch()
    assert made.role_sid == configuration.default_chat_service_role_sid  # the service's default user role

    assert users("ursula").fetch().sid == made.sid  # by identity too
    assert made.sid in [u.sid for u in users.list()]
    again = refusal(lambda: users.create(identity="ursula"))
    assert (again.status, again.code) == (409, 50201)

    admin_role = next(r for r in client.conversations.v1.roles.list() if r.friendly_name == "service admin")
    changed = users(made.sid).update(friendly_name="Ursula K.", attributes="{}", role_sid=admin_role.sid)
    assert (changed.friendly_name, changed.attributes, changed.role_sid) == ("Ursula K.", "{}", admin_role.sid)
    users(made.sid).delete()
    gone = refusal(lambda: users(made.sid).fetch())
    assert (gone.status, gone.code) == (404, 20404)

    # Another service keeps its own users.
    other = client.conversations.v1.services.create(friendly_name="other")
    scoped = client.conversations.v1.services(other.sid).users.create(identity="ursula")
    assert scoped.chat_service_sid == other.sid
    assert scoped.url == f"{stack.url}/v1/Services/{other.sid}/Users/{scoped.sid}"
    assert [u.identity for u in client.conversations.v1.services(other.sid).users.list()] == ["ursula"]


def test_joining_a_conversation_makes_the_user_and_chat_v2_lists_the_same_users(stack: Stack) -> None:
    client = stack.twilio()
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    conversation = client.conversations.v1.conversations.create(friendly_name="Implicit")
    participant = conversation.participants.create(identity="carol")
    carol = client.conversations.v1.users("carol").fetch()
    assert carol.identity == "carol" and carol.sid.startswith("US")

    chat_users = client.chat.v2.services(default_service).users.list()
    assert carol.sid in [u.sid for u in chat_users]
    assert next(u for u in chat_users if u.sid == carol.sid).identity == "carol"

    # Her conversations: read horizon, notification level, leaving.
    conversation.messages.create(author="carol", body="one")
    conversation.messages.create(author="carol", body="two")
    mine = client.conversations.v1.users(carol.sid).user_conversations
    [listed] = mine.list()
    assert (listed.conversation_sid, listed.participant_sid, listed.user_sid) == (
        conversation.sid,
        participant.sid,
        carol.sid,
    )
    assert listed.friendly_name == "Implicit" and listed.conversation_state == "active"
    assert listed.notification_level == "default" and listed.last_read_message_index is None
    updated = mine(conversation.sid).update(notification_level="muted", last_read_message_index=0)
    assert updated.notification_level == "muted" and updated.last_read_message_index == 0
    assert updated.unread_messages_count == 1
    assert mine(conversation.sid).fetch().notification_level == "muted"
    assert conversation.participants("carol").fetch().last_read_message_index == 0
    mine(conversation.sid).delete()  # she leaves the conversation
    assert [p.identity for p in conversation.participants.list()] == []
    assert mine.list() == []
    assert client.conversations.v1.users("carol").fetch().sid == carol.sid  # the user stays


def test_roles_defaults_custom_roles_and_role_sids_checked(stack: Stack) -> None:
    client = stack.twilio()
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    roles = client.conversations.v1.roles
    defaults = {r.friendly_name: r for r in roles.list()}
    assert {name: r.type for name, r in defaults.items()} == {
        "channel admin": "conversation",
        "channel user": "conversation",
        "service admin": "service",
        "service user": "service",
    }
    assert "sendMessage" in defaults["channel user"].permissions
    assert "createConversation" in defaults["service user"].permissions
    configuration = client.conversations.v1.services(default_service).configuration().fetch()
    assert configuration.default_conversation_creator_role_sid == defaults["channel admin"].sid
    assert configuration.default_conversation_role_sid == defaults["channel user"].sid
    assert configuration.default_chat_service_role_sid == defaults["service user"].sid

    reader = roles.create(friendly_name="reader", type="conversation", permission=["sendMessage", "leaveConversation"])
    assert reader.sid.startswith("RL") and reader.permissions == ["sendMessage", "leaveConversation"]
    assert roles(reader.sid).fetch().friendly_name == "reader"
    bad = refusal(lambda: roles.create(friendly_name="x", type="conversation", permission=["createConversation"]))
    assert bad.status == 400 and "Permission" in bad.msg and "createConversation" in bad.msg
    assert roles(reader.sid).update(permission=["sendMessage"]).permissions == ["sendMessage"]

    conversation = client.conversations.v1.conversations.create()
    dora = conversation.participants.create(identity="dora", role_sid=reader.sid)
    assert dora.role_sid == reader.sid
    plain = conversation.participants.create(identity="ed")
    assert plain.role_sid == defaults["channel user"].sid  # the service's default conversation role
    for role_sid in ("RL" + "0" * 32, defaults["service admin"].sid):
        wrong = refusal(lambda sid=role_sid: conversation.participants.create(identity="fay", role_sid=sid))
        assert wrong.status == 400 and "RoleSid" in wrong.msg, wrong.msg
    wrong = refusal(lambda: conversation.participants("dora").update(role_sid="RL" + "1" * 32))
    assert wrong.status == 400 and "RoleSid" in wrong.msg
    wrong = refusal(lambda: client.conversations.v1.users.create(identity="gil", role_sid=reader.sid))
    assert wrong.status == 400 and "RoleSid" in wrong.msg

    # Chat v2 lists the same roles, in its own words.
    chat_roles = {r.sid: r for r in client.chat.v2.services(default_service).roles.list()}
    assert chat_roles[reader.sid].type == "channel" and chat_roles[defaults["service user"].sid].type == "deployment"

    in_use = refusal(lambda: roles(reader.sid).delete())
    assert in_use.status == 409 and reader.sid in in_use.msg
    conversation.participants("dora").delete()
    roles(reader.sid).delete()
    assert refusal(lambda: roles(reader.sid).fetch()).status == 404
    kept = refusal(lambda: roles(defaults["channel user"].sid).delete())
    assert kept.status == 400 and "default" in kept.msg


def test_participant_conversations_by_identity(stack: Stack) -> None:
    client = stack.twilio()
    first = client.conversations.v1.conversations.create(friendly_name="First", unique_name="pc-first")
    second = client.conversations.v1.conversations.create(friendly_name="Second", attributes='{"n": 2}')
    client.conversations.v1.conversations.create(friendly_name="Not hers")
    one = first.participants.create(identity="hana")
    second.participants.create(identity="hana")
    listed = client.conversations.v1.participant_conversations.list(identity="hana")
    assert [c.conversation_sid for c in listed] == [first.sid, second.sid]
    top = listed[0]
    assert (top.participant_sid, top.participant_identity) == (one.sid, "hana")
    assert top.participant_user_sid == client.conversations.v1.users("hana").fetch().sid
    assert (top.conversation_unique_name, top.conversation_friendly_name, top.conversation_state) == (
        "pc-first",
        "First",
        "active",
    )
    assert json.loads(listed[1].conversation_attributes) == {"n": 2}
    assert client.conversations.v1.participant_conversations.list(identity="nobody") == []
    # A refused list is a page the client cannot read: asked over plain HTTP.
    with stack.http() as http:
        by_address = http.get("/v1/ParticipantConversations", params={"Address": "+15550001111"})
        assert by_address.status_code == 400 and "Address" in by_address.json()["message"]
        neither = http.get("/v1/ParticipantConversations")
        assert neither.status_code == 400 and "Identity" in neither.json()["message"]


def test_a_conversation_with_its_participants_in_one_call(stack: Stack) -> None:
    client = stack.twilio()
    made = client.conversations.v1.conversation_with_participants.create(
        friendly_name="One call",
        unique_name="one-call",
        participant=[json.dumps({"identity": "ivy"}), json.dumps({"identity": "jo", "attributes": '{"vip": true}'})],
    )
    assert made.sid.startswith("CH") and made.friendly_name == "One call" and made.state == "active"
    assert made.url == f"{stack.url}/v1/Conversations/{made.sid}"
    participants = client.conversations.v1.conversations(made.sid).participants.list()
    assert [p.identity for p in participants] == ["ivy", "jo"]
    assert json.loads(participants[1].attributes) == {"vip": True}
    assert client.conversations.v1.users("jo").fetch().identity == "jo"

    before = len(client.conversations.v1.conversations.list())
    sms = json.dumps({"messaging_binding": {"address": "+15550001111", "proxy_address": "+15550002222"}})
    refused = refusal(lambda: client.conversations.v1.conversation_with_participants.create(participant=[sms]))
    assert refused.status == 400 and "messaging_binding" in refused.msg
    bad = refusal(lambda: client.conversations.v1.conversation_with_participants.create(participant=["{nope"]))
    assert bad.status == 400 and "Participant" in bad.msg
    taken = refusal(lambda: client.conversations.v1.conversation_with_participants.create(unique_name="one-call"))
    assert (taken.status, taken.code) == (409, 50353)
    # Nothing half-made: a refused call leaves no conversation behind.
    assert len(client.conversations.v1.conversations.list()) == before


def test_a_media_message_round_trip(stack: Stack) -> None:
    client = stack.twilio()
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    conversation = client.conversations.v1.conversations.create(friendly_name="Photos")
    other = client.conversations.v1.conversations.create()
    with stack.http() as http:
        upload = http.post(
            "/v1/Media", data={"channel_sid": conversation.sid}, files={"file": ("label.png", PNG, "image/png")}
        )
    assert upload.status_code == 201, upload.text
    media_sid = upload.json()["sid"]

    sent = conversation.messages.create(author="kim", media_sid=media_sid)
    assert sent.body is None
    assert sent.media == [
        {
            "sid": media_sid,
            "category": "media",
            "content_type": "image/png",
            "filename": "label.png",
            "size": len(PNG),
            "url": f"/v1/Media/{media_sid}/Content",
        }
    ]
    assert conversation.messages(sent.sid).fetch().media == sent.media
    chat_message = client.chat.v2.services(default_service).channels(conversation.sid).messages(sent.sid).fetch()
    assert chat_message.media is not None
    with stack.http() as http:
        assert http.get(f"/v1/Media/{media_sid}/Content").content == PNG

    # Chat v2 takes the same MediaSid (it used to drop it silently).
    chat_messages = client.chat.v2.services(default_service).channels(conversation.sid).messages
    through_chat = chat_messages.create(media_sid=media_sid, from_="kim")
    assert through_chat.media is not None and through_chat.media[0]["sid"] == media_sid
    assert conversation.messages(through_chat.sid).fetch().media == sent.media
    chat_elsewhere = refusal(
        lambda: client.chat.v2.services(default_service).channels(other.sid).messages.create(media_sid=media_sid)
    )
    assert chat_elsewhere.status == 400 and "MediaSid" in chat_elsewhere.msg

    elsewhere = refusal(lambda: other.messages.create(media_sid=media_sid))
    assert elsewhere.status == 400 and "MediaSid" in elsewhere.msg
    template = refusal(lambda: conversation.messages.create(content_sid="HX" + "0" * 32))
    assert template.status == 400 and "ContentSid" in template.msg


def test_agents_and_customers_are_refused(stack: Stack) -> None:
    session = open_session(stack, "Lou")
    agent = forge(stack.settings)
    for path in ("/v1/Users", "/v1/Roles", "/v1/ParticipantConversations?Identity=lou"):
        for token in (agent, session["token"]):
            answer = httpx.get(f"{stack.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert answer.status_code == 403 and answer.json()["code"] == 20403, (path, answer.text)
    posted = httpx.post(
        f"{stack.url}/v1/ConversationWithParticipants",
        headers={"Authorization": f"Bearer {agent}"},
        data={"FriendlyName": "x"},
        timeout=30,
    )
    assert posted.status_code == 403


def test_erasing_an_identity_erases_its_user(stack: Stack) -> None:
    client = stack.twilio()
    conversation = client.conversations.v1.conversations.create()
    conversation.participants.create(identity="zed@example.com")
    user = client.conversations.v1.users("zed@example.com").fetch()
    with stack.http() as http:
        asked = http.post("/v1/Erasures", data={"Address": "zed@example.com"})
        assert asked.status_code == 201, asked.text

        def completed() -> dict[str, Any]:
            done: dict[str, Any] = http.get(f"/v1/Erasures/{asked.json()['sid']}").json()
            assert done["status"] == "completed", done
            return done

        assert eventually(completed)["counts"]["users"] == 1
    assert refusal(lambda: client.conversations.v1.users(user.sid).fetch()).status == 404
