"""Channels and messages through the REST API and Twilio's webhook: what customers send, what
channels hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from switchboard.fake_provider import FakeTwilio
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.stack import Stack, eventually
from workflows.starter import ChannelClient


def messages_of(http: httpx.Client, service_sid: str, channel_sid: str) -> list[dict[str, Any]]:
    response = http.get(f"/v2/Services/{service_sid}/Channels/{channel_sid}/Messages", params={"PageSize": "1000"})
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["messages"]
    return result


def channels_of(http: httpx.Client, service_sid: str) -> list[dict[str, Any]]:
    response = http.get(f"/v2/Services/{service_sid}/Channels", params={"PageSize": "1000"})
    result: list[dict[str, Any]] = response.json()["channels"]
    return result


def only_channel(http: httpx.Client, service_sid: str, messages: int = 1) -> dict[str, Any]:
    """The service's one channel, once it holds ``messages`` messages."""

    def check() -> dict[str, Any]:
        channels = channels_of(http, service_sid)
        assert len(channels) == 1, channels
        assert channels[0]["messages_count"] >= messages, channels[0]
        return channels[0]

    return eventually(check)


def stack_idle(stack: Stack, channel_sid: str) -> None:
    """The channel workflow has no message waiting to be stored."""
    state = stack.call(lambda c: ChannelClient(c, stack.settings.task_queue).state(channel_sid))
    assert state.pending == 0, state


def conversation(http: httpx.Client, service: str, count: int) -> list[tuple[str, str]]:
    """(author, body) of the service's only channel, once it holds ``count`` messages."""

    def check() -> list[tuple[str, str]]:
        channels = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
        assert len(channels) == 1, channels
        messages = messages_of(http, service, channels[0]["sid"])
        assert len(messages) >= count, messages
        return [(m["from"], m["body"]) for m in messages]

    return eventually(check)


def text(stack: Stack, http: httpx.Client, to: str, customer: str, body: str) -> None:
    response = stack.post_webhook(http, stack.sms_params(to, customer, body))
    assert response.status_code == 200, response.text


def bodies_sent_to(fake_twilio: FakeTwilio, customer: str) -> list[str | None]:
    return [r.field("Body") for r in fake_twilio.message_requests() if r.field("To") == customer]


def channel_bodies(stack: Stack, channel_sid: str) -> list[str | None]:
    service = plan_flex_defaults(stack.settings).defaults.chat_service_sid
    with stack.http() as http:
        answer = http.get(f"/v2/Services/{service}/Channels/{channel_sid}/Messages")
    assert answer.status_code == 200, answer.text
    return [m["body"] for m in answer.json()["messages"]]


def age_messages(stack: Stack, channel_sid: str, age: timedelta) -> None:
    """Make the channel's messages ``age`` old, as if the customer had written that long ago."""
    then = (datetime.now(UTC) - age).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    engine = create_engine(stack.settings.resolved_database_url.replace("+aiosqlite", ""))
    try:
        with engine.begin() as conn:
            conn.execute(
                sql("UPDATE message SET date_created = :then WHERE channel_sid = :sid"),
                {"then": then, "sid": channel_sid},
            )
    finally:
        engine.dispose()
