"""Long history benchmark: one long-lived channel holding M messages (default 10,000).

The channel is opened by one customer SMS through the signed webhook (a long-lived Flex Flow); the
other messages are then written through the channel workflow itself, as the webhook would, by
``deliver`` signals sent one after another (so their order is kept) straight to the workflow,
skipping the HTTP hop, ``--window`` (100) at a time: the benchmark waits for the channel to store
each window before sending the next. (Unpaced, hundreds of signals pile up on the one workflow and
an activation handling them all can overrun the SDK's 2 s deadlock timeout on a loaded machine.)
The workflow stores them in batches and continues as new every ``channel_run_message_budget``
(1000) stored messages. Then it times, each several times (median):
the agent socket's ``history`` command (limit 50), the REST first page
(``GET /v2/Services/{IS}/Channels/{CH}/Messages?PageSize=50``), the last page (``Order=desc``), and a
full export paging through every message with PageSize 1000 (the API's maximum). It prints the
workflow's run count (continue-as-new) and, as the raw baseline on the same server, the rate of M
signals sent one after another to one trivial workflow.

    python -m bench.long_history --messages 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlmodel import col, func, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker
from websockets.asyncio.client import connect

from bench.raw_workflow import RawChannel
from bench.webhook_throughput import bench_stack, drive_webhooks, setup_flow
from switchboard.settings import Settings
from switchboard.store.db import Database
from switchboard.store.models import Message
from switchboard.store.payload_codec import data_converter
from workflows.messages import InboundMessage

REPEATS = 5
EXPORT_PAGE_SIZE = 1000  # the most a page may hold (api.twilio_shape.paging)


async def fill_channel(db: Database, client: Client, channel_sid: str, messages: int, window: int) -> float:
    """Messages 1..M-1 as ``deliver`` signals in order, waiting for the channel to store each
    ``window`` of them before sending more; answers messages stored per second."""
    handle = client.get_workflow_handle(channel_sid)
    started = time.time()
    for i in range(1, messages):
        message = InboundMessage(key=f"bench:{uuid.uuid4().hex}", author="+16660000000", body=f"message {i}")
        await handle.signal("deliver", message)
        if i % window == 0 or i == messages - 1:
            await until_stored(db, channel_sid, i + 1)
    return (messages - 1) / (time.time() - started)


async def until_stored(db: Database, channel_sid: str, count: int, deadline: float = 300) -> None:
    limit = time.time() + deadline
    while True:
        if await stored_count(db, channel_sid) >= count:
            return
        if time.time() > limit:
            raise SystemExit(f"FAILED: the channel stored {await stored_count(db, channel_sid)} of {count} messages")
        await asyncio.sleep(0.1)


async def stored_count(db: Database, channel_sid: str) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).where(Message.channel_sid == channel_sid))).one())


async def opened_channel(db: Database, service_sid: str) -> str:
    """The channel the first message opened, once its first message is stored."""
    while True:
        async with db.session() as session:
            found = (await session.exec(select(Message.channel_sid).where(Message.service_sid == service_sid))).first()
        if found is not None:
            return found
        await asyncio.sleep(0.1)


async def check_history(db: Database, channel_sid: str, messages: int) -> None:
    """Every message stored once, at indexes 0..M-1, in the order sent."""
    async with db.session() as session:
        rows = (
            await session.exec(
                select(Message.index, Message.body_enc)
                .where(Message.channel_sid == channel_sid)
                .order_by(col(Message.index))
            )
        ).all()
    if [index for index, _ in rows] != list(range(messages)):
        raise SystemExit(f"FAILED: {len(rows)} rows stored for {messages} messages, or indexes with gaps")


async def median_seconds(call: Callable[[], Awaitable[Any]]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def admin_token(http: httpx.AsyncClient) -> str:
    """An admin's token on Flex's default workspace: it may read any channel's history."""
    workspaces = (await http.get("/v1/Workspaces")).json()["workspaces"]
    ws = next(w for w in workspaces if w["friendly_name"] == "Flex Task Assignment")["sid"]
    worker = (await http.post(f"/v1/Workspaces/{ws}/Workers", data={"FriendlyName": "bench"})).json()
    token = await http.post(
        "/v1/Tokens", data={"Identity": "bench", "WorkspaceSid": ws, "WorkerSid": worker["sid"], "Role": "admin"}
    )
    if token.status_code not in (200, 201):
        raise SystemExit(f"minting a token answered {token.status_code}: {token.text}")
    return str(token.json()["token"])


