"""The agent WebSocket end to end, with a real WebSocket client: an SMS through Flex's default
Messaging Flow becomes a reservation on the agent's socket; the agent accepts, answers, hears the
customer, drops the socket and resumes without a gap, wraps up and completes; the quiet channel
closes, and the customer's next message opens a new interaction on the same long-lived channel."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers.flows import long_lived_default_flow
from tests.helpers.messages import conversation, text
from tests.helpers.sockets import AGENT_PROTOCOL, Desk, answering, command, event, frame, frames_until
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, eventually, new_phone

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends


@pytest.fixture(scope="module")
def quick(make_stack: StackFactory) -> Stack:
    return make_stack(channel_inactivity_seconds=2.0)


async def refusal(ws: ClientConnection, command_id: str, name: str, **fields: Any) -> dict[str, Any]:
    """The error frame a command is refused with."""
    await ws.send(json.dumps({"type": "command", "id": command_id, "command": name, **fields}))
    answer = await frame(ws, answering(command_id))
    assert answer["type"] == "error", answer
    return answer


def test_an_agent_works_a_conversation_over_the_socket(quick: Stack) -> None:
    desk = Desk(quick, "alice")
    customer = new_phone()
    with quick.http() as http:
        service, number = long_lived_default_flow(quick, http)

        async def work() -> tuple[str, int]:
            async with desk.connect() as ws:
                assert ws.subprotocol == AGENT_PROTOCOL
                ready = await frame(ws, lambda f: f["type"] == "ready")
                assert ready["worker"]["sid"] == desk.worker.sid and ready["worker"]["available"] is True
                await asyncio.to_thread(text, quick, http, number, customer, "hello")
                offered = await frame(ws, event("reservation.created"))
                attributes = offered["data"]["task_attributes"]
                assert attributes["name"] == customer and attributes["channelType"] == "sms"
                channel_sid = offered["channel_sid"]
                assert attributes["channelSid"] == channel_sid
                await command(ws, "1", "accept", reservation_sid=offered["data"]["reservation_sid"])
                await frame(ws, event("channel.joined", channel_sid=channel_sid))
                sent = await command(
                    ws, "2", "send_message", channel_sid=channel_sid, body="Hi, how can I help?", key="k1"
                )
                mine = await frame(ws, event("message", sid=sent["sid"]))
                assert mine["data"]["from"] == "alice" and mine["data"]["index"] == sent["index"] == 1
                # The same key again (a resend after a reconnect) stores nothing new.
                again = await command(
                    ws, "3", "send_message", channel_sid=channel_sid, body="Hi, how can I help?", key="k1"
                )
                assert again["sid"] == sent["sid"] and again["duplicate"] is False
                await asyncio.to_thread(text, quick, http, number, customer, "where is my order?")
                heard = await frame(ws, event("message", body="where is my order?"))
                return channel_sid, int(heard["sequence"])

        channel_sid, last_seen = asyncio.run(work())
        # While the socket is down the customer writes twice; the agent resumes from its sequence.
        text(quick, http, number, customer, "hello?")
        text(quick, http, number, customer, "anyone?")
        conversation(http, service, 5)

        async def resume() -> None:
            async with desk.connect(resume_after=last_seen) as ws:
                ready = await frame(ws, lambda f: f["type"] == "ready")
                assert ready["sequence"] == last_seen and channel_sid in ready["channels"]
                first = await frame(ws, lambda f: f["type"] == "event")
                second = await frame(ws, lambda f: f["type"] == "event")
                assert [first["data"]["body"], second["data"]["body"]] == ["hello?", "anyone?"]
                assert last_seen < first["sequence"] < second["sequence"]
                history = await command(ws, "4", "history", channel_sid=channel_sid, before_index=3, limit=2)
                assert [m["body"] for m in history["messages"]] == ["Hi, how can I help?", "where is my order?"]
                read = await command(ws, "5", "mark_read", channel_sid=channel_sid, index=4)
                assert read["last_consumed_message_index"] == 4
                reservation = ready["reservations"][0]["sid"]
                await command(ws, "6", "wrapup", reservation_sid=reservation)
                await frame(ws, event("task.wrapup"))
                # The interaction is over: the quiet channel closes, and the agent, wrapping up, hears it.
                await frame(ws, event("channel.status", channel_sid=channel_sid, status="INACTIVE"))
                await command(ws, "7", "complete", reservation_sid=reservation)
                await frame(ws, event("task.completed"))

        asyncio.run(resume())

        # The interaction is over: the quiet channel closes; the next message reopens it, with its
        # history, and starts a new interaction (a new task, offered again).
        def closed() -> None:
            channel = http.get(f"/v2/Services/{service}/Channels/{channel_sid}").json()
            assert json.loads(channel["attributes"])["status"] == "INACTIVE"

        eventually(closed)

        async def next_interaction() -> None:
            async with desk.connect() as ws:
                ready = await frame(ws, lambda f: f["type"] == "ready")
                # The agent completed its part: the channel is read-only to it, and not listed.
                assert channel_sid not in ready["channels"] and ready["reservations"] == []
                refused = await refusal(ws, "8", "send_message", channel_sid=channel_sid, body="one more thing")
                assert refused["code"] == 403 and "read-only" in refused["message"], refused
                earlier = await command(ws, "9", "history", channel_sid=channel_sid)
                assert [m["body"] for m in earlier["messages"]][-1] == "anyone?"
                # The customer comes back: accepting the new task makes the channel the agent's again.
                await asyncio.to_thread(text, quick, http, number, customer, "me again")
                offered = await frame(ws, event("reservation.created"))
                assert offered["channel_sid"] == channel_sid
                await command(ws, "10", "accept", reservation_sid=offered["data"]["reservation_sid"])
                await command(ws, "11", "send_message", channel_sid=channel_sid, body="Welcome back!")

        asyncio.run(next_interaction())
        bodies = [body for _, body in conversation(http, service, 7)]
        assert bodies == [
            "hello",
            "Hi, how can I help?",
            "where is my order?",
            "hello?",
            "anyone?",
            "me again",
            "Welcome back!",
        ]


def test_bad_tokens_close_the_socket_with_a_clear_code(quick: Stack) -> None:
    desk = Desk(quick, "bob")
    url = desk.ws_url

    async def closed_with(subprotocols: list[str], first: dict[str, Any] | None = None) -> tuple[int, str]:
        async with connect(url, subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            if first is not None:
                await ws.send(json.dumps(first))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code, closed.value.rcvd.reason

    claims = jwt.decode(desk.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another secret of at least thirty-two chars", algorithm="HS256")
    code, reason = asyncio.run(closed_with([AGENT_PROTOCOL, f"access_token.{forged}"]))
    assert code == 4401 and "20107" in reason  # bad signature
    code, reason = asyncio.run(closed_with([AGENT_PROTOCOL], {"type": "hello"}))
    assert code == 4400 and "authenticate" in reason
    code, reason = asyncio.run(closed_with([AGENT_PROTOCOL], {"type": "authenticate", "token": "not-a-jwt"}))
    assert code == 4401


def test_an_agent_reaches_only_its_own_channels(quick: Stack) -> None:
    desk = Desk(quick, "carol")
    with quick.http() as http:
        service = quick.create_service(http)
        other = http.post(f"/v2/Services/{service}/Channels", data={"FriendlyName": "not carol's"}).json()["sid"]

    async def refused() -> None:
        async with desk.connect() as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            for i, (name, fields) in enumerate(
                [
                    ("send_message", {"channel_sid": other, "body": "hi"}),
                    ("history", {"channel_sid": other}),
                    ("accept", {"reservation_sid": "WR" + "0" * 32}),
                    ("explode", {}),
                ]
            ):
                await ws.send(json.dumps({"type": "command", "id": str(i), "command": name, **fields}))
                answer = await frame(ws, answering(str(i)))
                assert answer["type"] == "error", answer
                assert answer["code"] == {0: 403, 1: 403, 2: 404, 3: 400}[i], answer

    asyncio.run(refused())


def test_a_transfer_ends_the_first_agents_part(quick: Stack) -> None:
    """After a transfer the conversation is the second agent's: the first wraps up its part and
    reads the channel, but no longer hears it or writes in it."""
    clear_the_floor(quick)
    first = Desk(quick, "dora")
    customer = new_phone()
    with quick.http() as http:
        service, number = long_lived_default_flow(quick, http)

        async def transfer() -> tuple[str, str]:
            async with first.connect() as ws:
                await frame(ws, lambda f: f["type"] == "ready")
                await asyncio.to_thread(text, quick, http, number, customer, "hello")
                offered = (await frame(ws, event("reservation.created")))["data"]
                channel_sid, task_sid = offered["channel_sid"], offered["task_sid"]
                await command(ws, "1", "accept", reservation_sid=offered["reservation_sid"])
                await frame(ws, event("channel.joined", channel_sid=channel_sid))
                second = await asyncio.to_thread(Desk, quick, "emil")
                async with second.connect() as other:
                    await frame(other, lambda f: f["type"] == "ready")
                    moved = await command(ws, "2", "transfer", task_sid=task_sid, to_worker_sid=second.worker.sid)
                    handed = (await frame(other, event("reservation.created")))["data"]
                    assert handed["task_sid"] == moved["new_task_sid"] and handed["channel_sid"] == channel_sid
                    await command(other, "3", "accept", reservation_sid=handed["reservation_sid"])
                    await frame(other, event("channel.joined", channel_sid=channel_sid))
                    await asyncio.to_thread(text, quick, http, number, customer, "still there?")
                    await frame(other, event("message", body="still there?"))
                    await command(other, "4", "send_message", channel_sid=channel_sid, body="Emil here, I can help.")
                    # Whatever reached the first agent's feed about those messages comes before its
                    # own activity change: none of it does.
                    await command(ws, "5", "set_activity", activity="Break")
                    before = await frames_until(ws, event("worker.activity.update"))
                    assert [
                        f for f in before if f.get("channel_sid") == channel_sid and f.get("event") == "message"
                    ] == []
                    acts: list[tuple[str, dict[str, Any]]] = [
                        ("send_message", {"body": "me too"}),
                        ("typing", {}),
                        ("mark_read", {"index": 1}),
                    ]
                    for n, (name, fields) in enumerate(acts):
                        refused = await refusal(ws, f"r{n}", name, channel_sid=channel_sid, **fields)
                        assert refused["code"] == 403 and "read-only" in refused["message"], refused
                    earlier = await command(ws, "6", "history", channel_sid=channel_sid)
                    assert [m["body"] for m in earlier["messages"]] == [
                        "hello",
                        "still there?",
                        "Emil here, I can help.",
                    ]
                    info = await command(ws, "7", "channel_info", channel_sid=channel_sid)
                    assert info["task"]["sid"] == task_sid and info["task"]["handed_over"] is True
                    assert info["task"]["assignment_status"] == "wrapping"
                    mine = await command(other, "8", "channel_info", channel_sid=channel_sid)
                    assert mine["task"]["sid"] == moved["new_task_sid"] and mine["task"]["handed_over"] is False
                return channel_sid, str(offered["reservation_sid"])

        channel_sid, reservation = asyncio.run(transfer())

        async def wrap_up_part() -> None:
            async with first.connect() as ws:
                ready = await frame(ws, lambda f: f["type"] == "ready")
                # Not a conversation it works any more, but its wrap-up is still its to complete.
                assert channel_sid not in ready["channels"]
                assert [(r["sid"], r["status"]) for r in ready["reservations"]] == [(reservation, "wrapping")]
                done = await command(ws, "9", "complete", reservation_sid=reservation)
                assert done["status"] == "completed"

        asyncio.run(wrap_up_part())
        assert [body for _, body in conversation(http, service, 3)] == [
            "hello",
            "still there?",
            "Emil here, I can help.",
        ]
