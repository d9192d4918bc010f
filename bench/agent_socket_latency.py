"""Webhook-to-agent-socket benchmark: customers' SMS reach an agent's WebSocket.

N customers each open a conversation (a task, offered to one agent on the socket, accepted by the
benchmark as it arrives), then send M messages each through the signed Twilio webhook. Prints the
sustained rate at which messages reach the agent's socket (first send to last message received),
then sends the same traffic again paced at half that rate and prints p50/p99 latency from just
before each webhook call to the message's event on the socket, and the raw signal-with-start rate
of the same Temporal server as a baseline.

    python -m bench.agent_socket_latency --customers 20 --messages 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from typing import Any

import httpx
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect

from bench.webhook_throughput import bench_stack, percentile, raw_signal_with_start
from switchboard.settings import Settings

NUMBER = "+15550008888"


class Agent:
    """The benchmark's agent: accepts every offer, records when each message event arrives."""

    def __init__(self, conversations: int) -> None:
        self.received: dict[str, float] = {}
        self.conversations = conversations
        self.joined = 0
        # Set once the agent works on every conversation: from then on it hears every message.
        self.working = asyncio.Event()

    async def listen(self, ws: ClientConnection) -> None:
        commands = 0
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") != "event":
                continue
            if frame["event"] == "reservation.created":
                commands += 1
                reservation = frame["data"]["reservation_sid"]
                await ws.send(
                    json.dumps(
                        {"type": "command", "id": str(commands), "command": "accept", "reservation_sid": reservation}
                    )
                )
            elif frame["event"] == "channel.joined":
                self.joined += 1
                if self.joined >= self.conversations:
                    self.working.set()
            elif frame["event"] == "message" and frame["data"].get("body"):
                self.received.setdefault(frame["data"]["body"], time.time())


async def setup(url: str, settings: Settings, capacity: int) -> str:
    """A worker on Flex's default workspace with room for every customer, a long-lived SMS Flex
    Flow whose task integration routes there; answers the worker's token."""
    async with httpx.AsyncClient(base_url=url, auth=(settings.account_sid, settings.auth_token), timeout=60) as http:
        workspaces = (await http.get("/v1/Workspaces")).json()["workspaces"]
        workspace = next(w for w in workspaces if w["friendly_name"] == "Flex Task Assignment")
        ws = workspace["sid"]
        activities = (await http.get(f"/v1/Workspaces/{ws}/Activities")).json()["activities"]
        available = next(a["sid"] for a in activities if a["friendly_name"] == "Available")
        worker = (
            await http.post(f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": "bench", "ActivitySid": available})
        ).json()
        await http.post(f"/v1/Workspaces/{ws}/Workers/{worker['sid']}/Channels/chat", data={"Capacity": str(capacity)})
        workflows = (await http.get(f"/v1/Workspaces/{ws}/Workflows")).json()["workflows"]
        service = (await http.post("/v2/Services", data={"FriendlyName": "bench"})).json()["sid"]
        flow = await http.post(
            "/v1/FlexFlows",
            data={
                "FriendlyName": "bench",
                "ChatServiceSid": service,
                "ChannelType": "sms",
                "ContactIdentity": NUMBER,
                "LongLived": "true",
                "IntegrationType": "task",
                "Integration.WorkspaceSid": ws,
                "Integration.WorkflowSid": workflows[0]["sid"],
                "Integration.Channel": "chat",
            },
        )
        if flow.status_code != 201:
            raise SystemExit(f"creating the Flex Flow answered {flow.status_code}: {flow.text}")
        token = await http.post(
            "/v1/Tokens", data={"Identity": "bench", "WorkspaceSid": ws, "WorkerSid": worker["sid"]}
        )
        return str(token.json()["token"])


async def send_all(
    url: str, settings: Settings, customers: int, messages: int, tag: str, interval: float
) -> dict[str, float]:
    """Each customer's messages in order, customers in parallel; a message every ``interval``
    seconds overall when pacing (0: as fast as the webhook answers). Answers send times by body."""
    validator = RequestValidator(settings.twilio_auth_token)
    webhook = f"{url}/webhooks/twilio/messaging"
    sent: dict[str, float] = {}
    started = time.time()

    async def customer(client: httpx.AsyncClient, number: int) -> None:
        sender = f"+1777{number:07d}"
        for i in range(messages):
            if interval:
                slot = started + (i * customers + number) * interval
                await asyncio.sleep(max(0.0, slot - time.time()))
            body = f"{tag} {number} {i}"
            params = {
                "From": sender,
                "To": NUMBER,
                "Body": body,
                "MessageSid": "SM" + uuid.uuid4().hex,
                "NumMedia": "0",
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(webhook, params)}
            sent[body] = time.time()
            response = await client.post(webhook, data=params, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"the webhook answered {response.status_code}: {response.text}")

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(customer(client, n) for n in range(customers)))
    return sent


