"""The supervisor view on the agent socket (``docs/agent-socket.md``): a workspace's board (its
queues, agents and live conversations) pushed to the supervisors watching it, and conversations
monitored read-only.

The board is computed once per workspace per API process, however many supervisors watch it,
and only when something changed: every commit that changes the workspace's tasks, reservations,
queues or workers wakes it (``store.fanout.workspace_key``, over Redis or PostgreSQL from other
processes); it waits ``BOARD_DEBOUNCE_SECONDS`` so that a burst of commits (a task, its
reservation, the worker's capacity) costs one computation, reads the board (the statistics'
queries: ``api.routing_state.queue_realtime``, as ``RealTimeStatistics`` reads them, per queue,
one query for the agents' conversations and one for the live tasks), and sends each supervisor
only the rows that changed. Without a wake-up it computes the board again only every
``supervisor_board_refresh_seconds`` (30 s), for what no commit signals (a TargetWorkers
expression reading the time); the waits growing are the desk's to count. While other processes'
commits cannot reach this one (no Redis or PostgreSQL subscription, or it is down, with the worker
elsewhere) it looks again at the feed poll interval (at least a second), as the feeds do.

A monitored conversation is read from the store when a message is stored in it
(``store.fanout.channel_key``): ``monitor.message`` events, not part of the agent's sequenced
feed (after a reconnect the desk asks ``history`` and ``monitor`` again)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy import func
from sqlmodel import col, select

from api.access import may_supervise
from api.deps import AppContext
from api.routing_state import WAITING_STATUSES, WorkerDirectory, queue_realtime
from api.sockets.session import CommandError, stored_message_data
from api.tokens import Grants
from api.twilio_shape import iso
from switchboard.store.contacts import worker_identity
from switchboard.store.fanout import FeedWaiters, channel_key, workspace_key
from switchboard.store.models import Channel, Message, Reservation, Task, TaskQueue, Worker, utcnow

BOARD_DEBOUNCE_SECONDS = 0.25
BOARD_REFRESH_FLOOR_SECONDS = 1.0
# What the board lists at most, and how many conversations one socket monitors at once.
MAX_CONVERSATIONS = 200
MAX_MONITORED = 10
MONITOR_BATCH = 100
LIVE_TASKS = ("pending", "reserved", "assigned", "wrapping")
HOLDING = ("accepted", "wrapping")
SECTIONS = ("queues", "agents", "conversations")

Board = dict[str, dict[str, dict[str, Any]]]
# What ends a send to a client that went away: the socket's own close then ends the subscriptions.
GONE = (WebSocketDisconnect, RuntimeError, OSError)

log = logging.getLogger(__name__)


def refuse_unless_supervisor(grants: Grants, workspace_sid: str, command: str) -> None:
    if not may_supervise(grants, workspace_sid):
        raise CommandError(403, f"{command}: only a supervisor or admin of workspace {workspace_sid} may")


async def supervised_task(context: AppContext, grants: Grants, workspace_sid: str, task_sid: str) -> None:
    """A supervisor transfers any task of its workspace; anyone else is refused (403)."""
    refuse_unless_supervisor(grants, workspace_sid, "transfer")
    async with context.db.session() as session:
        task = await session.get(Task, task_sid)
    if task is None or task.workspace_sid != workspace_sid:
        raise CommandError(403, f"task {task_sid} is not in workspace {workspace_sid}")


async def supervised_worker(context: AppContext, grants: Grants, workspace_sid: str, worker_sid: str) -> None:
    """A supervisor changes the activity of any worker of its workspace; anyone else is refused."""
    refuse_unless_supervisor(grants, workspace_sid, "set_activity")
    async with context.db.session() as session:
        worker = await session.get(Worker, worker_sid)
    if worker is None or worker.workspace_sid != workspace_sid:
        raise CommandError(403, f"worker {worker_sid} is not in workspace {workspace_sid}")


async def read_board(context: AppContext, workspace_sid: str) -> Board:
    """Every queue (waiting tasks, longest wait, agents available), every agent (activity,
    conversations, capacity used per task channel) and the live conversations, by SID."""
    cipher = context.cipher
    now = utcnow()
    async with context.db.session() as session:
        directory = await WorkerDirectory.load(context, session, workspace_sid)
        workers = (
            await session.exec(
                select(Worker).where(Worker.workspace_sid == workspace_sid).order_by(col(Worker.friendly_name))
            )
        ).all()
        queues = (
            await session.exec(
                select(TaskQueue).where(TaskQueue.workspace_sid == workspace_sid).order_by(col(TaskQueue.friendly_name))
            )
        ).all()
        realtime = [await queue_realtime(session, directory, workers, queue, None) for queue in queues]
        held = dict(
            (
                await session.exec(
                    select(Reservation.worker_sid, func.count())
                    .join(Task, col(Task.sid) == col(Reservation.task_sid))
                    .where(
                        Reservation.workspace_sid == workspace_sid,
                        col(Reservation.reservation_status).in_(HOLDING),
                        col(Task.assignment_status).in_(("assigned", "wrapping")),
                    )
                    .group_by(col(Reservation.worker_sid))
                )
            ).all()
        )
        tasks = (
            await session.exec(
                select(Task)
                .where(Task.workspace_sid == workspace_sid, col(Task.assignment_status).in_(LIVE_TASKS))
                .order_by(col(Task.date_created), col(Task.sid))
                .limit(MAX_CONVERSATIONS)
            )
        ).all()
        holders = dict(
            (
                await session.exec(
                    select(Reservation.task_sid, Reservation.worker_sid).where(
                        col(Reservation.task_sid).in_([t.sid for t in tasks]),
                        col(Reservation.reservation_status).in_(HOLDING),
                    )
                )
            ).all()
        )
    return {
        "queues": {queue.sid: queue_row(queue, figures, now) for queue, figures in zip(queues, realtime, strict=True)},
        "agents": {
            w.sid: {
                "sid": w.sid,
                "friendly_name": w.friendly_name,
                "identity": worker_identity(
                    w.friendly_name, json.loads(cipher.decrypt(w.attributes_enc, "worker.attributes"))
                ),
                "activity_sid": w.activity_sid,
                "activity_name": w.activity_name,
                "available": w.available,
                "conversations": held.get(w.sid, 0),
                "channels": directory.fields(w)["channel"],
            }
            for w in workers
        },
        "conversations": {t.sid: conversation_row(context, t, holders.get(t.sid)) for t in tasks},
    }


def queue_row(queue: TaskQueue, figures: dict[str, Any], now: Any) -> dict[str, Any]:
    by_status = figures["tasks_by_status"]
    oldest = figures["longest_task_waiting_sid"]
    since = now - timedelta(seconds=figures["longest_task_waiting_age"])
    return {
        "sid": queue.sid,
        "friendly_name": queue.friendly_name,
        "waiting": sum(by_status.get(status, 0) for status in WAITING_STATUSES),
        "assigned": by_status.get("assigned", 0),
        "wrapping": by_status.get("wrapping", 0),
        "longest_task_waiting_sid": oldest,
        # The desk counts the wait up from here itself: the board changes only when tasks do.
        "longest_task_waiting_since": iso(since.replace(microsecond=0)) if oldest else None,
        "total_available_workers": figures["total_available_workers"],
        "total_eligible_workers": figures["total_eligible_workers"],
    }


def conversation_row(context: AppContext, task: Task, worker_sid: str | None) -> dict[str, Any]:
    attributes = json.loads(context.cipher.decrypt(task.attributes_enc, "task.attributes"))
    attributes = attributes if isinstance(attributes, dict) else {}
    customer = attributes.get("name") or attributes.get("from")
    return {
        "task_sid": task.sid,
        "channel_sid": task.channel_sid,
        "status": task.assignment_status,
        "queue_sid": task.task_queue_sid,
        "worker_sid": worker_sid,
        "customer": customer if isinstance(customer, str) else None,
        "channel_type": attributes.get("channelType") or task.task_channel_unique_name,
        "date_created": iso(task.date_created),
    }


def changes(before: Board, after: Board) -> Board:
    """The rows of ``after`` that differ from ``before``'s, and None for those gone."""
    delta: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        old, new = before.get(section, {}), after[section]
        changed: dict[str, Any] = {sid: row for sid, row in new.items() if old.get(sid) != row}
        changed.update({sid: None for sid in old if sid not in new})
        if changed:
            delta[section] = changed
    return delta


