"""A conversation belongs to whoever works it, and the rules for writing in it hold on every
surface: a second agent (or a supervisor) starting a conversation with a customer who is already
talking to an agent is refused before anything reaches the customer or the first agent's
conversation; once the first agent has finished, the customer may be reached again. WhatsApp's
24-hour reply window holds for an agent's first words, its socket messages and REST posts alike."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from switchboard.fake_provider import FakeTwilio
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.messages import bodies_sent_to, channel_bodies, text
from tests.helpers.sockets import as_agent, command, event, frame, refused, sign_in
from tests.helpers.stack import Stack, clear_the_floor, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


def supervisor_token(stack: Stack, identity: str) -> str:
    """A supervisor with a worker of its own on the default workspace (its desk may start
    conversations too)."""
    worker_sid = sign_in(stack, identity)["worker_sid"]
    defaults = plan_flex_defaults(stack.settings).defaults
    with stack.http() as http:
        response = http.post(
            "/v1/Tokens",
            data={
                "Identity": identity,
                "Role": "supervisor",
                "ChatServiceSid": defaults.chat_service_sid,
                "WorkspaceSid": defaults.workspace_sid,
                "WorkerSid": worker_sid,
            },
        )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def test_a_second_agent_cannot_write_into_the_first_agents_live_sms_conversation(
    sending: Stack, fake_twilio: FakeTwilio
) -> None:
    customer = new_phone()
    clear_the_floor(sending)
    first = sign_in(sending, "owner-olga")["token"]
    second = sign_in(sending, "intruder-ivan")["token"]
    supervisor = supervisor_token(sending, "lead-lena")
    sms_flow = plan_flex_defaults(sending.settings).defaults.sms_flex_flow_sid

    async def work() -> tuple[str, dict[str, Any], dict[str, Any]]:
        async with (
            as_agent(sending, first) as olga,
            as_agent(sending, second) as ivan,
            as_agent(sending, supervisor) as lena,
        ):
            for desk in (olga, ivan, lena):
                await frame(desk, lambda f: f["type"] == "ready")
            await command(olga, "o0", "set_activity", activity="Available")
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, sending.settings.flex_sms_number, customer, "Help please")
            offered = await frame(olga, event("reservation.created"))
            channel_sid = str(offered["channel_sid"])
            await command(olga, "o1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await command(olga, "o2", "send_message", channel_sid=channel_sid, body="Olga here", key="olga-1")

            # Another agent reaching out to the same customer: refused, and nothing is written.
            by_agent = await refused(
                ivan, "i1", "start_conversation", flex_flow_sid=sms_flow, to=customer, body="Ivan here instead"
            )
            direct = await refused(ivan, "i2", "send_message", channel_sid=channel_sid, body="Ivan sneaks in")
            by_supervisor = await refused(
                lena, "l1", "start_conversation", flex_flow_sid=sms_flow, to=customer, body="Lena speaking"
            )
            assert direct["code"] == 403, direct
            # Olga still works the conversation: her next message goes through.
            await command(olga, "o3", "send_message", channel_sid=channel_sid, body="Still me", key="olga-2")
            return channel_sid, by_agent, by_supervisor

    channel_sid, by_agent, by_supervisor = asyncio.run(work())
    for refusal in (by_agent, by_supervisor):
        assert refusal["code"] == 409, refusal
        assert "another agent" in refusal["message"] and channel_sid in refusal["message"], refusal
    assert channel_bodies(sending, channel_sid) == ["Help please", "Olga here", "Still me"]
    sent = bodies_sent_to(fake_twilio, customer)
    assert "Ivan here instead" not in sent and "Lena speaking" not in sent and "Ivan sneaks in" not in sent
    # No task was made for the refused starts: the customer's one task is the only one.
    workspace = sending.twilio().taskrouter.v1.workspaces(plan_flex_defaults(sending.settings).defaults.workspace_sid)
    tasks = [t for t in workspace.tasks.list() if json.loads(t.attributes).get("channelSid") == channel_sid]
    assert len(tasks) == 1 and json.loads(tasks[0].attributes).get("direction") != "outbound"


def test_once_the_first_agent_is_done_another_may_reach_the_customer(sending: Stack, fake_twilio: FakeTwilio) -> None:
    customer = new_phone()
    clear_the_floor(sending)
    first = sign_in(sending, "done-dana")["token"]
    second = sign_in(sending, "next-nico")["token"]
    sms_flow = plan_flex_defaults(sending.settings).defaults.sms_flex_flow_sid

    async def work() -> dict[str, Any]:
        async with as_agent(sending, first) as dana, as_agent(sending, second) as nico:
            for desk in (dana, nico):
                await frame(desk, lambda f: f["type"] == "ready")
            await command(dana, "d0", "set_activity", activity="Available")
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, sending.settings.flex_sms_number, customer, "Hello?")
            offered = await frame(dana, event("reservation.created"))
            reservation = offered["data"]["reservation_sid"]
            await command(dana, "d1", "accept", reservation_sid=reservation)
            await command(dana, "d2", "wrapup", reservation_sid=reservation)
            await command(dana, "d3", "complete", reservation_sid=reservation)
            await command(nico, "n0", "set_activity", activity="Available")
            started = await command(
                nico, "n1", "start_conversation", flex_flow_sid=sms_flow, to=customer, body="Nico following up"
            )
            assert started["channel_sid"] == offered["channel_sid"] and started["message_sid"]
            return started

    asyncio.run(work())

    def followed_up() -> None:
        assert "Nico following up" in bodies_sent_to(fake_twilio, customer)

    eventually(followed_up)


def whatsapp_flex_flow(stack: Stack) -> dict[str, Any]:
    defaults = plan_flex_defaults(stack.settings).defaults
    with stack.http() as http:
        return stack.create_flex_flow(
            http,
            defaults.chat_service_sid,
            ChannelType="whatsapp",
            ContactIdentity="whatsapp:" + new_phone(),
            IntegrationType="studio",
            **{"Integration.FlowSid": defaults.studio_flow_sid},
        )


def test_whatsapps_reply_window_holds_for_a_first_message_and_for_rest(sending: Stack, fake_twilio: FakeTwilio) -> None:
    customer = "whatsapp:" + new_phone()
    clear_the_floor(sending)
    flow = whatsapp_flex_flow(sending)
    token = sign_in(sending, "window-wanda")["token"]

    async def first_words() -> dict[str, Any]:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "w0", "set_activity", activity="Available")
            return await refused(
                desk, "w1", "start_conversation", flex_flow_sid=flow["sid"], to=customer, body="Free-form hello"
            )

    refusal = asyncio.run(first_words())
    assert refusal["code"] == 409 and "24-hour" in refusal["message"], refusal

    # REST: an operator's Chat post on the customer's WhatsApp channel, the customer never wrote.
    with sending.http() as http:
        opened = http.post(
            "/v1/Channels",
            data={
                "FlexFlowSid": flow["sid"],
                "Identity": customer,
                "Target": customer,
                "ChatUserFriendlyName": "Wes",
                "ChatFriendlyName": "outreach",
            },
        )
        assert opened.status_code == 201, opened.text
        channel_sid = opened.json()["sid"]
        service = flow["chat_service_sid"]
        posted = http.post(
            f"/v2/Services/{service}/Channels/{channel_sid}/Messages", data={"From": "window-wanda", "Body": "Hi!"}
        )
    assert posted.status_code == 409, posted.text
    error = posted.json()
    assert error["code"] == 63016 and "24-hour" in error["message"], error
    sent = bodies_sent_to(fake_twilio, customer)
    assert "Free-form hello" not in sent and "Hi!" not in sent
    assert channel_bodies(sending, channel_sid) == []
