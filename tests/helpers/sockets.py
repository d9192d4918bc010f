"""The agent's and the customer's websockets: connecting, commands and the frames that answer."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.flows import web_flow
from tests.helpers.messages import text
from tests.helpers.stack import Stack, clear_the_floor

AGENT_PROTOCOL = "switchboard.agent.v1"
CUSTOMER_PROTOCOL = "switchboard.customer.v1"

# Event frames that arrived while a command waited for its answer: a command's own effects (the
# echo of a sent message, the join after an accept) may come before its result frame.
_held: weakref.WeakKeyDictionary[ClientConnection, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


async def command(ws: ClientConnection, command_id: str, name: str, **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "command", "id": command_id, "command": name, **fields}))
    held = _held.setdefault(ws, [])
    async with asyncio.timeout(30):
        while True:
            answer = json.loads(await ws.recv())
            if answer.get("id") == command_id and answer.get("type") in ("result", "error"):
                break
            held.append(answer)
    assert answer["type"] == "result", answer
    return dict(answer["data"])


async def frame(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool], within: float = 30) -> dict[str, Any]:
    """The next frame ``wanted`` accepts (others are skipped), held ones first."""
    held = _held.setdefault(ws, [])
    for n, received in enumerate(held):
        if wanted(received):
            del held[: n + 1]
            return dict(received)
    held.clear()
    async with asyncio.timeout(within):
        while True:
            received = json.loads(await ws.recv())
            if wanted(received):
                return dict(received)


def event(name: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    def accepts(received: dict[str, Any]) -> bool:
        data = received.get("data") or {}
        return (
            received.get("type") == "event"
            and received.get("event") == name
            and all(data.get(k) == v for k, v in fields.items())
        )

    return accepts


async def frames_until(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Every frame up to and including the first ``wanted`` accepts, held ones first."""
    seen: list[dict[str, Any]] = []

    def collect(received: dict[str, Any]) -> bool:
        seen.append(received)
        return wanted(received)

    await frame(ws, collect)
    return seen


def answering(command_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda received: received.get("id") == command_id


class Desk:
    """An agent on the default "Flex Task Assignment" workspace with a token of its own."""

    def __init__(self, stack: Stack, name: str) -> None:
        client = stack.twilio()
        [workspace] = [w for w in client.taskrouter.v1.workspaces.list() if w.friendly_name == "Flex Task Assignment"]
        self.workspace = client.taskrouter.v1.workspaces(workspace.sid)
        available = next(a.sid for a in self.workspace.activities.list() if a.friendly_name == "Available")
        attributes = {"contact_uri": f"client:{name}", "routing": {"skills": ["support"]}}
        self.worker = self.workspace.workers.create(
            friendly_name=name, attributes=json.dumps(attributes), activity_sid=available
        )
        with stack.http() as http:
            response = http.post(
                "/v1/Tokens", data={"Identity": name, "WorkspaceSid": workspace.sid, "WorkerSid": self.worker.sid}
            )
        assert response.status_code == 201, response.text
        self.token = response.json()["token"]
        self.ws_url = stack.url.replace("http://", "ws://") + "/v1/agent/ws"

    def connect(self, resume_after: int | None = None) -> Any:
        query = f"?resume_after={resume_after}" if resume_after is not None else ""
        return connect(self.ws_url + query, subprotocols=[AGENT_PROTOCOL, f"access_token.{self.token}"])  # type: ignore[list-item]


def ws_url(stack: Stack, path: str, resume_after: int | None = None) -> str:
    query = f"?resume_after={resume_after}" if resume_after is not None else ""
    return stack.url.replace("http://", "ws://") + path + query


def as_agent(stack: Stack, token: str, resume_after: int | None = None) -> Any:
    url = ws_url(stack, "/v1/agent/ws", resume_after)
    return connect(url, subprotocols=[AGENT_PROTOCOL, f"access_token.{token}"])  # type: ignore[list-item]


def as_customer(stack: Stack, token: str, resume_after: int | None = None) -> Any:
    url = ws_url(stack, "/v1/customer/ws", resume_after)
    return connect(url, subprotocols=[CUSTOMER_PROTOCOL, f"access_token.{token}"])  # type: ignore[list-item]


async def refused(ws: ClientConnection, command_id: str, name: str, **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "command", "id": command_id, "command": name, **fields}))
    answer = await frame(ws, answering(command_id))
    assert answer["type"] == "error", answer
    return answer


def sign_in(stack: Stack, identity: str) -> dict[str, Any]:
    with httpx.Client(base_url=stack.url) as http:
        response = http.post("/v1/Desk/DevSignIn", json={"identity": identity})
    assert response.status_code == 201, response.text
    return dict(response.json())


def open_session(stack: Stack, name: str = "Ada", **pre_engagement: str) -> dict[str, Any]:
    with httpx.Client(base_url=stack.url) as http:
        response = http.post(
            "/v1/Webchat/Sessions",
            json={"flex_flow_sid": web_flow(stack), "friendly_name": name, "pre_engagement_data": pre_engagement},
        )
    assert response.status_code == 201, response.text
    return dict(response.json())


def agent_answers_after(
    stack: Stack,
    agent: str,
    customer_writes: Callable[[], None],
    reply: str,
    provider_reports: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """``customer_writes``, the agent accepts and answers ``reply``; the message statuses the
    agent sees until ``delivered`` or ``failed``. ``provider_reports`` runs once the provider
    took the message (the first status), as a provider's status webhooks would."""
    clear_the_floor(stack)
    token = sign_in(stack, agent)["token"]

    async def work() -> list[dict[str, Any]]:
        async with as_agent(stack, token) as desk:
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a0", "set_activity", activity="Available")
            await asyncio.to_thread(customer_writes)
            offered = await frame(desk, event("reservation.created"))
            await command(desk, "a1", "accept", reservation_sid=offered["data"]["reservation_sid"])
            sent = await command(desk, "a2", "send_message", channel_sid=offered["channel_sid"], body=reply, key="r")
            statuses = []
            while True:
                seen = await frame(desk, event("message.status", sid=sent["sid"]))
                statuses.append({**seen["data"], "index_sent": sent["index"]})
                if seen["data"]["status"] in ("delivered", "failed"):
                    return statuses
                if provider_reports is not None and len(statuses) == 1:
                    await asyncio.to_thread(provider_reports)

    return asyncio.run(work())


def agent_answers(stack: Stack, agent: str, to: str, customer: str, reply: str) -> list[dict[str, Any]]:
    """The customer texts (Twilio webhook), the agent accepts and answers; the message statuses
    the agent sees until ``delivered`` or ``failed``."""

    def customer_writes() -> None:
        with stack.http() as http:
            text(stack, http, to, customer, "Where is my parcel?")

    return agent_answers_after(stack, agent, customer_writes, reply)


def supervisor_worker(stack: Stack, identity: str, role: str = "supervisor") -> None:
    """A worker of the default workspace whose attributes grant ``role``, made over REST as an
    operator would (it signs in to the desk by name, development sign-in)."""
    workspace = plan_flex_defaults(stack.settings).defaults.workspace_sid
    attributes = {"contact_uri": f"client:{identity}", "roles": [role], "routing": {"skills": ["support"]}}
    stack.twilio().taskrouter.v1.workspaces(workspace).workers.create(
        friendly_name=identity, attributes=json.dumps(attributes)
    )


def supervisor_sign_in(stack: Stack, identity: str, role: str = "supervisor") -> dict[str, Any]:
    supervisor_worker(stack, identity, role)
    return sign_in(stack, identity)
