"""Internal notes: an agent (on a conversation it holds or held), a supervisor or an admin writes
a note; the agents on the channel hear it live, everyone who reads the channel finds it in its
history, and the customer never receives it by any way: not on the web chat's socket or its
history, not through the SMS provider, not in a channel webhook's posts, not in Chat's REST list
of messages. Notes are stored encrypted."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from switchboard.fake_provider import FakeTwilio
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.desks import offline, supervisor
from tests.helpers.messages import messages_of, text
from tests.helpers.recording import RecordingServer
from tests.helpers.sockets import (
    Desk,
    as_agent,
    as_customer,
    command,
    event,
    frame,
    frames_until,
    open_session,
    refused,
)
from tests.helpers.stack import Stack, clear_the_floor, eventually, new_phone

pytestmark = pytest.mark.store_backends


def stored_notes(stack: Stack) -> list[str]:
    """The conversation_note rows as the database holds them (every column, as text)."""
    engine = create_engine(stack.settings.resolved_database_url.replace("+aiosqlite", ""))
    try:
        with engine.begin() as conn:
            return [" ".join(str(v) for v in row) for row in conn.execute(sql("SELECT * FROM conversation_note"))]
    finally:
        engine.dispose()


def test_a_note_reaches_the_agents_and_never_the_web_customer(sending: Stack) -> None:
    clear_the_floor(sending, "nora")
    nora = Desk(sending, "nora")
    service = plan_flex_defaults(sending.settings).defaults.chat_service_sid
    session = open_session(sending, "Ada")
    channel_sid = session["channel_sid"]
    first, second = "NOTE-WEB-1 asked twice about the refund", "NOTE-WEB-2 refund approved, tell her"

    async def work() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        async with as_customer(sending, session["token"]) as customer, nora.connect() as ws:
            await frame(customer, lambda f: f["type"] == "ready")
            await frame(ws, lambda f: f["type"] == "ready")
            await command(customer, "c1", "send_message", body="Hello, where is my refund?")
            offered = (await frame(ws, event("reservation.created")))["data"]
            await command(ws, "1", "accept", reservation_sid=offered["reservation_sid"])
            await frame(ws, event("channel.joined", channel_sid=channel_sid))
            written = await command(ws, "2", "add_note", channel_sid=channel_sid, body=first)
            assert written["author"] == "nora" and written["body"] == first and written["sid"].startswith("NT")
            # The conversation goes to Otto; Nora held it and may still write notes on it.
            otto = await asyncio.to_thread(Desk, sending, "otto")
            async with otto.connect() as other:
                await frame(other, lambda f: f["type"] == "ready")
                moved = await command(ws, "3", "transfer", task_sid=offered["task_sid"], to_worker_sid=otto.worker.sid)
                handed = (await frame(other, event("reservation.created", task_sid=moved["new_task_sid"])))["data"]
                await command(other, "4", "accept", reservation_sid=handed["reservation_sid"])
                await frame(other, event("channel.joined", channel_sid=channel_sid))
                await command(ws, "5", "add_note", channel_sid=channel_sid, body=second)
                heard = await frame(other, event("note", channel_sid=channel_sid))
                assert heard["data"]["body"] == second and heard["data"]["author"] == "nora"
                await command(other, "6", "send_message", channel_sid=channel_sid, body="Hi Ada, Otto here.")
                # Everything the customer was sent up to Otto's message: no note among it.
                seen = await frames_until(customer, event("message", body="Hi Ada, Otto here."))
                customer_history = await command(customer, "c2", "history")
                otto_history = await command(other, "7", "history", channel_sid=channel_sid)
                # The transfer's two tasks are one interaction of the customer's, with both agents.
                past = await command(other, "7b", "contact_history", channel_sid=channel_sid)
                [conversation] = past["conversations"]
                assert [i["agents"] for i in conversation["interactions"]] == [["nora", "otto"]], past
                assert conversation["interactions"][0]["task_sid"] == moved["new_task_sid"]
                # Refusals: the customer has no notes command; an agent who never had the
                # conversation neither writes nor reads its notes.
                assert (await refused(customer, "c3", "add_note", channel_sid=channel_sid, body="x"))["code"] == 400
                outsider = offline(sending, await asyncio.to_thread(Desk, sending, "pete"))
                async with outsider.connect() as pete:
                    await frame(pete, lambda f: f["type"] == "ready")
                    no = await refused(pete, "p1", "add_note", channel_sid=channel_sid, body="x")
                    assert no["code"] == 403, no
                    assert (await refused(pete, "p2", "history", channel_sid=channel_sid))["code"] == 403
                    unknown = await refused(pete, "p3", "add_note", channel_sid="CH" + "0" * 32, body="x")
                    assert unknown["code"] == 403, unknown
                    assert (await refused(ws, "8", "add_note", channel_sid=channel_sid, body="  "))["code"] == 400
        return seen, customer_history, otto_history

    seen, customer_history, otto_history = asyncio.run(work())
    for sent in [*seen, customer_history]:
        assert "NOTE-WEB" not in json.dumps(sent), sent
    assert [n["body"] for n in otto_history["notes"]] == [first, second]
    assert all("NOTE-WEB" not in (m["body"] or "") for m in otto_history["messages"])
    with sending.http() as http:
        assert all("NOTE-WEB" not in (m["body"] or "") for m in messages_of(http, service, channel_sid))
    # Stored encrypted, like message bodies.
    assert stored_notes(sending) and all("NOTE-WEB" not in row and "nora" not in row for row in stored_notes(sending))


def test_a_supervisor_writes_and_reads_notes_an_agent_sees(sending: Stack) -> None:
    clear_the_floor(sending, "rosa")
    rosa = Desk(sending, "rosa")
    _, token = supervisor(sending, "sam")
    session = open_session(sending, "Bea")
    channel_sid = session["channel_sid"]

    async def work() -> dict[str, Any]:
        async with as_customer(sending, session["token"]) as customer, rosa.connect() as ws:
            await frame(customer, lambda f: f["type"] == "ready")
            await frame(ws, lambda f: f["type"] == "ready")
            await command(customer, "c1", "send_message", body="Hi")
            offered = (await frame(ws, event("reservation.created")))["data"]
            await command(ws, "1", "accept", reservation_sid=offered["reservation_sid"])
            await frame(ws, event("channel.joined", channel_sid=channel_sid))
            async with as_agent(sending, token) as sam:
                await frame(sam, lambda f: f["type"] == "ready")
                await command(sam, "s1", "add_note", channel_sid=channel_sid, body="Offer her the voucher")
                heard = await frame(ws, event("note", channel_sid=channel_sid))
                assert heard["data"]["author"] == "sam"
                # A supervisor watches: it may not write to the customer.
                assert (await refused(sam, "s2", "send_message", channel_sid=channel_sid, body="hi"))["code"] == 403
                return await command(sam, "s3", "history", channel_sid=channel_sid)

    history = asyncio.run(work())
    assert [(n["author"], n["body"]) for n in history["notes"]] == [("sam", "Offer her the voucher")]


def test_a_note_reaches_no_provider_and_no_webhook(
    sending: Stack, fake_twilio: FakeTwilio, outside: RecordingServer
) -> None:
    clear_the_floor(sending, "uma")
    uma = Desk(sending, "uma")
    customer = new_phone()
    service = plan_flex_defaults(sending.settings).defaults.chat_service_sid
    secret = "NOTE-SMS-7 card ends 4242, do not repeat"
    reply = f"Your parcel ships today ({customer})"

    async def work() -> str:
        async with uma.connect() as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, sending.settings.flex_sms_number, customer, "Parcel?")
            offered = (await frame(ws, event("reservation.created")))["data"]
            channel_sid = str(offered["channel_sid"])
            await command(ws, "1", "accept", reservation_sid=offered["reservation_sid"])
            await frame(ws, event("channel.joined", channel_sid=channel_sid))
            # A bridge to another system gets the channel's messages (its Studio webhook removed).
            webhooks = sending.twilio().chat.v2.services(service).channels(channel_sid).webhooks
            for hook in await asyncio.to_thread(webhooks.list):
                await asyncio.to_thread(webhooks(hook.sid).delete)
            await asyncio.to_thread(
                webhooks.create,
                type="webhook",
                configuration_url=f"{outside.url}/notes-hook",
                configuration_filters=["onMessageSent", "onMessageUpdated"],
            )
            await command(ws, "2", "add_note", channel_sid=channel_sid, body=secret)
            await command(ws, "3", "send_message", channel_sid=channel_sid, body=reply)
            with sending.http() as http:
                await asyncio.to_thread(text, sending, http, sending.settings.flex_sms_number, customer, "Thanks!")
            await frame(ws, event("message", body="Thanks!"))
            return channel_sid

    channel_sid = asyncio.run(work())

    def delivered() -> None:
        assert any(r.field("Body") == reply for r in fake_twilio.message_requests())
        bridged = [r.form.get("Body") for r in outside.received("/notes-hook")]
        assert reply in bridged and "Thanks!" in bridged, bridged

    eventually(delivered)
    # Form posts encode spaces and commas: look for a word of the note that needs no encoding.
    for request in fake_twilio.requests:
        assert "NOTE-SMS" not in request.body.decode() and "4242" not in request.body.decode(), request
    for recorded in outside.requests:
        assert "NOTE-SMS" not in recorded.body.decode() and "4242" not in recorded.body.decode(), recorded
    with sending.http() as http:
        assert all("NOTE-SMS" not in (m["body"] or "") for m in messages_of(http, service, channel_sid))
