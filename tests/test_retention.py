"""Retention and erasure end to end: the worker's schedule sweeps a service's expired messages and
keeps the rest; an erasure request ends a contact's channels and deletes what they held, across
Flex Flows and channel types, leaving others alone; both are audited without the address."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from temporalio.client import Client

from switchboard.store.crypto import Cipher
from tests.helpers.messages import age_messages
from tests.helpers.sockets import as_customer, command, frame, open_session
from tests.helpers.stack import Stack, StackFactory, eventually, new_phone
from worker import retention_schedule_id


@pytest.fixture(scope="module")
def keeping(make_stack: StackFactory) -> Stack:
    return make_stack(channel_inactivity_seconds=600.0)


def channel_of(http: httpx.Client, service: str, count: int = 1) -> list[dict[str, Any]]:
    def listed() -> list[dict[str, Any]]:
        channels: list[dict[str, Any]] = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
        assert len(channels) == count and all(c["messages_count"] >= 1 for c in channels), channels
        return channels

    return eventually(listed)


def bodies(http: httpx.Client, service: str, channel: str) -> list[str]:
    return [m["body"] for m in http.get(f"/v2/Services/{service}/Channels/{channel}/Messages").json()["messages"]]


def write(stack: Stack, http: httpx.Client, number: str, customer: str, body: str) -> None:
    assert stack.post_webhook(http, stack.sms_params(number, customer, body)).status_code == 200


def test_the_schedule_sweeps_expired_messages_of_services_with_retention(keeping: Stack) -> None:
    with keeping.http() as http:
        expiring = http.post("/v2/Services", data={"FriendlyName": "30 days", "RetentionDays": "30"}).json()
        assert expiring["retention_days"] == 30
        kept_forever = keeping.create_service(http)
        old_customer, new_customer = new_phone(), new_phone()
        number = keeping.create_flex_flow(http, expiring["sid"])["contact_identity"]
        write(keeping, http, number, old_customer, "from long ago")
        write(keeping, http, number, new_customer, "from today")
        other_number = keeping.create_flex_flow(http, kept_forever)["contact_identity"]
        write(keeping, http, other_number, old_customer, "kept forever")
        [other] = channel_of(http, kept_forever)
        channels = {c["sid"] for c in channel_of(http, expiring["sid"], 2)}
        [old_channel] = [c for c in channels if bodies(http, expiring["sid"], c) == ["from long ago"]]
        [new_channel] = channels - {old_channel}
        for channel in (old_channel, other["sid"]):
            age_messages(keeping, channel, timedelta(days=40))

        async def run_now(client: Client) -> None:
            await client.get_schedule_handle(retention_schedule_id(keeping.settings)).trigger()

        keeping.call(run_now)

        def swept() -> dict[str, Any]:
            assert bodies(http, expiring["sid"], old_channel) == []
            events = http.get("/v1/AuditEvents").json()["audit_events"]
            [event] = [e for e in events if e["event_type"] == "retention.swept" and e["subject"] == expiring["sid"]]
            return dict(event)

        event = eventually(swept)
        assert event["details"]["days"] == 30 and event["details"]["counts"]["messages"] == 1
        assert bodies(http, expiring["sid"], new_channel) == ["from today"]
        assert bodies(http, kept_forever, other["sid"]) == ["kept forever"]  # no retention there
        # The channel itself stays (a live channel goes on numbering its messages).
        assert http.get(f"/v2/Services/{expiring['sid']}/Channels/{old_channel}").status_code == 200


def test_an_erasure_removes_a_contact_across_channels_and_keeps_others(keeping: Stack) -> None:
    erased, kept = new_phone(), new_phone()
    with keeping.http() as http:
        service = keeping.create_service(http)
        numbers = [keeping.create_flex_flow(http, service)["contact_identity"] for _ in range(2)]
        for number in numbers:
            write(keeping, http, number, erased, f"please forget me ({number})")
        write(keeping, http, numbers[0], kept, "keep me")
        channels = channel_of(http, service, 3)

        asked = http.post("/v1/Erasures", data={"Address": erased})
        assert asked.status_code == 201, asked.text
        erasure = asked.json()
        assert erasure["sid"].startswith("ER") and erasure["status"] == "in-progress"

        def completed() -> dict[str, Any]:
            done: dict[str, Any] = http.get(f"/v1/Erasures/{erasure['sid']}").json()
            assert done["status"] == "completed", done
            return done

        done = completed_erasure = eventually(completed)
        assert done["counts"]["channel"] == 2 and done["counts"]["message"] == 2 and done["counts"]["contacts"] == 2
        remaining = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
        assert len(remaining) == 1 and bodies(http, service, remaining[0]["sid"]) == ["keep me"]
        assert len(channels) == 3

        # Audited under the address's keyed hash: the address itself is nowhere in the trail.
        trail = http.get("/v1/AuditEvents").json()["audit_events"]
        [event] = [
            e for e in trail if e["event_type"] == "contact.erased" and e["details"]["erasure_sid"] == done["sid"]
        ]
        assert event["details"]["counts"] == completed_erasure["counts"]
        assert erased not in json.dumps(trail) and erased.lstrip("+") not in json.dumps(trail)

        # The contact writing again starts afresh, with nothing of before.
        write(keeping, http, numbers[0], erased, "hello again")

        def fresh() -> None:
            channels_now = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            mine = [c for c in channels_now if c["sid"] != remaining[0]["sid"]]
            assert len(mine) == 1 and bodies(http, service, mine[0]["sid"]) == ["hello again"]

        eventually(fresh)


def test_a_web_chat_customer_is_erased_by_identity(keeping: Stack) -> None:
    session = open_session(keeping, "Xena")

    async def customer_writes() -> None:
        async with as_customer(keeping, session["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            await command(chat, "c1", "send_message", body="Delete my chat, please", key="k-1")

    asyncio.run(customer_writes())
    with keeping.http() as http:
        service = session["grants"]["chat"]["service_sid"]
        channel = session["channel_sid"]

        def routed() -> None:
            assert bodies(http, service, channel) == ["Delete my chat, please"]
            assert task_rows(keeping, channel), "no task yet"  # a task waits for an agent

        eventually(routed)
        asked = http.post("/v1/Erasures", data={"Address": session["identity"]})
        assert asked.status_code == 201, asked.text

        def gone() -> None:
            assert http.get(f"/v1/Erasures/{asked.json()['sid']}").json()["status"] == "completed"
            assert http.get(f"/v2/Services/{service}/Channels/{channel}").status_code == 404

        eventually(gone)
    # Its waiting task left routing (no agent is offered a conversation that is gone), emptied.
    [(status, attributes)] = task_rows(keeping, channel)
    assert status == "canceled"
    assert keeping_cipher(keeping).decrypt(attributes, "task.attributes") == "{}"


def task_rows(stack: Stack, channel_sid: str) -> list[tuple[str, str]]:
    engine = create_engine(stack.settings.resolved_database_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            query = sql("SELECT assignment_status, attributes_enc FROM task WHERE channel_sid = :sid")
            return [(str(a), str(b)) for a, b in conn.execute(query, {"sid": channel_sid}).all()]
    finally:
        engine.dispose()


def keeping_cipher(stack: Stack) -> Cipher:
    return Cipher.from_setting(stack.settings.encryption_keys, stack.settings.encryption_key_id)


def test_erasures_and_the_audit_trail_are_for_operators_only(keeping: Stack) -> None:
    assert httpx.get(f"{keeping.url}/v1/AuditEvents").status_code == 401
    assert httpx.post(f"{keeping.url}/v1/Erasures", data={"Address": new_phone()}).status_code == 401
    with keeping.http() as http:
        refused = http.post("/v1/Erasures", data={})
        assert refused.status_code == 400 and "Address" in refused.json()["message"]
