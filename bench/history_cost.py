"""What one stored message costs Temporal: state transitions, history events, workflow tasks and
activities per message, read from the channel workflows' real histories.

N customers each text M messages through the signed Twilio webhook to a long-lived SMS Flex Flow
(optionally with an ``external`` integration posting each message to a loopback endpoint), one
after another per customer as people type (``--pace`` seconds apart: 0 sends the next as soon as
the webhook answered, which lets the workflow batch; a pause of a second or two is what a chat
looks like). Once every message is stored, each channel workflow is described
(``state_transition_count``, summed over its continue-as-new runs) and its history read, and the
totals are divided by the messages stored. A raw workflow taking the same messages as
signal-with-start is measured the same way as the floor.

    python -m bench.history_cost --channels 10 --messages 20 --pace 1 [--external]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker
from twilio.request_validator import RequestValidator

from bench.raw_workflow import RawChannel
from bench.webhook_throughput import bench_stack, integration_endpoint, setup_flow
from switchboard.settings import Settings
from switchboard.store.db import Database
from switchboard.store.models import Message
from switchboard.store.payload_codec import data_converter


@dataclass
class Cost:
    messages: int = 0
    transitions: int = 0
    events: int = 0
    workflow_tasks: int = 0
    activities: int = 0
    local_activities: int = 0
    runs: int = 0

    def add(self, other: Cost) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def line(self, label: str) -> str:
        per = max(self.messages, 1)
        return (
            f"  {label:<22} {self.transitions / per:6.2f} transitions  {self.events / per:6.2f} events  "
            f"{self.workflow_tasks / per:5.2f} workflow tasks  {self.activities / per:5.2f} activities  "
            f"{self.local_activities / per:5.2f} local activities  per message ({self.runs} runs)"
        )


async def workflow_cost(client: Client, workflow_id: str) -> Cost:
    """The cost of every run of ``workflow_id`` (a channel continues as new on its budget)."""
    cost = Cost()
    async for listed in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=listed.run_id)
        described = await handle.describe()
        cost.transitions += described.raw_description.workflow_execution_info.state_transition_count
        cost.runs += 1
        async for event in handle.fetch_history_events():
            cost.events += 1
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                cost.workflow_tasks += 1
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                cost.activities += 1
            elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
                cost.local_activities += 1
    return cost


async def send(settings: Settings, url: str, to: str, channels: int, messages: int, pace: float) -> None:
    validator = RequestValidator(settings.twilio_auth_token)
    webhook = f"{url}/webhooks/twilio/messaging"

    async def customer(http: httpx.AsyncClient, number: int) -> None:
        for i in range(messages):
            params = {
                "From": f"+1777{number:07d}",
                "To": to,
                "Body": f"message {i}",
                "MessageSid": "SM" + uuid.uuid4().hex,
                "NumMedia": "0",
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(webhook, params)}
            response = await http.post(webhook, data=params, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"webhook answered {response.status_code}: {response.text}")
            await asyncio.sleep(pace)

    async with httpx.AsyncClient(timeout=120) as http:
        await asyncio.gather(*(customer(http, n) for n in range(channels)))


async def stored_channels(db: Database, service_sid: str, total: int, deadline: float = 300) -> Counter[str]:
    """Messages stored per channel, once all ``total`` are."""
    limit = time.time() + deadline
    while True:
        async with db.session() as session:
            rows = (await session.exec(select(Message.channel_sid).where(Message.service_sid == service_sid))).all()
        if len(rows) >= total:
            return Counter(rows)
        if time.time() > limit:
            raise SystemExit(f"FAILED: {len(rows)} of {total} messages stored")
        await asyncio.sleep(0.2)


async def idle(client: Client, workflow_ids: list[str], quiet_seconds: float = 3.0) -> None:
    """Wait until the channels' histories stop growing (posts and timers after the last store)."""
    last: list[int] = []
    while True:
        lengths = []
        for workflow_id in workflow_ids:
            described = await client.get_workflow_handle(workflow_id).describe()
            lengths.append(described.raw_description.workflow_execution_info.history_length)
        if lengths == last:
            return
        last = lengths
        await asyncio.sleep(quiet_seconds)


async def raw_cost(client: Client, channels: int, messages: int) -> Cost:
    """The floor: a trivial workflow per channel taking the same messages by signal-with-start."""
    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    ids = [f"raw-{queue}-{n}" for n in range(channels)]
    async with Worker(client, task_queue=queue, workflows=[RawChannel]):
        for workflow_id in ids:
            for i in range(messages):
                await client.start_workflow(
                    RawChannel.run,
                    messages,
                    id=workflow_id,
                    task_queue=queue,
                    start_signal="message",
                    start_signal_args=[f"message {i}"],
                )
        for workflow_id in ids:
            await client.get_workflow_handle(workflow_id).result()
    total = Cost()
    for workflow_id in ids:
        total.add(await workflow_cost(client, workflow_id))
    total.messages = channels * messages
    return total


async def run(
    settings: Settings, url: str, channels: int, messages: int, pace: float, external: str | None
) -> tuple[Cost, Cost]:
    service_sid, to = await setup_flow(url, settings, external=external)
    await send(settings, url, to, channels, messages, pace)
    db = Database(settings.resolved_database_url)
    try:
        stored = await stored_channels(db, service_sid, channels * messages)
    finally:
        await db.dispose()
    client = await Client.connect(settings.temporal_address, data_converter=data_converter(settings))
    await idle(client, list(stored))
    total = Cost()
    for channel_sid, count in stored.items():
        cost = await workflow_cost(client, channel_sid)
        cost.messages = count
        total.add(cost)
    return total, await raw_cost(client, channels, messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20, help="messages per channel")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between one customer's messages")
    parser.add_argument("--external", action="store_true", help="an external integration posting every message")
    parser.add_argument("--database-url", default="", help="Switchboard's store (default: SQLite in a temp dir)")
    args = parser.parse_args()
    endpoint = integration_endpoint() if args.external else contextlib.nullcontext()
    with bench_stack(args.database_url, in_process=False) as (settings, url), endpoint as external:
        channel, raw = asyncio.run(run(settings, url, args.channels, args.messages, args.pace, external))
    print(f"Temporal cost per stored message: {args.channels} channels x {args.messages} messages")
    print(f"  machine                {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    print(f"  pace                   {args.pace} s between one customer's messages")
    print(f"  integration            {'external, loopback endpoint' if args.external else 'none'}")
    print(channel.line("channel workflows"))
    print(raw.line("raw signal-with-start"))


if __name__ == "__main__":
    main()