class WorkspaceBoard:
    """One workspace's board in this API process, shared by the supervisors watching it."""

    def __init__(self, context: AppContext, workspace_sid: str) -> None:
        self.context = context
        self.workspace_sid = workspace_sid
        self.current: Board | None = None
        self.watchers: set[asyncio.Queue[Board]] = set()
        self.runner: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def join(self) -> tuple[asyncio.Queue[Board], Board]:
        """A queue of the board's changes from now on, and the board they change."""
        async with self.lock:
            if self.current is None or self.runner is None:
                self.current = await read_board(self.context, self.workspace_sid)
            queue: asyncio.Queue[Board] = asyncio.Queue()
            # Read and joined without a pause: the next change is computed against this board.
            self.watchers.add(queue)
            if self.runner is None:
                self.runner = asyncio.create_task(self._run())
            return queue, self.current

    async def leave(self, queue: asyncio.Queue[Board]) -> None:
        self.watchers.discard(queue)
        if not self.watchers and self.runner is not None:
            runner, self.runner = self.runner, None
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def _run(self) -> None:
        feeds = self.context.feeds
        refresh = self.context.settings.supervisor_board_refresh_seconds
        with feeds.watch(workspace_key(self.workspace_sid)) as woken:
            while True:
                # Commits wake the board; a poll only while some commits cannot reach this process.
                wait = refresh if feeds.hears_every_commit else max(feeds.poll_seconds, BOARD_REFRESH_FLOOR_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), wait)
                await asyncio.sleep(BOARD_DEBOUNCE_SECONDS)  # one computation for a burst of commits
                woken.clear()
                try:
                    after = await read_board(self.context, self.workspace_sid)
                except Exception as exc:  # the store is away: look again at the next wake-up or poll
                    log.warning("workspace %s board not read: %s", self.workspace_sid, exc)
                    continue
                async with self.lock:
                    delta = changes(self.current or {}, after)
                    self.current = after
                    if delta:
                        for queue in self.watchers:
                            queue.put_nowait(delta)


