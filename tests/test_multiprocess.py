"""Switchboard as it runs in production, in processes: a Temporal dev server, PostgreSQL, Redis,
two `switchboard api` replicas and two `switchboard worker` processes. A customer on one replica
and an agent on the other converse; the agent's replica is killed with SIGKILL and the agent
resumes on the other one with no gap; a worker is killed under load and no message is lost or
duplicated."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from switchboard.devstack import DevServer
from tests.helpers.sockets import as_agent, as_customer, command, event, frame, open_session, sign_in
from tests.helpers.stack import REDIS_URL, Stack, eventually, free_port, healthy, spawn, test_settings


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["body"] for e in events if e.get("event") == "message"]


async def events_until(ws: Any, count: int, body_prefix: str) -> list[dict[str, Any]]:
    """The customer's messages starting with ``body_prefix`` as the agent receives them, until
    ``count`` arrived, with every event frame seen on the way (for sequence checks)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(120):
        while len([b for b in messages(seen) if b.startswith(body_prefix)]) < count:
            received = await frame(ws, lambda f: f["type"] == "event")
            seen.append(received)
    return seen


def test_replicas_and_workers_fail_without_losing_a_message(
    temporal_server: DevServer, postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    first = test_settings(
        tmp_path,
        temporal_address=temporal_server.address,
        database_url=postgres_url,
        redis_url=REDIS_URL,
        # The customer sends in bursts faster than any person types (the per-token limit is the
        # hostile-input tests' business).
        token_rate="1000/second",
        desk_dev_sign_in=True,
        channel_inactivity_seconds=600.0,
    )
    second = first.model_copy(update={"api_port": free_port()})
    apis = [spawn("api", s.as_environment(), tmp_path / f"api{n}.log") for n, s in enumerate((first, second))]
    workers = [spawn("worker", first.as_environment(), tmp_path / f"worker{n}.log") for n in range(2)]
    processes.extend([*apis, *workers])
    replica_1, replica_2 = Stack(first), Stack(second)
    for replica in (replica_1, replica_2):
        eventually(lambda replica=replica: healthy(replica), timeout=90)  # type: ignore[misc]

    agent = sign_in(replica_2, "vera")
    session = open_session(replica_1, "Walt")
    channel_sid = session["channel_sid"]
    per_burst = 20

    async def converse_across_replicas() -> int:
        async with as_agent(replica_2, agent["token"]) as desk, as_customer(replica_1, session["token"]) as chat:
            await frame(chat, lambda f: f["type"] == "ready")
            await frame(desk, lambda f: f["type"] == "ready")
            await command(desk, "a1", "set_activity", activity="Available")
            await command(chat, "c1", "send_message", body="Hello from replica 1", key="k-hello")
            offered = await frame(desk, event("reservation.created"))
            await command(desk, "a2", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await frame(desk, event("channel.joined", channel_sid=channel_sid))
            earlier = await command(desk, "a3", "history", channel_sid=channel_sid)
            assert [m["body"] for m in earlier["messages"]] == ["Hello from replica 1"]
            answer = await command(desk, "a4", "send_message", channel_sid=channel_sid, body="Hi from 2", key="d-1")
            reply = await frame(chat, event("message", sid=answer["sid"]))
            assert reply["data"]["from"] == "vera"
            await command(chat, "c2", "send_message", body="Thanks!", key="k-thanks")
            heard = await frame(desk, event("message", body="Thanks!"))
            assert heard["channel_sid"] == channel_sid
            return int(heard["sequence"])

    last_seen = asyncio.run(converse_across_replicas())

    async def agent_replica_killed(last: int) -> int:
        async with as_agent(replica_2, agent["token"]) as desk, as_customer(replica_1, session["token"]) as chat:
            await frame(desk, lambda f: f["type"] == "ready")
            apis[1].kill()  # SIGKILL: no goodbye to the sockets
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(30):
                    while True:
                        await desk.recv()
            await frame(chat, lambda f: f["type"] == "ready")
            for n in range(per_burst):
                await command(chat, f"k{n}", "send_message", body=f"gap-{n}", key=f"k-gap-{n}")
        # The agent comes back on the surviving replica, from the last sequence it saw.
        async with as_agent(replica_1, agent["token"], resume_after=last) as desk:
            ready = await frame(desk, lambda f: f["type"] == "ready")
            assert ready["sequence"] == last
            seen = await events_until(desk, per_burst, "gap-")
        sequences = [e["sequence"] for e in seen]
        assert sequences == sorted(set(sequences)) and sequences[0] > last
        assert [b for b in messages(seen) if b.startswith("gap-")] == [f"gap-{n}" for n in range(per_burst)]
        return int(sequences[-1])

    last_seen = asyncio.run(agent_replica_killed(last_seen))
    assert apis[1].wait(10) == -signal.SIGKILL

    async def worker_killed_under_load(last: int) -> None:
        async with (
            as_agent(replica_1, agent["token"], resume_after=last) as desk,
            as_customer(replica_1, session["token"]) as chat,
        ):
            await frame(desk, lambda f: f["type"] == "ready")
            await frame(chat, lambda f: f["type"] == "ready")
            for n in range(per_burst):
                await command(chat, f"w{n}", "send_message", body=f"load-{n}", key=f"k-load-{n}")
                if n == per_burst // 3:
                    workers[0].kill()  # SIGKILL, mid-load
            seen = await events_until(desk, per_burst, "load-")
        sequences = [e["sequence"] for e in seen]
        assert sequences == sorted(set(sequences))
        assert [b for b in messages(seen) if b.startswith("load-")] == [f"load-{n}" for n in range(per_burst)]

    asyncio.run(worker_killed_under_load(last_seen))
    assert workers[0].wait(10) == -signal.SIGKILL

    # The store agrees: every message once, in order.
    service = session["grants"]["chat"]["service_sid"]
    with replica_1.http() as http:
        stored = http.get(f"/v2/Services/{service}/Channels/{channel_sid}/Messages", params={"PageSize": "100"})
    bodies = [m["body"] for m in stored.json()["messages"]]
    assert bodies == [
        "Hello from replica 1",
        "Hi from 2",
        "Thanks!",
        *(f"gap-{n}" for n in range(per_burst)),
        *(f"load-{n}" for n in range(per_burst)),
    ]
