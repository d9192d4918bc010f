"""Flex v1 Interactions through the official ``twilio`` client's ``flex_api`` domain with only its
base URL changed: an interaction on a conversation made through Conversations, routed into a
workspace and workflow made through TaskRouter; the reservation accepted on the agent socket; the
agent a participant of the conversation whose reply the customer's side reads; an invite making a
second task (a transfer); the agent's wrap-up and the channel's close moving the tasks on; Studio's
send-to-flex on a conversation making the task an interaction's; Twilio's errors and access;
erasure. Each runs on SQLite and on PostgreSQL (the interactions' own tables)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from switchboard.store.crypto import Cipher
from switchboard.store.db import Database
from switchboard.store.interactions import interaction_for_flow_task
from switchboard.store.models import StudioExecution
from tests.helpers.routing import Space, new_space
from tests.helpers.sockets import as_agent, command, event, frame
from tests.helpers.stack import Stack, eventually
from workflows import sids
from workflows.starter import ChannelClient

pytestmark = pytest.mark.store_backends


def agent_token(stack: Stack, space: Space, worker: Any) -> str:
    with stack.http() as http:
        response = http.post(
            "/v1/Tokens", data={"Identity": worker.friendly_name, "WorkspaceSid": space.sid, "WorkerSid": worker.sid}
        )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def routing_of(space: Space, **extra: Any) -> dict[str, Any]:
    properties = {
        "workspace_sid": space.sid,
        "workflow_sid": space.workflow.sid,
        "task_channel_unique_name": "chat",
        "attributes": {"type": "support", "customerName": "Cara"},
        **extra,
    }
    return {"properties": properties}


def open_task(stack: Stack, conversation_sid: str) -> str | None:
    """The task the conversation's channel workflow is with (it holds the channel open)."""
    return stack.call(lambda c: ChannelClient(c, stack.settings.task_queue).state(conversation_sid)).open_task_sid