# Each API process's boards, by workspace (keyed by the process's feed waiters).
_boards: weakref.WeakKeyDictionary[FeedWaiters, dict[str, WorkspaceBoard]] = weakref.WeakKeyDictionary()


def board_of(context: AppContext, workspace_sid: str) -> WorkspaceBoard:
    boards = _boards.setdefault(context.feeds, {})
    if workspace_sid not in boards:
        boards[workspace_sid] = WorkspaceBoard(context, workspace_sid)
    return boards[workspace_sid]


class Supervision:
    """One supervisor socket's subscriptions: the board, and the conversations it monitors."""

    def __init__(self, context: AppContext, websocket: WebSocket, workspace_sid: str) -> None:
        self.context = context
        self.websocket = websocket
        self.workspace_sid = workspace_sid
        self.board: tuple[asyncio.Queue[Board], asyncio.Task[None]] | None = None
        self.monitors: dict[str, asyncio.Task[None]] = {}

    async def supervise(self) -> dict[str, Any]:
        await self._stop_board()
        queue, board = await board_of(self.context, self.workspace_sid).join()
        self.board = queue, asyncio.create_task(self._forward(queue))
        return {"workspace_sid": self.workspace_sid, **board}

    async def _forward(self, queue: asyncio.Queue[Board]) -> None:
        with contextlib.suppress(*GONE):
            await self._send_changes(queue)

    async def _send_changes(self, queue: asyncio.Queue[Board]) -> None:
        while True:
            delta = await queue.get()
            await self.websocket.send_json(
                {
                    "type": "event",
                    "event": "supervisor.update",
                    "date": iso(utcnow()),
                    "data": {"workspace_sid": self.workspace_sid, **delta},
                }
            )

    async def monitor(self, channel_sid: str) -> dict[str, Any]:
        """Live messages of the channel from now on (the caller checked the supervisor may read it)."""
        if channel_sid not in self.monitors and len(self.monitors) >= MAX_MONITORED:
            raise CommandError(400, f"monitor: at most {MAX_MONITORED} conversations at once; unmonitor one first")
        async with self.context.db.session() as session:
            channel = await session.get(Channel, channel_sid)
        if channel is None:
            raise CommandError(404, f"channel {channel_sid} does not exist")
        self.unmonitor(channel_sid)
        self.monitors[channel_sid] = asyncio.create_task(self._watch(channel_sid, channel.last_message_index))
        return {"channel_sid": channel_sid, "last_message_index": channel.last_message_index}

    def unmonitor(self, channel_sid: str) -> dict[str, Any]:
        watching = self.monitors.pop(channel_sid, None)
        if watching is not None:
            watching.cancel()
        return {"channel_sid": channel_sid}

    async def _watch(self, channel_sid: str, last: int | None) -> None:
        with contextlib.suppress(*GONE):
            await self._send_messages(channel_sid, last)

    async def _send_messages(self, channel_sid: str, last: int | None) -> None:
        feeds = self.context.feeds
        after = -1 if last is None else last
        with feeds.watch(channel_key(channel_sid)) as woken:
            while True:
                woken.clear()
                async with self.context.db.session() as session:
                    rows: Sequence[Message] = (
                        await session.exec(
                            select(Message)
                            .where(Message.channel_sid == channel_sid, col(Message.index) > after)
                            .order_by(col(Message.index))
                            .limit(MONITOR_BATCH)
                        )
                    ).all()
                for row in rows:
                    await self.websocket.send_json(
                        {
                            "type": "event",
                            "event": "monitor.message",
                            "channel_sid": channel_sid,
                            "date": iso(row.date_created),
                            "data": stored_message_data(self.context, row),
                        }
                    )
                    after = row.index
                if len(rows) < MONITOR_BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), max(feeds.poll_seconds, BOARD_REFRESH_FLOOR_SECONDS))

    async def _stop_board(self) -> None:
        if self.board is None:
            return
        queue, forwarder = self.board
        self.board = None
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarder
        await board_of(self.context, self.workspace_sid).leave(queue)

    async def close(self) -> None:
        for channel_sid in list(self.monitors):
            self.unmonitor(channel_sid)
        await self._stop_board()
