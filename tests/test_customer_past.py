"""The customer's past: the agent serving a customer sees the customer's earlier conversations
(the channels of the same address: a short-lived channel closes and the next message opens a new
one), with dates, who handled and ended them, the task's status and wrap-up outcome, and opens them
read-only; agents see no one else's. Supervisors and admins find a contact by exact address or
identity (a keyed hash lookup) over the agent socket and REST; agents, customers and outsiders
are refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.helpers.desks import offline, supervisor
from tests.helpers.messages import text
from tests.helpers.sockets import Desk, as_agent, command, event, frame, open_session, refused
from tests.helpers.stack import Stack, StackFactory, clear_the_floor, new_phone

pytestmark = pytest.mark.store_backends


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory) -> Stack:
    # Short-lived channels close soon after their task is done: the next message opens a new one.
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=2.0)


async def closed(ws: Any, channel_sid: str) -> None:
    for n in range(300):
        info = await command(ws, f"i{n}", "channel_info", channel_sid=channel_sid)
        if info["status"] == "INACTIVE":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{channel_sid} did not close")


def first_visit(stack: Stack, agent: Desk, customer: str) -> tuple[str, str]:
    """The customer texts, ``agent`` answers, sets the outcome and completes; the channel closes."""
    workspace = agent.workspace

    async def work() -> tuple[str, str]:
        async with agent.connect() as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            with stack.http() as http:
                await asyncio.to_thread(text, stack, http, stack.settings.flex_sms_number, customer, "First visit")
            offered = (await frame(ws, event("reservation.created")))["data"]
            channel_sid, task_sid = str(offered["channel_sid"]), str(offered["task_sid"])
            await command(ws, "1", "accept", reservation_sid=offered["reservation_sid"])
            await frame(ws, event("channel.joined", channel_sid=channel_sid))
            await command(ws, "2", "send_message", channel_sid=channel_sid, body="Sorted, thanks!")
            task = await asyncio.to_thread(workspace.tasks(task_sid).fetch)
            attributes = {**json.loads(task.attributes), "conversations": {"outcome": "Resolved"}}
            await asyncio.to_thread(workspace.tasks(task_sid).update, attributes=json.dumps(attributes))
            await command(ws, "3", "wrapup", reservation_sid=offered["reservation_sid"])
            await command(ws, "4", "complete", reservation_sid=offered["reservation_sid"])
            await command(ws, "5", "set_activity", activity="Offline")
            await closed(ws, channel_sid)
            return channel_sid, task_sid

    return asyncio.run(work())


def test_the_agent_serving_a_returning_customer_sees_their_past(stack: Stack) -> None:
    clear_the_floor(stack, "vera")
    customer = new_phone()
    earlier, earlier_task = first_visit(stack, Desk(stack, "vera"), customer)
    clear_the_floor(stack, "walt")
    walt = Desk(stack, "walt")
    outsider = offline(stack, Desk(stack, "xena"))
    _, supervisor_token = supervisor(stack, "sol")

    async def work() -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with walt.connect() as ws:
            await frame(ws, lambda f: f["type"] == "ready")
            with stack.http() as http:
                await asyncio.to_thread(text, stack, http, stack.settings.flex_sms_number, customer, "Back again")
            offered = (await frame(ws, event("reservation.created")))["data"]
            now = str(offered["channel_sid"])
            await command(ws, "1", "accept", reservation_sid=offered["reservation_sid"])
            await frame(ws, event("channel.joined", channel_sid=now))
            past = await command(ws, "2", "contact_history", channel_sid=now)
            # Walt never had the earlier conversation, but serves its customer now: it reads it.
            old = await command(ws, "3", "history", channel_sid=earlier)
            # Agents do not look contacts up.
            assert (await refused(ws, "4", "find_contact", address=customer))["code"] == 403
            async with outsider.connect() as other:
                await frame(other, lambda f: f["type"] == "ready")
                assert (await refused(other, "x1", "contact_history", channel_sid=now))["code"] == 403
                assert (await refused(other, "x2", "history", channel_sid=earlier))["code"] == 403
            async with as_agent(stack, supervisor_token) as sol:
                await frame(sol, lambda f: f["type"] == "ready")
                found = await command(sol, "s1", "find_contact", address=customer)
                nobody = await command(sol, "s2", "find_contact", address=new_phone())
                assert nobody["conversations"] == []
                assert (await refused(sol, "s3", "find_contact", address=customer, identity="x"))["code"] == 400
            return now, past, old, found

    now, past, old, found = asyncio.run(work())
    assert now != earlier
    conversations = past["conversations"]
    assert [c["channel_sid"] for c in conversations] == [now, earlier]
    [interaction] = conversations[1]["interactions"]
    assert interaction["task_sid"] == earlier_task
    assert interaction["assignment_status"] == "completed" and interaction["ended_by"] == "agent"
    assert interaction["outcome"] == "Resolved" and interaction["agents"] == ["vera"]
    assert conversations[1]["status"] == "INACTIVE" and conversations[1]["channel_type"] == "sms"
    assert conversations[0]["interactions"][0]["assignment_status"] == "assigned"
    assert [m["body"] for m in old["messages"]] == ["First visit", "Sorted, thanks!"]
    assert [c["channel_sid"] for c in found["conversations"]] == [now, earlier]

    # REST: supervisors (their service's channels) and operators; agents, customers, nobody: no.
    path = "/v1/Contacts"
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        answer = http.get(path, params={"Address": customer}, headers={"Authorization": f"Bearer {supervisor_token}"})
        assert answer.status_code == 200, answer.text
        assert [c["channel_sid"] for c in answer.json()["conversations"]] == [now, earlier]
        assert answer.json()["meta"]["key"] == "conversations"
        for token in (walt.token, open_session(stack)["token"]):
            refusal = http.get(path, params={"Address": customer}, headers={"Authorization": f"Bearer {token}"})
            assert refusal.status_code == 403 and refusal.json()["code"] == 20403, refusal.text
        assert http.get(path, params={"Address": customer}).status_code == 401
    with stack.http() as http:
        paged = http.get(path, params={"Address": customer, "PageSize": 1}).json()
        assert [c["channel_sid"] for c in paged["conversations"]] == [now] and paged["meta"]["next_page_url"]
        missing = http.get(path)
        assert missing.status_code == 400 and "Address" in missing.json()["message"], missing.text
