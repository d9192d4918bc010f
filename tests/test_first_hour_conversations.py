"""What an agent and a customer hit in their first hour, on the server side: an agent's words after
the customer left do not begin a new interaction (no Studio execution with the agent as ``From``,
no task offered round the team); the web customer hears when the agent left; an agent who is not
Available cannot start a conversation (refused, with the reason, before anything is sent), and a
start sent again with the same key sends the first words once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from switchboard.fake_provider import FakeTwilio
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.messages import bodies_sent_to, channel_bodies
from tests.helpers.recording import RecordingServer
from tests.helpers.sockets import (
    as_agent,
    as_customer,
    command,
    event,
    frame,
    frames_until,
    open_session,
    refused,
    sign_in,
)
from tests.helpers.stack import Stack, clear_the_floor, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


def executions_of(stack: Stack, address: str) -> list[dict[str, Any]]:
    """The default Studio flow's executions for the contact at ``address``, each with the
    ``From`` of the message that triggered it."""
    flow_sid = plan_flex_defaults(stack.settings).defaults.studio_flow_sid
    found: list[dict[str, Any]] = []
    with stack.http() as http:
        listed = http.get(f"/v2/Flows/{flow_sid}/Executions", params={"PageSize": 200})
        assert listed.status_code == 200, listed.text
        for execution in listed.json()["executions"]:
            if execution["contact_channel_address"] != address:
                continue
            context = http.get(f"/v2/Flows/{flow_sid}/Executions/{execution['sid']}/Context")
            assert context.status_code == 200, context.text
            trigger = context.json()["context"]["trigger"]
            found.append({"sid": execution["sid"], "from": trigger.get("message", {}).get("From")})
    return found


def tasks_on(stack: Stack, channel_sid: str) -> list[Any]:
    workspace = stack.twilio().taskrouter.v1.workspaces(plan_flex_defaults(stack.settings).defaults.workspace_sid)
    return [t for t in workspace.tasks.list() if json.loads(t.attributes).get("channelSid") == channel_sid]


def test_an_agents_words_after_the_customer_left_begin_no_interaction(sending: Stack) -> None:
    clear_the_floor(sending)
    agent = sign_in(sending, "first-hour-fay")
    session = open_session(sending, "Cleo")
    channel_sid, customer = session["channel_sid"], session["identity"]

    async def work() -> list[dict[str, Any]]:
        async with as_agent(sending, agent["token"]) as desk, as_customer(sending, session["token"]) as chat:
            await frame(desk, lambda f: f["type"] == "ready")
            await frame(chat, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            await command(chat, "c1", "send_message", body="Hello?", key="cleo-1")
            offered = await frame(desk, event("reservation.created"))
            assert offered["channel_sid"] == channel_sid
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await frame(chat, event("member.joined", identity="first-hour-fay"))

            ended = await command(chat, "c2", "end_chat")
            await frame(desk, event("chat.ended", channel_sid=channel_sid))
            # The agent writes after the customer left: stored and shown, but it begins nothing.
            await command(desk, "a2", "send_message", channel_sid=channel_sid, body="Are you still there?", key="f-1")
            await command(desk, "a3", "complete", reservation_sid=offered["data"]["reservation_sid"])
            await frame(desk, event("task.completed", task_sid=ended["task_sid"]))

            # The customer's next message is what begins the next interaction.
            await command(chat, "c3", "send_message", body="Back again", key="cleo-2")
            again = await frame(desk, event("reservation.created"))
            assert again["channel_sid"] == channel_sid
            await command(desk, "a4", "accept", reservation_sid=again["data"]["reservation_sid"])
            await command(desk, "a5", "send_message", channel_sid=channel_sid, body="Welcome back", key="f-2")
            return await frames_until(chat, event("message", body="Welcome back"))

    heard = asyncio.run(work())
    # The customer ended the chat: it does not also hear that the agent left.
    assert not [f for f in heard if f.get("event") == "agent.left"], heard
    assert channel_bodies(sending, channel_sid)[:4] == ["Hello?", "Are you still there?", "Back again", "Welcome back"]
    runs = eventually(lambda: _two(executions_of(sending, customer)))
    assert [run["from"] for run in runs] == [customer, customer], runs
    assert len(tasks_on(sending, channel_sid)) == 2


def _two(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert len(found) == 2, found
    return found


def test_the_web_customer_hears_once_that_the_agent_left(sending: Stack) -> None:
    clear_the_floor(sending)
    agent = sign_in(sending, "first-hour-gus")
    session = open_session(sending, "Dora")
    channel_sid = session["channel_sid"]

    async def work() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        async with as_agent(sending, agent["token"]) as desk, as_customer(sending, session["token"]) as chat:
            await frame(desk, lambda f: f["type"] == "ready")
            await frame(chat, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            await command(chat, "c1", "send_message", body="Hi", key="dora-1")
            offered = await frame(desk, event("reservation.created"))
            reservation = offered["data"]["reservation_sid"]
            await command(desk, "a1", "accept", reservation_sid=reservation)
            await frame(chat, event("member.joined", identity="first-hour-gus"))
            await command(desk, "a2", "wrapup", reservation_sid=reservation)
            left = await frame(chat, event("agent.left", channel_sid=channel_sid))
            await command(desk, "a3", "complete", reservation_sid=reservation)
            await frame(desk, event("task.completed"))
            # A new interaction, and nothing more about the first agent leaving meanwhile.
            await command(chat, "c2", "send_message", body="One more thing", key="dora-2")
            again = await frame(desk, event("reservation.created"))
            await command(desk, "a4", "accept", reservation_sid=again["data"]["reservation_sid"])
            await command(desk, "a5", "send_message", channel_sid=channel_sid, body="Hello again", key="g-1")
            after = await frames_until(chat, event("message", body="Hello again"))
            return offered, left, after

    offered, left, after = asyncio.run(work())
    assert left["data"]["identity"] == "first-hour-gus" and left["data"]["status"] == "wrapping", left
    assert left["data"]["task_sid"] == offered["data"]["task_sid"], left
    assert not [f for f in after if f.get("event") == "agent.left"], after


def test_an_agent_who_is_not_available_cannot_start_a_conversation(sending: Stack, fake_twilio: FakeTwilio) -> None:
    clear_the_floor(sending)
    customer = new_phone()
    token = sign_in(sending, "first-hour-hal")["token"]
    sms_flow = plan_flex_defaults(sending.settings).defaults.sms_flex_flow_sid

    async def work() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with as_agent(sending, token) as desk:
            ready = await frame(desk, lambda f: f["type"] == "ready")
            assert ready["worker"]["available"] is False  # a new agent starts Offline
            fields = {"flex_flow_sid": sms_flow, "to": customer, "body": "Your order shipped", "key": "hal-1"}
            offline = await refused(desk, "h1", "start_conversation", **fields)
            await command(desk, "h2", "set_activity", activity="Available")
            # The desk sends the same start again (a double click, a retry): one conversation, one text.
            first = await command(desk, "h3", "start_conversation", **fields)
            second = await command(desk, "h4", "start_conversation", **fields)
            return offline, first, second

    offline, first, second = asyncio.run(work())
    assert offline["code"] == 409 and "Offline" in offline["message"] and "Available" in offline["message"], offline
    assert first["channel_sid"] == second["channel_sid"] and first["task_sid"] == second["task_sid"]
    assert first["message_sid"] == second["message_sid"]
    eventually(lambda: _sent_once(fake_twilio, customer))
    assert channel_bodies(sending, first["channel_sid"]) == ["Your order shipped"]
    assert len(tasks_on(sending, first["channel_sid"])) == 1


def _sent_once(fake_twilio: FakeTwilio, customer: str) -> None:
    assert bodies_sent_to(fake_twilio, customer) == ["Your order shipped"]


def test_an_agents_reply_still_reaches_an_external_integration(sending: Stack, outside: RecordingServer) -> None:
    """A custom channel delivers agents' replies through its external integration: an agent's
    message is still posted there (it only never begins an interaction)."""
    clear_the_floor(sending)
    customer = new_phone()
    token = sign_in(sending, "first-hour-ola")["token"]
    with sending.http() as http:
        flow = sending.create_flex_flow(
            http,
            plan_flex_defaults(sending.settings).defaults.chat_service_sid,
            IntegrationType="external",
            **{"Integration.Url": f"{outside.url}/custom-channel"},
        )

    async def work() -> dict[str, Any]:
        async with as_agent(sending, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "o0", "set_activity", activity="Available")
            started = await command(
                desk, "o1", "start_conversation", flex_flow_sid=flow["sid"], to=customer, body="Hi", key="ola-1"
            )
            offered = await frame(desk, event("reservation.created", task_sid=started["task_sid"]))
            await command(desk, "o2", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await command(
                desk, "o3", "send_message", channel_sid=started["channel_sid"], body="Anything else?", key="ola-2"
            )
            return started

    started = asyncio.run(work())

    def posted() -> list[dict[str, str]]:
        forms = [r.form for r in outside.received("/custom-channel")]
        assert forms, forms
        return forms

    [post] = eventually(posted)
    assert post["From"] == "first-hour-ola" and post["Body"] == "Anything else?", post
    assert post["ChannelSid"] == started["channel_sid"]
    assert len(tasks_on(sending, started["channel_sid"])) == 1
