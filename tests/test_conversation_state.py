"""Conversations' ``State`` and ``Timers`` through the official ``twilio`` client: timers given on
create and update (default and service paths) shown as Twilio's ``timers``; ``State`` set to
inactive, active again by a message, and closed for good; a closed conversation refused by every
surface with Twilio's 50377 (Conversations, Chat v2, the customer's socket); bad durations and a
conversation created closed refused with Twilio's codes, naming the parameter. The timers firing
and the races at their boundaries: ``tests/test_conversation_timers.py``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.sockets import as_customer, frame, open_session
from tests.helpers.stack import Stack, eventually


def refusal(call: object) -> TwilioRestException:
    assert callable(call)
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def test_timers_state_and_a_closed_conversation_through_the_twilio_client(stack: Stack) -> None:
    client = stack.twilio()
    conversations = client.conversations.v1.conversations
    made = conversations.create(friendly_name="timed", timers_inactive="PT5M", timers_closed="PT1H")
    assert made.state == "active"
    assert set(made.timers) == {"date_inactive", "date_closed"}
    # Counting from the timers being set, just after the creation.
    assert timedelta(0) <= _date(made.timers["date_inactive"]) - made.date_created - timedelta(minutes=5) < _SLACK
    assert timedelta(0) <= _date(made.timers["date_closed"]) - made.date_created - timedelta(hours=1) < _SLACK

    made.messages.create(author="ann", body="first")
    quiet = conversations(made.sid).update(state="inactive")
    assert quiet.state == "inactive"
    assert set(quiet.timers) == {"date_closed"}  # already inactive: only the close is ahead
    assert made.sid in [c.sid for c in conversations.list(state="inactive")]

    made.messages.create(author="ann", body="back again")  # a message reactivates it
    eventually(lambda: _assert_state(stack, made.sid, "active"))

    untimed = conversations(made.sid).update(timers_inactive="PT0S")  # PT0S removes a timer
    assert set(untimed.timers) == {"date_closed"}

    closed = conversations(made.sid).update(state="closed")
    assert (closed.state, closed.timers) == ("closed", {})
    assert made.sid in [c.sid for c in conversations.list(state="closed")]
    assert made.sid not in [c.sid for c in conversations.list(state="active")]

    # Closed is final, for Conversations and Chat v2 alike.
    default_service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    chat_channel = client.chat.v2.services(default_service).channels(made.sid)
    refused = {
        "message": lambda: made.messages.create(author="ann", body="too late"),
        "reopen": lambda: conversations(made.sid).update(state="active"),
        "rename": lambda: conversations(made.sid).update(friendly_name="again"),
        "participant": lambda: made.participants.create(identity="bob"),
        "chat message": lambda: chat_channel.messages.create(from_="ann", body="too late"),
        "chat member": lambda: chat_channel.members.create(identity="carl"),
    }
    for what, call in refused.items():
        error = refusal(call)
        assert (error.status, error.code) == (400, 50377), (what, error.status, error.code, error.msg)
    assert [m.body for m in made.messages.list()] == ["first", "back again"]
    assert conversations(made.sid).fetch().state == "closed"


def test_the_service_path_takes_state_and_timers_on_create(stack: Stack) -> None:
    client = stack.twilio()
    service = client.conversations.v1.services.create(friendly_name="timers")
    scoped = client.conversations.v1.services(service.sid).conversations
    made = scoped.create(friendly_name="born quiet", state="inactive", timers_closed="P1D")
    assert made.state == "inactive"
    assert set(made.timers) == {"date_closed"}
    assert scoped(made.sid).update(state="active").state == "active"


def test_bad_timers_and_states_are_refused_naming_the_parameter(stack: Stack) -> None:
    conversations = stack.twilio().conversations.v1.conversations
    other = conversations.create(friendly_name="other")
    cases = {
        ("Timers.Inactive", 50379): lambda: conversations.create(timers_inactive="five minutes"),
        ("Timers.Inactive", 50375): lambda: conversations.create(timers_inactive="PT30S"),
        ("Timers.Closed", 50380): lambda: conversations(other.sid).update(timers_closed="P1Y"),
        ("Timers.Closed", 50376): lambda: conversations(other.sid).update(timers_closed="PT5M"),
        ("State", 50384): lambda: conversations.create(state="closed"),
    }
    for (parameter, code), call in cases.items():
        error = refusal(call)
        assert (error.status, error.code) == (400, code) and parameter in error.msg, (parameter, error.msg)
    assert conversations(other.sid).fetch().timers == {}


def test_the_customer_socket_is_refused_once_the_conversation_is_closed(stack: Stack) -> None:
    session = open_session(stack, "Ida")
    conversation = stack.twilio().conversations.v1.conversations(session["channel_sid"])
    assert conversation.update(state="closed").state == "closed"

    async def send() -> dict[str, object]:
        async with as_customer(stack, session["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            await chat.send(json.dumps({"type": "command", "id": "c1", "command": "send_message", "body": "anyone?"}))
            return dict(await frame(chat, lambda f: f["type"] == "error" and f.get("id") == "c1"))

    error = asyncio.run(send())
    assert error["code"] == 400 and "final closed state" in str(error["message"]), error
    assert [m.body for m in conversation.messages.list()] == []


def _assert_state(stack: Stack, sid: str, state: str) -> None:
    assert stack.twilio().conversations.v1.conversations(sid).fetch().state == state


_SLACK = timedelta(seconds=30)


def _date(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
