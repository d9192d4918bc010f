"""Desk presence end to end: an agent whose last desk (agent socket) has been gone for the grace
period goes Offline and its pending offer goes on to another agent, whether the desk closed or its
API replica died without a word (its lease runs out; with two real ``switchboard api`` replicas,
one SIGKILLed); a reload within the grace period, or a second desk still open (on the same replica
or another), keeps the agent Available with its offer; the operator chooses the activity."""

from __future__ import annotations

import asyncio
import copy
import signal
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from websockets.exceptions import ConnectionClosed

from switchboard.devstack import DevServer
from switchboard.store.db import Database
from switchboard.store.models import DeskConnection, utcnow
from tests.helpers.flows import long_lived_default_flow
from tests.helpers.messages import text
from tests.helpers.sockets import Desk, event, frame
from tests.helpers.stack import (
    REDIS_URL,
    Stack,
    StackFactory,
    clear_the_floor,
    eventually,
    free_port,
    healthy,
    new_phone,
    spawn,
    test_settings,
)
from workflows.routing.client import RoutingClient

# The store's tests: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store_backends

GRACE_SECONDS = 4.0


@pytest.fixture(scope="module")
def presence(make_stack: StackFactory) -> Stack:
    # A grace period a reconnect on loopback keeps well within; leases that run out soon.
    return make_stack(desk_disconnect_grace_seconds=GRACE_SECONDS, desk_presence_lease_seconds=2.0)


def worker_state(desk: Desk) -> tuple[str, bool]:
    worker = desk.workspace.workers(desk.worker.sid).fetch()
    return str(worker.activity_name), bool(worker.available)


def reservation_status(desk: Desk, task_sid: str, reservation_sid: str) -> str:
    return str(desk.workspace.tasks(task_sid).reservations(reservation_sid).fetch().reservation_status)


def set_activity(desk: Desk, name: str) -> None:
    activity = next(a.sid for a in desk.workspace.activities.list() if a.friendly_name == name)
    desk.workspace.workers(desk.worker.sid).update(activity_sid=activity)


def desk_rows(stack: Stack, worker_sid: str) -> list[DeskConnection]:
    async def read() -> list[DeskConnection]:
        db = Database(stack.settings.resolved_database_url)
        try:
            async with db.session() as session:
                query = select(DeskConnection).where(DeskConnection.worker_sid == worker_sid)
                return list((await session.exec(query)).all())
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_a_closed_desk_goes_offline_and_its_offer_moves_on(presence: Stack) -> None:
    clear_the_floor(presence)
    alice, bob = Desk(presence, "alice-closes"), Desk(presence, "bob-takes-over")
    set_activity(bob, "Offline")
    with presence.http() as http:
        _, number = long_lived_default_flow(presence, http)

        async def close_with_an_offer() -> None:
            async with bob.connect() as other:
                await frame(other, lambda f: f["type"] == "ready")
                async with alice.connect() as ws:
                    await frame(ws, lambda f: f["type"] == "ready")
                    await asyncio.to_thread(text, presence, http, number, new_phone(), "hello")
                    offer = (await frame(ws, event("reservation.created")))["data"]
                    # Bob comes in while Alice holds the offer; then Alice closes her desk.
                    await asyncio.to_thread(set_activity, bob, "Available")
                moved = (await frame(other, event("reservation.created", task_sid=offer["task_sid"])))["data"]
                assert moved["reservation_sid"] != offer["reservation_sid"]
            status = reservation_status(alice, offer["task_sid"], offer["reservation_sid"])
            assert status == "rejected", status

        asyncio.run(close_with_an_offer())
    assert worker_state(alice) == ("Offline", False)


def test_a_reload_within_the_grace_period_keeps_the_agent_available(presence: Stack) -> None:
    clear_the_floor(presence)
    carol = Desk(presence, "carol-reloads")
    with presence.http() as http:
        _, number = long_lived_default_flow(presence, http)

        async def reload() -> tuple[str, str]:
            async with carol.connect() as ws:
                await frame(ws, lambda f: f["type"] == "ready")
                await asyncio.to_thread(text, presence, http, number, new_phone(), "hello")
                offer = (await frame(ws, event("reservation.created")))["data"]
            async with carol.connect() as ws:
                ready = await frame(ws, lambda f: f["type"] == "ready")
                assert [r["sid"] for r in ready["reservations"]] == [offer["reservation_sid"]]
                # The router has counted the closed desk out (it removes its row once the grace
                # period is over) while the new one is open.
                await asyncio.to_thread(eventually, lambda: assert_open_desks(presence, carol, 1))
                return str(offer["task_sid"]), str(offer["reservation_sid"])

        task_sid, reservation_sid = asyncio.run(reload())
    assert worker_state(carol) == ("Available", True)
    assert reservation_status(carol, task_sid, reservation_sid) == "pending"


