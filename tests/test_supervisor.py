"""The supervisor view over the agent socket: a supervisor (a worker whose attributes carry
``"roles": ["supervisor"]``, signed in to the desk) subscribes with ``supervise`` and is pushed
the workspace's queues, agents and live conversations as they change (a customer writes, an
agent goes Available, accepts); it monitors a conversation read-only (history and live messages),
transfers another agent's task and changes another agent's activity. An agent is refused each of
these (403), and so is a supervisor of another workspace."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from api.deps import AppContext
from api.sockets import supervision
from switchboard.store.defaults import plan_flex_defaults
from tests.helpers.sockets import (
    answering,
    as_agent,
    as_customer,
    command,
    event,
    frame,
    open_session,
    refused,
    sign_in,
    supervisor_sign_in,
)
from tests.helpers.stack import Stack, StackFactory, clear_the_floor

# The board's wake-ups travel differently on each store (PostgreSQL's NOTIFY without Redis).
pytestmark = pytest.mark.store_backends

Frame = dict[str, Any]
# A stretch without commits, long enough for a poll of the board (once a second) to show.
QUIET_SECONDS = 3.0


class Board:
    """The supervisor's board as its desk keeps it: the ``supervise`` answer, with every pushed
    ``supervisor.update`` applied as frames go by (whichever wait reads them)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.rows: dict[str, dict[str, Any]] = {}
        self.updated: set[str] = set()  # the SIDs of the rows updates carried

    def start(self, snapshot: dict[str, Any]) -> None:
        self.rows = {section: dict(snapshot[section]) for section in ("queues", "agents", "conversations")}

    def seeing(self, wanted: Callable[[Frame], bool]) -> Callable[[Frame], bool]:
        def accepts(received: Frame) -> bool:
            if received.get("event") == "supervisor.update":
                for section, rows in received["data"].items():
                    for sid, row in rows.items() if section in self.rows else ():
                        self.updated.add(sid)
                        if row is None:
                            self.rows[section].pop(sid, None)
                        else:
                            self.rows[section][sid] = row
            return wanted(received)

        return accepts

    async def frame(self, wanted: Callable[[Frame], bool]) -> Frame:
        return await frame(self.ws, self.seeing(wanted))

    async def until(self, check: Callable[[dict[str, dict[str, Any]]], bool]) -> None:
        """Until the board shows ``check``: pushed, never asked for again."""
        while not check(self.rows):
            await self.frame(lambda f: f.get("event") == "supervisor.update")

    async def refused(self, command_id: str, name: str, **fields: Any) -> Frame:
        await self.ws.send(json.dumps({"type": "command", "id": command_id, "command": name, **fields}))
        answer = await self.frame(answering(command_id))
        assert answer["type"] == "error", answer
        return answer

    def conversation(self, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((row for row in self.rows["conversations"].values() if check(row)), None)


@pytest.fixture(scope="module")
def stack(make_stack: StackFactory) -> Stack:
    # No safety refresh within a test: every change on the board below is pushed by its wake-up.
    return make_stack(desk_dev_sign_in=True, channel_inactivity_seconds=600.0, supervisor_board_refresh_seconds=3600.0)


def test_dev_sign_in_takes_the_role_from_the_workers_attributes(stack: Stack) -> None:
    # A name the caller picks is an agent: the role is the worker's, set over REST by an operator.
    assert sign_in(stack, f"plain-{uuid.uuid4().hex[:6]}")["role"] == "agent"
    assert supervisor_sign_in(stack, f"sup-{uuid.uuid4().hex[:6]}")["role"] == "supervisor"
    assert supervisor_sign_in(stack, f"adm-{uuid.uuid4().hex[:6]}", role="admin")["role"] == "admin"


def test_a_supervisor_watches_monitors_transfers_and_moves_agents_live(stack: Stack) -> None:
    clear_the_floor(stack)
    lead = supervisor_sign_in(stack, "lead-lina")
    agent = sign_in(stack, "agent-arno")
    other = sign_in(stack, "agent-bea")
    outsider = other_workspace_supervisor(stack)
    customer = open_session(stack, "Cleo")
    channel_sid = customer["channel_sid"]

    async def work() -> None:
        async with (
            as_agent(stack, lead["token"]) as sup,
            as_agent(stack, agent["token"]) as desk,
            as_agent(stack, other["token"]) as bea,
            as_agent(stack, outsider) as stranger,
            as_customer(stack, customer["token"]) as chat,
        ):
            ready = await frame(sup, lambda f: f["type"] == "ready")
            assert ready["role"] == "supervisor"
            for ws in (desk, bea, stranger, chat):
                await frame(ws, lambda f: f["type"] == "ready")
            board = Board(sup)
            # The board as it stands: every queue, and the agents with their activity.
            board.start(await command(sup, "s1", "supervise"))
            arno, bea_sid = agent["worker_sid"], other["worker_sid"]
            assert board.rows["agents"][arno]["activity_name"] == "Offline"
            assert board.rows["queues"]

            # The agent goes Available: pushed, not asked for.
            await command(desk, "a1", "set_activity", activity="Available")
            await board.until(lambda b: b["agents"][arno]["activity_name"] == "Available")

            # A web customer writes: the queue counts a waiting task, the conversation is live.
            await command(chat, "c1", "send_message", body="Is the tent waterproof?", key="c1")
            await board.until(lambda b: board.conversation(lambda r: r["channel_sid"] == channel_sid) is not None)
            row = board.conversation(lambda r: r["channel_sid"] == channel_sid)
            assert row is not None and row["customer"] == "Cleo"
            task_sid, queue_sid = row["task_sid"], row["queue_sid"]
            offered = await frame(desk, event("reservation.created"))
            # The offer was pushed too: the task waits in its queue, where one agent is available.
            await board.until(lambda b: b["conversations"][task_sid]["status"] in ("pending", "reserved"))
            queue = board.rows["queues"][queue_sid]
            assert queue["waiting"] >= 1 and queue["total_available_workers"] >= 1, queue
            assert queue["longest_task_waiting_since"] is not None

            await command(desk, "a2", "accept", reservation_sid=offered["data"]["reservation_sid"])
            await board.until(
                lambda b: (
                    b["conversations"][task_sid]["status"] == "assigned"
                    and b["conversations"][task_sid]["worker_sid"] == arno
                    and b["agents"][arno]["conversations"] == 1
                    and b["agents"][arno]["channels"]["chat"]["assigned_tasks"] == 1
                    and b["queues"][queue_sid]["waiting"] == 0
                )
            )

            # Monitoring: the history, then the conversation's new messages as they arrive.
            watched = await command(sup, "s2", "monitor", channel_sid=channel_sid)
            assert watched["channel_sid"] == channel_sid
            history = await command(sup, "s3", "history", channel_sid=channel_sid)
            assert [m["body"] for m in history["messages"]] == ["Is the tent waterproof?"]
            await command(desk, "a3", "send_message", channel_sid=channel_sid, body="It is, to 3000 mm.", key="a3")
            heard = await board.frame(event("monitor.message", body="It is, to 3000 mm."))
            assert heard["channel_sid"] == channel_sid and heard["data"]["from"] == "agent-arno"
            await command(chat, "c2", "send_message", body="Great, thanks", key="c2")
            await board.frame(event("monitor.message", body="Great, thanks"))
            # Read-only: the supervisor does not speak in another agent's conversation.
            said = await board.refused("s4", "send_message", channel_sid=channel_sid, body="hi", key="s4")
            assert said["code"] == 403

            # An agent is refused every supervisor command; so is another workspace's supervisor.
            for who, ws in (("agent", bea), ("outsider", stranger)):
                commands: list[tuple[str, dict[str, Any]]] = [
                    ("monitor", {"channel_sid": channel_sid}),
                    ("transfer", {"task_sid": task_sid, "to_queue_sid": queue_sid}),
                    ("set_activity", {"worker_sid": arno, "activity": "Offline"}),
                ]
                if who == "agent":
                    commands += [("supervise", {}), ("unmonitor", {"channel_sid": channel_sid})]
                for name, fields in commands:
                    answer = await refused(ws, f"{who}-{name}", name, **fields)
                    assert answer["code"] == 403, (who, name, answer)
            # The outsider's own board is its own workspace's: none of these agents.
            elsewhere = await command(stranger, "o1", "supervise")
            assert arno not in elsewhere["agents"] and task_sid not in elsewhere["conversations"]

            # The supervisor changes the agent's activity (Break keeps the conversation).
            moved = await command(sup, "s5", "set_activity", worker_sid=arno, activity="Break")
            assert moved["worker_sid"] == arno and moved["activity_name"] == "Break"
            await frame(desk, event("worker.activity.update"))
            await board.until(lambda b: b["agents"][arno]["activity_name"] == "Break")

            # ...and transfers the conversation to Bea, who is Available.
            await command(bea, "b1", "set_activity", activity="Available")
            handed = await command(sup, "s6", "transfer", task_sid=task_sid, to_worker_sid=bea_sid)
            assert handed["task_sid"] == task_sid and handed["new_task_sid"] != task_sid
            offer = await frame(bea, event("reservation.created"))
            assert offer["channel_sid"] == channel_sid
            await frame(desk, event("task.wrapup"))
            await board.until(
                lambda b: (
                    handed["new_task_sid"] in b["conversations"]
                    and b["conversations"][task_sid]["status"] == "wrapping"
                )
            )
            assert await command(sup, "s7", "unmonitor", channel_sid=channel_sid) == {"channel_sid": channel_sid}
            # Updates carry the rows that changed, never the others (the supervisor's own stayed).
            assert arno in board.updated and lead["worker_sid"] not in board.updated

    asyncio.run(work())


def test_a_quiet_workspace_costs_no_board_computations_and_a_commit_still_pushes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The board is computed when a commit wakes it (or at the slow safety refresh), never on a
    server-side poll: a watched workspace where nothing happens costs no computation, and an
    agent going Available still reaches the supervisor at once."""
    clear_the_floor(stack)
    workspace_sid = plan_flex_defaults(stack.settings).defaults.workspace_sid
    computed: list[str] = []
    read_board = supervision.read_board

    async def counted(context: AppContext, workspace: str) -> supervision.Board:
        computed.append(workspace)
        return await read_board(context, workspace)

    monkeypatch.setattr(supervision, "read_board", counted)
    lead = supervisor_sign_in(stack, f"lead-{uuid.uuid4().hex[:6]}")
    agent = sign_in(stack, f"agent-{uuid.uuid4().hex[:6]}")

    async def work() -> None:
        async with as_agent(stack, lead["token"]) as sup, as_agent(stack, agent["token"]) as desk:
            for ws in (sup, desk):
                await frame(ws, lambda f: f["type"] == "ready")
            board = Board(sup)
            board.start(await command(sup, "q1", "supervise"))
            # What the sign-ins and connections committed may still wake the board once.
            await asyncio.sleep(QUIET_SECONDS)
            before = computed.count(workspace_sid)
            await asyncio.sleep(QUIET_SECONDS)  # nothing is committed: nothing to compute
            assert computed.count(workspace_sid) == before, computed.count(workspace_sid) - before

            await command(desk, "a1", "set_activity", activity="Available")
            await board.until(lambda b: b["agents"][agent["worker_sid"]]["activity_name"] == "Available")
            assert computed.count(workspace_sid) > before

    asyncio.run(work())


def other_workspace_supervisor(stack: Stack) -> str:
    """A supervisor token for a worker of a workspace of its own (and no chat service)."""
    client = stack.twilio()
    workspace = client.taskrouter.v1.workspaces.create(friendly_name=f"elsewhere-{uuid.uuid4().hex[:6]}")
    attributes = {"roles": ["supervisor"], "routing": {"skills": []}}
    worker = client.taskrouter.v1.workspaces(workspace.sid).workers.create(
        friendly_name="lead-elsewhere", attributes=json.dumps(attributes)
    )
    with stack.http() as http:
        response = http.post(
            "/v1/Tokens",
            data={
                "Identity": "lead-elsewhere",
                "Role": "supervisor",
                "WorkspaceSid": workspace.sid,
                "WorkerSid": worker.sid,
            },
        )
    assert response.status_code == 201, response.text
    assert workspace.sid != plan_flex_defaults(stack.settings).defaults.workspace_sid
    return str(response.json()["token"])