def refusal(call: object) -> TwilioRestException:
    assert callable(call)
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def test_an_interaction_on_a_conversation_reaches_the_agent_socket_and_closes(stack: Stack) -> None:
    client = stack.twilio()
    space = new_space(stack)
    ines = space.add_worker("ines-interactions")
    conversation = client.conversations.v1.conversations.create(friendly_name="Order 88")
    conversation.participants.create(identity="cara-customer")
    conversation.messages.create(author="cara-customer", body="My order is late")
    interactions = client.flex_api.v1.interaction

    async def work() -> tuple[Any, dict[str, Any]]:
        async with as_agent(stack, agent_token(stack, space, ines)) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            made = await asyncio.to_thread(
                interactions.create,
                channel={
                    "type": "chat",
                    "initiated_by": "customer",
                    "properties": {"media_channel_sid": conversation.sid},
                },
                routing=routing_of(space),
            )
            offered = await frame(desk, event("reservation.created"))
            assert offered["channel_sid"] == conversation.sid
            await command(desk, "1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await frame(desk, event("channel.joined", channel_sid=conversation.sid))
            await command(desk, "2", "send_message", channel_sid=conversation.sid, body="On its way", key="i1")
            return made, offered

    made, offered = asyncio.run(work())
    assert made.sid.startswith("KD") and made.channel["sid"].startswith("UO")
    assert made.channel["type"] == "chat" and made.url == f"{stack.url}/v1/Interactions/{made.sid}"
    assert made.interaction_context_sid is None and made.links["channels"] == f"{made.url}/Channels"
    task_sid = made.routing["properties"]["sid"]
    attributes = offered["data"]["task_attributes"]
    assert attributes["conversationSid"] == conversation.sid and attributes["flexInteractionSid"] == made.sid
    assert attributes["flexInteractionChannelSid"] == made.channel["sid"]
    assert attributes["flexChannelInviteSid"].startswith("KG") and attributes["channelType"] == "chat"
    assert attributes["customerName"] == "Cara" and attributes["customers"]["phone"] == "cara-customer"
    assert attributes["type"] == "support" and attributes["direction"] == "inbound"
    assert offered["data"]["task_sid"] == task_sid

    # The agent is a participant of the conversation, and the customer's side reads the reply.
    participants = client.conversations.v1.conversations(conversation.sid).participants
    agent = eventually(lambda: next(p for p in participants.list() if p.identity == "ines-interactions"))
    messages = client.conversations.v1.conversations(conversation.sid).messages.list()
    assert [(m.author, m.body) for m in messages] == [
        ("cara-customer", "My order is late"),
        ("ines-interactions", "On its way"),
    ]
    assert messages[1].participant_sid == agent.sid

    # The conversation's workflow is with the interaction's task, as with a legacy channel's.
    assert open_task(stack, conversation.sid) == task_sid

    fetched = interactions(made.sid).fetch()
    assert fetched.routing["properties"]["assignment_status"] == "assigned"
    assert fetched.routing["properties"]["workspace_sid"] == space.sid
    channel = interactions(made.sid).channels(made.channel["sid"])
    assert [c.sid for c in interactions(made.sid).channels.list()] == [made.channel["sid"]]
    assert channel.fetch().status == "active"
    members = channel.participants.list()
    assert [m.type for m in members] == ["customer", "agent"]
    assert members[1].routing_properties == {
        "task_sid": task_sid,
        "worker_sid": ines.sid,
        "reservation_sid": offered["data"]["reservation_sid"],
    }

    # A transfer: an invite is a second task on the same channel, for another agent.
    olga = space.add_worker("olga-interactions")
    invite = channel.invites.create(routing=routing_of(space, worker_sid=olga.sid))
    assert invite.sid.startswith("KG") and invite.channel_sid == made.channel["sid"]
    second = invite.routing["properties"]["sid"]
    assert second != task_sid
    second_attributes = json.loads(invite.routing["properties"]["attributes"])
    assert second_attributes["flexChannelInviteSid"] == invite.sid
    assert second_attributes["flexInteractionSid"] == made.sid
    assert [i.sid for i in channel.invites.list()] == [attributes["flexChannelInviteSid"], invite.sid]
    eventually(lambda: space.pending(olga.sid))
    assert open_task(stack, conversation.sid) == second

    # The agent wraps up through its participant; closing the channel completes its task and
    # cancels the one no agent took yet.
    channel.participants(members[1].sid).update(status="wrapup")
    assert space.workspace.tasks(task_sid).fetch().assignment_status == "wrapping"
    closed = channel.update(status="closed", routing={"status": "closed"})
    assert closed.status == "closed"
    assert space.workspace.tasks(task_sid).fetch().assignment_status == "completed"
    assert space.workspace.tasks(second).fetch().assignment_status == "canceled"
    eventually(lambda: assert_open_task(stack, conversation.sid, None))
    refused = refusal(lambda: channel.invites.create(routing=routing_of(space)))
    assert refused.status == 400 and "closed" in refused.msg


def test_closing_wraps_the_agents_task_up_unless_routing_says_closed(stack: Stack) -> None:
    client = stack.twilio()
    space = new_space(stack)
    worker = space.add_worker("wanda-interactions")
    conversation = client.conversations.v1.conversations.create(friendly_name="Wrap")
    conversation.participants.create(identity="walt-customer")
    made = client.flex_api.v1.interaction.create(
        channel={"type": "web", "properties": {"media_channel_sid": conversation.sid}}, routing=routing_of(space)
    )
    [reservation] = space.pending(worker.sid)
    space.workspace.tasks(reservation.task_sid).reservations(reservation.sid).update(reservation_status="accepted")
    eventually(lambda: assert_status(space, reservation.task_sid, "assigned"))
    channel = client.flex_api.v1.interaction(made.sid).channels(made.channel["sid"])
    assert channel.update(status="closed").status == "closed"
    assert space.workspace.tasks(reservation.task_sid).fetch().assignment_status == "wrapping"
    parked = refusal(lambda: channel.update(status="inactive"))
    assert parked.status == 400 and "Routing" in parked.msg


def assert_open_task(stack: Stack, conversation_sid: str, task_sid: str | None) -> None:
    assert open_task(stack, conversation_sid) == task_sid


def assert_status(space: Space, task_sid: str, status: str) -> None:
    assert space.workspace.tasks(task_sid).fetch().assignment_status == status


def test_twilios_errors_name_the_parameter(stack: Stack) -> None:
    client = stack.twilio()
    space = new_space(stack)
    conversation = client.conversations.v1.conversations.create(friendly_name="Errors")
    interactions = client.flex_api.v1.interaction
    on_it = {"type": "chat", "properties": {"media_channel_sid": conversation.sid}}
    unknown = "CH" + "0" * 32
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"channel": {**on_it, "properties": {"media_channel_sid": unknown}}, "routing": routing_of(space)},
            "Channel.properties.media_channel_sid",
        ),
        (
            {"channel": on_it, "routing": routing_of(space, workflow_sid="WW" + "0" * 32)},
            "Routing.properties.workflow_sid",
        ),
        (
            {"channel": on_it, "routing": routing_of(space, workspace_sid="WS" + "0" * 32)},
            "Routing.properties.workspace_sid",
        ),
        (
            {"channel": on_it, "routing": routing_of(space, task_channel_unique_name="fax")},
            "Routing.properties.task_channel_unique_name",
        ),
        ({"channel": on_it}, "Routing"),
        ({"channel": {**on_it, "type": "voice"}, "routing": routing_of(space)}, "Channel.type"),
        (
            {
                "channel": {"type": "sms", "initiated_by": "agent", "participants": [{"address": "+15550001"}]},
                "routing": routing_of(space),
            },
            "Channel.participants",
        ),
        (
            {"channel": on_it, "routing": routing_of(space), "interaction_context_sid": "HQ" + "0" * 32},
            "InteractionContextSid",
        ),
    ]
    for fields, parameter in cases:
        error = refusal(lambda fields=fields: interactions.create(**fields))
        assert error.status == 400 and parameter in error.msg, (parameter, error.msg)
    unknown_conversation = refusal(lambda: interactions.create(**cases[0][0]))
    assert unknown_conversation.code == 20404 and unknown in unknown_conversation.msg
    missing = refusal(lambda: interactions("KD" + "0" * 32).fetch())
    assert missing.status == 404 and missing.code == 20404
    assert space.workspace.tasks.list() == []  # nothing was routed by a refused request