def test_a_second_desk_still_open_keeps_the_agent_available(presence: Stack) -> None:
    clear_the_floor(presence)
    dan = Desk(presence, "dan-two-tabs")

    async def two_tabs() -> None:
        async with dan.connect() as kept:
            await frame(kept, lambda f: f["type"] == "ready")
            async with dan.connect() as closed:
                await frame(closed, lambda f: f["type"] == "ready")
                await asyncio.to_thread(eventually, lambda: assert_open_desks(presence, dan, 2))
            await asyncio.to_thread(eventually, lambda: assert_open_desks(presence, dan, 1))
            assert worker_state(dan) == ("Available", True)

    asyncio.run(two_tabs())


def test_a_desk_on_a_replica_that_died_goes_offline_when_its_lease_runs_out(presence: Stack) -> None:
    """A replica that dies closes nothing and tells no one: the desk row it left has a lease that
    runs out, and the router, which looks again when it would, counts the desk gone from then."""
    clear_the_floor(presence)
    erin = Desk(presence, "erin-replica-died")
    left = DeskConnection(
        id=uuid.uuid4().hex,
        workspace_sid=erin.worker.workspace_sid,
        worker_sid=erin.worker.sid,
        live_until=utcnow() + timedelta(seconds=2),
    )

    async def open_and_die(client: Any) -> None:
        db = Database(presence.settings.resolved_database_url)
        try:
            async with db.write_session() as session:
                session.add(left)
                await session.commit()
        finally:
            await db.dispose()
        # What the socket says when it opens; it will not say that it closed.
        await RoutingClient(client, presence.settings.task_queue).desk_changed(left.workspace_sid, closed=False)

    presence.call(open_and_die)
    eventually(lambda: assert_state(erin, ("Offline", False)))
    assert desk_rows(presence, erin.worker.sid) == []


def assert_open_desks(stack: Stack, desk: Desk, count: int) -> None:
    rows = desk_rows(stack, desk.worker.sid)
    assert len(rows) == count, rows


def assert_state(desk: Desk, expected: tuple[str, bool]) -> None:
    assert worker_state(desk) == expected


def test_the_operator_chooses_the_activity_an_agent_leaves_for(make_stack: StackFactory) -> None:
    on_break = make_stack(desk_disconnect_grace_seconds=1.0, desk_disconnect_activity="Break")
    clear_the_floor(on_break)
    fay = Desk(on_break, "fay-leaves")

    async def open_and_close() -> None:
        async with fay.connect() as ws:
            await frame(ws, lambda f: f["type"] == "ready")

    asyncio.run(open_and_close())
    eventually(lambda: assert_state(fay, ("Break", False)))


def test_desks_count_over_replicas_and_a_killed_replicas_desk_runs_out(
    temporal_server: DevServer, postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Two ``switchboard api`` replicas and a worker, as production runs them: the agent's desk on
    one replica keeps it Available when its desk on the other closes; when that replica is killed
    (SIGKILL: no close, no word to the router), its desk's lease runs out and the agent goes."""
    first = test_settings(
        tmp_path,
        temporal_address=temporal_server.address,
        database_url=postgres_url,
        redis_url=REDIS_URL,
        desk_disconnect_grace_seconds=2.0,
        desk_presence_lease_seconds=2.0,
    )
    second = first.model_copy(update={"api_port": free_port()})
    apis = [spawn("api", s.as_environment(), tmp_path / f"api{n}.log") for n, s in enumerate((first, second))]
    processes.extend([*apis, spawn("worker", first.as_environment(), tmp_path / "worker.log")])
    one, two = Stack(first), Stack(second)
    for replica in (one, two):
        eventually(lambda replica=replica: healthy(replica), timeout=90)  # type: ignore[misc]
    gil = Desk(one, "gil-on-two-replicas")
    on_two = copy.copy(gil)
    on_two.ws_url = two.url.replace("http://", "ws://") + "/v1/agent/ws"

    async def replica_killed() -> None:
        async with on_two.connect() as kept:
            await frame(kept, lambda f: f["type"] == "ready")
            async with gil.connect() as closed:
                await frame(closed, lambda f: f["type"] == "ready")
            # The router has counted the closed desk out; the one on the other replica holds.
            await asyncio.to_thread(eventually, lambda: assert_open_desks(one, gil, 1))
            assert await asyncio.to_thread(worker_state, gil) == ("Available", True)
            apis[1].kill()
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(30):
                    while True:
                        await kept.recv()

    asyncio.run(replica_killed())
    assert apis[1].wait(10) == -signal.SIGKILL
    eventually(lambda: assert_state(gil, ("Offline", False)))
    assert desk_rows(one, gil.worker.sid) == []