async def time_reads(
    url: str, settings: Settings, service_sid: str, channel_sid: str, messages: int
) -> dict[str, float]:
    figures: dict[str, float] = {}
    auth = (settings.account_sid, settings.auth_token)
    path = f"/v2/Services/{service_sid}/Channels/{channel_sid}/Messages"
    async with httpx.AsyncClient(base_url=url, auth=auth, timeout=120) as http:
        token = await admin_token(http)

        async def page(params: dict[str, str], first_index: int) -> None:
            response = await http.get(path, params=params)
            found = response.json()["messages"]
            if response.status_code != 200 or len(found) != 50 or found[0]["index"] != first_index:
                raise SystemExit(f"FAILED: {params} answered {response.status_code}: {response.text[:300]}")

        figures["rest_first"] = await median_seconds(lambda: page({"PageSize": "50"}, 0))
        figures["rest_last"] = await median_seconds(lambda: page({"PageSize": "50", "Order": "desc"}, messages - 1))

        async def export() -> None:
            indexes: list[int] = []
            next_url: str | None = f"{url}{path}?PageSize={EXPORT_PAGE_SIZE}"
            while next_url:
                body = (await http.get(next_url)).json()
                indexes += [m["index"] for m in body["messages"]]
                next_url = body["meta"]["next_page_url"]
            if indexes != list(range(messages)):
                raise SystemExit(f"FAILED: the export holds {len(indexes)} messages, not 0..{messages - 1} in order")

        figures["export"] = await median_seconds(export)

    ws_url = url.replace("http://", "ws://") + "/v1/agent/ws"
    async with connect(ws_url, subprotocols=["switchboard.agent.v1", f"access_token.{token}"]) as ws:  # type: ignore[list-item]
        commands = 0

        async def history() -> None:
            nonlocal commands
            commands += 1
            await ws.send(
                json.dumps(
                    {
                        "type": "command",
                        "id": str(commands),
                        "command": "history",
                        "channel_sid": channel_sid,
                        "limit": 50,
                    }
                )
            )
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("id") == str(commands):
                    break
            found = frame.get("data", {}).get("messages", [])
            if frame["type"] != "result" or len(found) != 50 or found[-1]["index"] != messages - 1:
                raise SystemExit(f"FAILED: the history command answered {str(frame)[:300]}")

        figures["socket"] = await median_seconds(history)
    return figures


async def count_runs(client: Client, workflow_id: str) -> tuple[int, int]:
    """The workflow's runs, and how many of them continued as new."""
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return len(runs), sum(w.status == WorkflowExecutionStatus.CONTINUED_AS_NEW for w in runs)


async def raw_signals(client: Client, messages: int) -> float:
    """Signals per second sent one after another to one trivial workflow, on the same server."""
    queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[RawChannel]):
        handle = await client.start_workflow(RawChannel.run, messages, id=f"raw-{queue}", task_queue=queue)
        started = time.time()
        for i in range(messages):
            await handle.signal(RawChannel.message, f"message {i}")
        await handle.result()
        return messages / (time.time() - started)


async def run(url: str, settings: Settings, messages: int, window: int) -> dict[str, Any]:
    db = Database(settings.resolved_database_url)
    client = await Client.connect(settings.temporal_address, data_converter=data_converter(settings))
    try:
        service_sid, to = await setup_flow(url, settings)
        await drive_webhooks(settings, url, to, 1, 1, 1)
        channel_sid = await opened_channel(db, service_sid)
        figures: dict[str, Any] = {"fill": await fill_channel(db, client, channel_sid, messages, window)}
        await check_history(db, channel_sid, messages)
        figures.update(await time_reads(url, settings, service_sid, channel_sid, messages))
    finally:
        await db.dispose()
    figures["runs"] = await count_runs(client, channel_sid)
    figures["budget"] = settings.channel_run_message_budget
    figures["raw"] = await raw_signals(client, messages)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000, help="messages in the channel (at least 50)")
    parser.add_argument(
        "--window", type=int, default=100, help="signals sent before waiting for the channel to store them"
    )
    parser.add_argument("--database-url", default="", help="Switchboard's store (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with bench_stack(args.database_url, in_process=False) as (settings, url):
        f = asyncio.run(run(url, settings, args.messages, args.window))
    runs, continued = f["runs"]
    print(f"Switchboard long history: one long-lived channel with {args.messages} messages")
    print(f"  machine              {os.cpu_count()} cores, {platform.platform()}, Python {sys.version.split()[0]}")
    print("  stack                API and worker processes, SQLite (WAL) store")
    print(
        f"  written              {f['fill']:8.1f} messages/s (deliver signals in order, {args.window} at a time,"
        " to stored)"
    )
    print(f"  workflow runs        {runs} ({continued} continue-as-new, budget {f['budget']} messages a run)")
    print(f"  agent socket history {1000 * f['socket']:8.1f} ms   (limit 50, newest page; median of {REPEATS})")
    print(f"  REST first page      {1000 * f['rest_first']:8.1f} ms   (PageSize=50)")
    print(f"  REST last page       {1000 * f['rest_last']:8.1f} ms   (PageSize=50, Order=desc)")
    print(
        f"  REST full export     {1000 * f['export']:8.1f} ms   ({args.messages} messages, PageSize={EXPORT_PAGE_SIZE},"
        f" {args.messages / f['export']:.0f} messages/s)"
    )
    print(f"  raw signals          {f['raw']:8.1f} /s   (one after another to one trivial workflow, same server)")
    print("  lost / duplicated    0 / 0, indexes 0..M-1 in send order")


if __name__ == "__main__":
    main()