def test_only_operators_reach_interactions(stack: Stack) -> None:
    space = new_space(stack)
    worker = space.add_worker("anon-interactions", available=False)
    path = f"/v1/Interactions/KD{'0' * 32}"
    token = agent_token(stack, space, worker)
    with httpx.Client(base_url=stack.url) as http:
        assert http.get(path).status_code == 401
        refused = http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403, refused.text
        created = http.post("/v1/Interactions", data={"Channel": "{}"}, headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 403


def test_send_to_flex_in_a_conversations_run_makes_the_task_an_interactions(stack: Stack) -> None:
    """The routing activity's side of Studio's send-to-flex: the running execution's trigger is a
    conversation's message, so the task's attributes are an interaction's and the interaction is
    served by the Interactions API (once per task: a retried activity finds it)."""
    client = stack.twilio()
    space = new_space(stack)
    conversation = client.conversations.v1.conversations.create(friendly_name="Studio")
    settings = stack.settings
    cipher = Cipher.from_setting(settings.encryption_keys, settings.encryption_key_id)
    task_sid = sids.new_sid(sids.TASK)
    trigger = {"conversation": {"ConversationSid": conversation.sid, "Author": "sam-customer", "Body": "hi"}}

    async def run() -> tuple[str, str]:
        db = Database(settings.resolved_database_url)
        try:
            async with db.write_session() as session:
                session.add(
                    StudioExecution(
                        sid=sids.new_sid(sids.EXECUTION),
                        flow_sid=sids.new_sid(sids.STUDIO_FLOW),
                        flow_revision=1,
                        channel_sid=conversation.sid,
                        contact_channel_address_enc=cipher.encrypt("", "studio_execution.contact_channel_address"),
                        context_enc=cipher.encrypt(json.dumps({"trigger": trigger}), "studio_execution.context"),
                    )
                )
                await session.commit()
            answers = []
            for _ in range(2):
                async with db.write_session() as session:
                    answers.append(
                        await interaction_for_flow_task(
                            session,
                            cipher,
                            channel_sid=conversation.sid,
                            channel_type="chat",
                            task_sid=task_sid,
                            workspace_sid=space.sid,
                            workflow_sid=space.workflow.sid,
                            task_channel="chat",
                            attributes='{"type": "support"}',
                        )
                    )
            return answers[0], answers[1]
        finally:
            await db.dispose()

    first, again = asyncio.run(run())
    attributes = json.loads(first)
    assert json.loads(again) == attributes
    assert attributes["type"] == "support" and attributes["conversationSid"] == conversation.sid
    assert attributes["customerAddress"] == "sam-customer"
    interaction = client.flex_api.v1.interaction(attributes["flexInteractionSid"]).fetch()
    assert interaction.channel["sid"] == attributes["flexInteractionChannelSid"]
    assert interaction.channel["properties"]["media_channel_sid"] == conversation.sid
    invites = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"]).invites.list()
    assert [i.sid for i in invites] == [attributes["flexChannelInviteSid"]]


def test_erasing_the_customer_takes_the_interactions_on_their_conversation(stack: Stack) -> None:
    client = stack.twilio()
    space = new_space(stack)
    conversation = client.conversations.v1.conversations.create(friendly_name="Forget me")
    conversation.participants.create(identity="erin-erased")
    made = client.flex_api.v1.interaction.create(
        channel={"type": "chat", "properties": {"media_channel_sid": conversation.sid}}, routing=routing_of(space)
    )
    with stack.http() as http:
        asked = http.post("/v1/Erasures", data={"Address": "erin-erased"})
        assert asked.status_code == 201, asked.text

        def completed() -> dict[str, Any]:
            done: dict[str, Any] = http.get(f"/v1/Erasures/{asked.json()['sid']}").json()
            assert done["status"] == "completed", done
            return done

        eventually(completed)
    gone = refusal(lambda: client.flex_api.v1.interaction(made.sid).fetch())
    assert gone.status == 404