async def until_received(agent: Agent, sent: dict[str, float], deadline: float = 300) -> list[float]:
    limit = time.time() + deadline
    while any(body not in agent.received for body in sent):
        if time.time() > limit:
            missing = sum(body not in agent.received for body in sent)
            raise SystemExit(f"{missing} messages never reached the agent's socket")
        await asyncio.sleep(0.05)
    return [agent.received[body] - at for body, at in sent.items()]


async def run(url: str, settings: Settings, customers: int, messages: int, light_rate: float = 0.0) -> dict[str, Any]:
    token = await setup(url, settings, capacity=min(customers, 50))
    agent = Agent(customers)
    ws_url = url.replace("http://", "ws://") + "/v1/agent/ws"
    async with connect(ws_url, subprotocols=["switchboard.agent.v1", f"access_token.{token}"]) as ws:  # type: ignore[list-item]
        listener = asyncio.create_task(agent.listen(ws))
        await send_all(url, settings, customers, 1, "hello", 0)
        await asyncio.wait_for(agent.working.wait(), 120)
        first = time.time()
        burst = await send_all(url, settings, customers, messages, "burst", 0)
        await until_received(agent, burst)
        sustained = len(burst) / (max(agent.received[b] for b in burst) - first)
        paced = await send_all(url, settings, customers, messages, "paced", 2 / sustained)
        latencies = await until_received(agent, paced)
        light: list[float] = []
        if light_rate:
            # The same traffic at a light rate: the path's own latency, with little queueing.
            light = await until_received(
                agent, await send_all(url, settings, customers, messages, "light", 1 / light_rate)
            )
        listener.cancel()
    raw = await raw_signal_with_start(settings, customers, messages, customers)
    return {
        "sustained": sustained,
        "paced_rate": sustained / 2,
        "latencies": latencies,
        "light": light,
        "raw": raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20, help="messages per customer and phase")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--in-process", action="store_true", help="API and worker in one process")
    parser.add_argument(
        "--light-rate", type=float, default=0.0, help="also measure latency at this many messages/s (e.g. 10)"
    )
    args = parser.parse_args()
    with bench_stack(args.database_url, in_process=args.in_process) as (settings, url):
        figures = asyncio.run(run(url, settings, args.customers, args.messages, args.light_rate))
    latencies = figures["latencies"]
    print(f"Switchboard webhook to agent socket: {args.customers} customers x {args.messages} messages per phase")
    print(f"  machine              {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    store = args.database_url.split("@")[-1] if args.database_url else "SQLite (WAL)"
    if os.environ.get("SWITCHBOARD_REDIS_URL"):
        wake_ups = "Redis"
    elif args.in_process:
        wake_ups = "none needed: the worker's commits wake the API's sockets on their shared loop"
    else:
        wake_ups = "PostgreSQL NOTIFY" if args.database_url.startswith("postgres") else "poll (200 ms)"
    print(f"  stack                {'one process' if args.in_process else 'API and worker processes'}, {store}")
    print(f"  wake-ups across processes {wake_ups}")
    print(f"  sustained            {figures['sustained']:8.1f} messages/s reach the agent's socket")
    print(f"  at half that load    {figures['paced_rate']:8.1f} messages/s:")
    print(
        f"    webhook-to-socket  p50 {1000 * percentile(latencies, 50):7.1f} ms   p99 {1000 * percentile(latencies, 99):7.1f} ms"
    )
    if figures["light"]:
        light = figures["light"]
        print(f"  at {args.light_rate:.1f} messages/s:")
        print(
            f"    webhook-to-socket  p50 {1000 * percentile(light, 50):7.1f} ms   p99 {1000 * percentile(light, 99):7.1f} ms"
        )
    print(f"  raw signal-with-start {figures['raw']:7.1f} /s   (same server, trivial workflow)")


if __name__ == "__main__":
    main()
