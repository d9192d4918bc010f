"""The workspace router under load, through TaskRouter's REST API: 150 tasks routed by a workflow to
skill-based FIFO and LIFO queues, ten workers of mixed skills and capacities whose agents (a
seeded random driver) accept, wrap up and complete, reject, ignore offers (which time out and put
the worker offline) and go offline and back. Afterwards the recorded events are replayed: every
task was assigned once and completed once, no worker held more tasks on a channel than its
capacity, no offer went to an unavailable worker, going unavailable rescinded pending offers, and
each queue offered its tasks in its order."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from tests.helpers.stack import Stack

SEED = 20240611
TASKS = 150
# Seconds a worker has to answer an offer; ignored offers time out and the worker goes Offline.
# Long enough that an agent answering on a slow, loaded machine is not timed out by accident (a
# storm of such timeouts makes the run about the machine rather than the router).
RESERVATION_TIMEOUT = 5
# Generous: the run normally ends well before; never asserted on.
RUN_DEADLINE = 240.0
POLL_INTERVAL = 0.2
CREATE_CONCURRENCY = 4
CHANGES_IN_FLIGHT = 8
HIGH_PRIORITY = 10

# (friendly name, routing.skills, capacity on the chat channel); every worker keeps the default
# capacity 1 on the sms channel.
WORKERS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("ann", ("billing",), 3),
    ("bob", ("billing",), 1),
    ("cat", ("billing", "sales"), 2),
    ("dan", ("billing", "sales"), 1),
    ("eve", ("sales",), 2),
    ("fay", ("sales",), 1),
    ("gus", ("sales", "billing"), 3),
    ("hal", (), 2),
    ("ivy", (), 1),
    ("jon", ("billing",), 2),
)
# Events that end a reservation without assigning its task.
DECLINES = ("reservation.rejected", "reservation.timeout", "reservation.rescinded", "reservation.canceled")


@dataclass
class Setup:
    workspace_sid: str
    workflow_sid: str
    available_sid: str
    offline_sid: str
    # Queue SID -> task order (FIFO or LIFO).
    queue_order: dict[str, str]
    # Worker SID -> task channel unique name -> capacity.
    capacity: dict[str, dict[str, int]]


def configure(stack: Stack) -> Setup:
    """A workspace configured through the official client: three queues over the workers'
    skills, a workflow routing by the task's department, ten workers (Offline until the tasks are
    in) with their channel capacities."""
    taskrouter = stack.twilio().taskrouter.v1
    ws = taskrouter.workspaces.create(friendly_name=f"load {uuid.uuid4().hex[:8]}")
    workspace = taskrouter.workspaces(ws.sid)
    activities = {a.friendly_name: a.sid for a in workspace.activities.list()}
    assert ws.timeout_activity_sid == activities["Offline"]
    billing = workspace.task_queues.create(
        friendly_name="Billing", target_workers='routing.skills HAS "billing"', task_order="FIFO"
    )
    sales = workspace.task_queues.create(
        friendly_name="Sales", target_workers='routing.skills HAS "sales"', task_order="LIFO"
    )
    general = workspace.task_queues.create(friendly_name="General", target_workers="1==1", task_order="FIFO")
    configuration = {
        "task_routing": {
            "filters": [
                {
                    "filter_friendly_name": "billing",
                    "expression": 'department == "billing"',
                    "targets": [{"queue": billing.sid}],
                },
                {
                    "filter_friendly_name": "sales",
                    "expression": 'department == "sales"',
                    "targets": [{"queue": sales.sid}],
                },
            ],
            "default_filter": {"queue": general.sid},
        }
    }
    flow = workspace.workflows.create(
        friendly_name="By department",
        configuration=json.dumps(configuration),
        task_reservation_timeout=RESERVATION_TIMEOUT,
    )
    capacity: dict[str, dict[str, int]] = {}
    for name, skills, chat_capacity in WORKERS:
        worker = workspace.workers.create(
            friendly_name=name,
            attributes=json.dumps({"routing": {"skills": list(skills)}}),
            activity_sid=activities["Offline"],
        )
        channel = workspace.workers(worker.sid).worker_channels("chat").update(capacity=chat_capacity)
        assert channel.configured_capacity == chat_capacity
        capacity[worker.sid] = {"chat": chat_capacity, "sms": 1}
    return Setup(
        workspace_sid=ws.sid,
        workflow_sid=flow.sid,
        available_sid=activities["Available"],
        offline_sid=activities["Offline"],
        queue_order={billing.sid: "FIFO", sales.sid: "LIFO", general.sid: "FIFO"},
        capacity=capacity,
    )


# --- the driver ------------------------------------------------------------------------------


@dataclass
class Run:
    """What the driver did and saw, shared by its agents."""

    setup: Setup
    http: httpx.AsyncClient
    created: list[str] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)
    # Tasks an agent turned down on purpose (rejected or ignored): at most once per task, so that
    # every task keeps workers who will take it.
    declined: set[str] = field(default_factory=set)
    actions: Counter[str] = field(default_factory=Counter)
    # Answers the API should not have given.
    errors: list[str] = field(default_factory=list)
    all_completed: asyncio.Event = field(default_factory=asyncio.Event)
    # Changes in flight at once: every change is an update of the workspace's router, and Temporal
    # turns away more than 10 in flight to one workflow (see test_a_burst_of_changes_is_never_a_server_error):
    # the driver stays under that, as a well-behaved client of a busy router would.
    changing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CHANGES_IN_FLIGHT))

    @property
    def base(self) -> str:
        return f"/v1/Workspaces/{self.setup.workspace_sid}"

    async def post(self, path: str, data: dict[str, str], *expected: int) -> httpx.Response:
        async with self.changing:
            response = await self.http.post(self.base + path, data=data)
        if response.status_code not in (expected or (200,)):
            self.errors.append(f"POST {path} {data} -> {response.status_code} {response.text}")
        return response

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        response = await self.http.get(self.base + path, params=params)
        if response.status_code != 200:
            self.errors.append(f"GET {path} -> {response.status_code} {response.text}")
            return {}
        body: dict[str, Any] = response.json()
        return body


class Agent:
    """One worker's agent: polls its pending reservations and answers each at random."""

    def __init__(self, run: Run, worker_sid: str, rng: random.Random) -> None:
        self.run = run
        self.sid = worker_sid
        self.rng = rng
        self.seen: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        # Set while the agent itself has the worker offline, or is bringing it back.
        self.away = False

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def loop(self, stop: asyncio.Event) -> None:
        ticks = 0
        while not stop.is_set():
            page = await self.run.get(f"/Workers/{self.sid}/Reservations", ReservationStatus="pending")
            for reservation in page.get("reservations", []):
                if reservation["sid"] not in self.seen:
                    self.seen.add(reservation["sid"])
                    self.spawn(self.answer(reservation["sid"], reservation["task_sid"]))
            ticks += 1
            if ticks % 3 == 0 and not self.away:
                worker = await self.run.get(f"/Workers/{self.sid}")
                if worker and not worker["available"]:
                    # An offer timed out: the worker went to the timeout activity.
                    self.away = True
                    self.spawn(self.come_back(self.rng.uniform(0.2, 0.6)))
            await asyncio.sleep(POLL_INTERVAL)
        if self.tasks:
            await asyncio.gather(*self.tasks)

    async def set_activity(self, activity_sid: str) -> None:
        await self.run.post(f"/Workers/{self.sid}", {"ActivitySid": activity_sid})

    async def come_back(self, after: float) -> None:
        await asyncio.sleep(after)
        await self.set_activity(self.run.setup.available_sid)
        self.away = False

    def reservation_path(self, reservation_sid: str, task_sid: str) -> str:
        # Reservations answer under their worker and under their task alike.
        if self.rng.random() < 0.5:
            return f"/Workers/{self.sid}/Reservations/{reservation_sid}"
        return f"/Tasks/{task_sid}/Reservations/{reservation_sid}"

    async def answer(self, reservation_sid: str, task_sid: str) -> None:
        run = self.run
        roll = self.rng.random()
        path = self.reservation_path(reservation_sid, task_sid)
        if task_sid not in run.declined and roll < 0.07:
            run.declined.add(task_sid)
            response = await run.post(path, {"ReservationStatus": "rejected"}, 200, 409)
            run.actions["rejected" if response.status_code == 200 else "reject refused"] += 1
            return
        if task_sid not in run.declined and roll < 0.13:
            run.declined.add(task_sid)
            run.actions["ignored"] += 1  # the offer times out; the loop brings the worker back
            return
        if roll < 0.17 and not self.away:
            # Offline and back: the pending offers are rescinded and go to someone else.
            self.away = True
            run.actions["went offline"] += 1
            await self.set_activity(run.setup.offline_sid)
            await self.come_back(self.rng.uniform(0.2, 0.6))
            return
        response = await run.post(path, {"ReservationStatus": "accepted"}, 200, 409)
        if response.status_code == 409:
            # Rescinded or timed out meanwhile: the task goes to someone else.
            run.actions["accept refused"] += 1
            return
        run.actions["accepted"] += 1
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))  # long enough for tasks to queue up
        if self.rng.random() < 0.3:
            await run.post(path, {"ReservationStatus": "wrapping"})
            run.actions["wrapped up"] += 1
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))
        if self.rng.random() < 0.5:
            response = await run.post(path, {"ReservationStatus": "completed"})
        else:
            response = await run.post(f"/Tasks/{task_sid}", {"AssignmentStatus": "completed", "Reason": "done"})
        if response.status_code == 200:
            run.completed.add(task_sid)
            if len(run.completed) == TASKS:
                run.all_completed.set()


async def create_tasks(run: Run, rng: random.Random) -> None:
    limit = asyncio.Semaphore(CREATE_CONCURRENCY)
    specs = [
        (
            rng.choices(["billing", "sales", "other"], weights=[40, 35, 25])[0],
            "sms" if rng.random() < 0.15 else "chat",
            HIGH_PRIORITY if rng.random() < 0.15 else 0,
        )
        for _ in range(TASKS)
    ]

    async def create(n: int, department: str, channel: str, priority: int) -> None:
        data = {
            "Attributes": json.dumps({"department": department, "n": n}),
            "WorkflowSid": run.setup.workflow_sid,
            "TaskChannel": channel,
            "Priority": str(priority),
        }
        async with limit:
            response = await run.post("/Tasks", data, 201)
        if response.status_code == 201:
            run.created.append(response.json()["sid"])

    await asyncio.gather(*(create(n, *spec) for n, spec in enumerate(specs)))


async def drive(stack: Stack, setup: Setup) -> Run:
    auth = (stack.settings.account_sid, stack.settings.auth_token)
    limits = httpx.Limits(max_connections=40, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=stack.url, auth=auth, timeout=60, limits=limits) as http:
        run = Run(setup, http)
        stop = asyncio.Event()
        agents = [Agent(run, sid, random.Random(SEED + i)) for i, sid in enumerate(setup.capacity)]
        loops: list[Awaitable[None]] = []

        async def create_then_work() -> None:
            # Every task waits in its queue before any worker comes on, however fast or slow the
            # machine: each queue's order is then really put to the test.
            await create_tasks(run, random.Random(SEED))
            await asyncio.gather(*(agent.set_activity(setup.available_sid) for agent in agents))
            loops.extend(asyncio.create_task(agent.loop(stop)) for agent in agents)
            await run.all_completed.wait()

        try:
            await asyncio.wait_for(create_then_work(), RUN_DEADLINE)
        except TimeoutError:
            run.errors.append(f"only {len(run.completed)} of {TASKS} tasks completed in {RUN_DEADLINE} s")
        stop.set()
        await asyncio.gather(*loops)
        return run


# --- replaying the events --------------------------------------------------------------------


@dataclass
class Replay:
    """The events, oldest first, replayed from scratch: nothing here comes from the router."""

    setup: Setup
    problems: list[str] = field(default_factory=list)
    available: dict[str, bool] = field(default_factory=dict)
    # Worker -> its pending reservations; reservation -> (task, worker, status).
    pending: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    reservations: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    # Task -> (worker, channel) holding it; (worker, channel) -> tasks held.
    holder: dict[str, tuple[str, str]] = field(default_factory=dict)
    held: Counter[tuple[str, str]] = field(default_factory=Counter)
    most_held: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Reservations that must be rescinded next: their worker became unavailable.
    to_rescind: set[str] = field(default_factory=set)
    # Task -> (queue, priority, channel) when it first entered a queue, and the event indexes.
    group: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)
    first_offer: dict[str, int] = field(default_factory=dict)
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def problem(self, index: int, event: Any, text: str) -> None:
        self.problems.append(f"event {index} {event.event_type} ({event.sid}): {text}")

    def play(self, index: int, event: Any) -> None:
        kind: str = event.event_type
        data: dict[str, Any] = event.event_data
        task: str = data.get("task_sid") or ""
        worker: str = data.get("worker_sid") or ""
        reservation: str = data.get("reservation_sid") or ""
        if task:
            self.counts[task][kind] += 1
        if reservation in self.to_rescind and kind.startswith("reservation.") and kind != "reservation.rescinded":
            self.problem(index, event, f"{reservation}'s worker went unavailable: it should have been rescinded")
        if kind == "task-queue.entered" and task not in self.entered:
            self.entered[task] = index
            self.group[task] = (data["task_queue_sid"], int(data["task_priority"]), data["task_channel_unique_name"])
        elif kind == "reservation.created":
            self.offer(index, event, task, worker, reservation, data["task_channel_unique_name"])
        elif kind in ("reservation.accepted", *DECLINES):
            self.answer(index, event, task, reservation, kind)
        elif kind in ("task.wrapup", "task.completed", "task.canceled"):
            status = self.reservations.get(reservation, ("", "", ""))[2]
            if kind != "task.canceled" and status != "accepted":
                self.problem(index, event, f"task {task} ended or wrapped up without an accepted reservation")
            if kind != "task.wrapup" and task in self.holder:
                self.held[self.holder.pop(task)] -= 1
        elif kind == "worker.activity.update":
            self.available[worker] = bool(data["worker_available"])
            if not self.available[worker]:
                self.to_rescind |= self.pending[worker]

    def offer(self, index: int, event: Any, task: str, worker: str, reservation: str, channel: str) -> None:
        if not self.available.get(worker, True):
            self.problem(index, event, f"offered {task} to unavailable worker {worker}")
        if task in self.holder:
            self.problem(index, event, f"offered {task}, which {self.holder[task][0]} holds")
        self.first_offer.setdefault(task, index)
        self.reservations[reservation] = (task, worker, "pending")
        self.pending[worker].add(reservation)
        self.holder[task] = (worker, channel)
        self.held[worker, channel] += 1
        self.most_held[worker, channel] = max(self.most_held[worker, channel], self.held[worker, channel])
        capacity = self.setup.capacity[worker][channel]
        if self.held[worker, channel] > capacity:
            self.problem(
                index, event, f"{worker} holds {self.held[worker, channel]} {channel} tasks (capacity {capacity})"
            )

    def answer(self, index: int, event: Any, task: str, reservation: str, kind: str) -> None:
        known = self.reservations.get(reservation)
        if known is None or known[2] != "pending":
            self.problem(index, event, f"{reservation} answered while {known[2] if known else 'unknown'}")
            return
        worker = known[1]
        self.pending[worker].discard(reservation)
        self.to_rescind.discard(reservation)
        self.reservations[reservation] = (task, worker, kind.removeprefix("reservation."))
        if kind in DECLINES and self.holder.get(task, ("", ""))[0] == worker:
            self.held[self.holder.pop(task)] -= 1

    def order_problems(self) -> tuple[int, list[str]]:
        """Within a queue, among tasks of one priority and channel (so the same workers could take
        them), first offers follow the queue's order: FIFO never offers a later task while an
        earlier one waits, LIFO never an earlier one while a later one waits. Returns how many
        pairs of such tasks waited at once (the queue's order decided between them) and the
        problems found."""
        groups: dict[tuple[str, int, str], list[str]] = defaultdict(list)
        for task, key in self.group.items():
            groups[key].append(task)
        contended, problems = 0, []
        for (queue, priority, channel), tasks in groups.items():
            order = self.setup.queue_order[queue]
            tasks.sort(key=lambda t: self.entered[t])
            for i, earlier in enumerate(tasks):
                for later in tasks[i + 1 :]:
                    first, second = self.first_offer.get(earlier), self.first_offer.get(later)
                    if first is None or second is None or min(first, second) < self.entered[later]:
                        continue  # one was offered before the other entered
                    contended += 1
                    if (order == "FIFO") != (first < second):
                        offered, waiting = (later, earlier) if order == "FIFO" else (earlier, later)
                        problems.append(
                            f"{order} {queue} p{priority} {channel}: {offered} offered while {waiting} waited"
                        )
        return contended, problems


def events_oldest_first(stack: Stack, workspace_sid: str) -> list[Any]:
    events = stack.twilio().taskrouter.v1.workspaces(workspace_sid).events.list(page_size=1000)
    return list(reversed(events))


def test_a_hundred_and_fifty_tasks_ten_workers(stack: Stack) -> None:
    setup = configure(stack)
    run = asyncio.run(drive(stack, setup))
    assert run.errors == [], "\n".join(run.errors[:20])
    assert len(run.created) == TASKS and len(run.completed) == TASKS
    # The driver did what the run is about (the rolls are seeded; enough offers make each likely).
    for action in ("accepted", "rejected", "ignored", "went offline", "wrapped up"):
        assert run.actions[action] > 0, run.actions

    workspace = stack.twilio().taskrouter.v1.workspaces(setup.workspace_sid)
    tasks = workspace.tasks.list(page_size=1000)
    assert len(tasks) == TASKS and {t.assignment_status for t in tasks} == {"completed"}

    events = events_oldest_first(stack, setup.workspace_sid)
    replay = Replay(setup)
    for index, event in enumerate(events):
        replay.play(index, event)
    assert replay.problems == [], "\n".join(replay.problems[:20])

    kinds = Counter(e.event_type for e in events)
    for kind in ("reservation.rejected", "reservation.timeout", "reservation.rescinded", "task.wrapup"):
        assert kinds[kind] > 0, kinds
    for task in run.created:
        counts = replay.counts[task]
        assert (counts["task.created"], counts["reservation.accepted"], counts["task.completed"]) == (1, 1, 1), (
            task,
            counts,
        )
        assert counts["task.canceled"] == 0, (task, counts)
    # Everything was released in the end, and some workers did hold up to their capacity.
    assert {held: n for held, n in replay.held.items() if n} == {}, replay.held
    assert not any(replay.pending.values())
    assert any(replay.most_held[w, "chat"] == c["chat"] > 1 for w, c in setup.capacity.items()), replay.most_held

    contended, problems = replay.order_problems()
    assert contended > 100, contended  # tasks did queue up: the order was put to the test
    assert problems == [], f"{len(problems)} of {contended} pairs out of order:\n" + "\n".join(problems[:20])

    # The store agrees with the events: each reservation ended as its events say.
    final = {"accepted": "completed", "rejected": "rejected", "timeout": "timeout", "rescinded": "rescinded"}
    stored: set[str] = set()
    for worker_sid in setup.capacity:
        for reservation in workspace.workers(worker_sid).reservations.list(page_size=1000):
            stored.add(reservation.sid)
            task_sid, replayed_worker, status = replay.reservations[reservation.sid]
            assert (reservation.task_sid, reservation.worker_sid) == (task_sid, replayed_worker)
            assert reservation.reservation_status == final[status], (reservation.sid, status)
        channels = workspace.workers(worker_sid).worker_channels.list()
        assert {c.task_channel_unique_name: c.assigned_tasks for c in channels if c.assigned_tasks} == {}
    assert stored == set(replay.reservations)


# --- the replay itself ---------------------------------------------------------------------------


def fake_event(n: int, kind: str, task: str | None = None, worker: str | None = None, **data: Any) -> Any:
    """An event as the client lists it, enough for the replay."""
    event_data = {"task_sid": task, "worker_sid": worker, "task_channel_unique_name": "chat", "task_priority": 0}
    event_data.update(data)
    return SimpleNamespace(event_type=kind, sid=f"EV{n}", event_data=event_data)


def replayed(setup: Setup, *events: tuple[str, str | None, str | None, dict[str, Any]]) -> Replay:
    replay = Replay(setup)
    for index, (kind, task, worker, data) in enumerate(events):
        replay.play(index, fake_event(index, kind, task, worker, **data))
    return replay


def test_the_replay_finds_broken_routing() -> None:
    """The checks the load test makes from events, on events a broken router could record."""
    setup = Setup("WS1", "WW1", "WA1", "WA0", {"Qf": "FIFO", "Ql": "LIFO"}, {"W1": {"chat": 1}, "W2": {"chat": 2}})

    def offer(task: str, worker: str, reservation: str) -> tuple[str, str, str, dict[str, Any]]:
        return ("reservation.created", task, worker, {"reservation_sid": reservation})

    def enter(task: str, queue: str) -> tuple[str, str, None, dict[str, Any]]:
        return ("task-queue.entered", task, None, {"task_queue_sid": queue})

    def going(worker: str, available: bool) -> tuple[str, None, str, dict[str, Any]]:
        return ("worker.activity.update", None, worker, {"worker_available": available})

    fine = replayed(
        setup,
        enter("A", "Qf"),
        enter("B", "Qf"),
        offer("A", "W1", "R1"),
        going("W1", False),
        ("reservation.rescinded", "A", "W1", {"reservation_sid": "R1"}),
        offer("A", "W2", "R2"),
        offer("B", "W2", "R3"),
        ("reservation.accepted", "A", "W2", {"reservation_sid": "R2"}),
        ("task.completed", "A", "W2", {"reservation_sid": "R2"}),
    )
    assert fine.problems == [] and fine.order_problems() == (1, [])
    assert fine.held == Counter({("W2", "chat"): 1, ("W1", "chat"): 0})

    over = replayed(setup, offer("A", "W1", "R1"), offer("B", "W1", "R2"))
    assert over.problems == ["event 1 reservation.created (EV1): W1 holds 2 chat tasks (capacity 1)"]
    away = replayed(setup, going("W1", False), offer("A", "W1", "R1"))
    assert away.problems == ["event 1 reservation.created (EV1): offered A to unavailable worker W1"]
    kept = replayed(
        setup,
        offer("A", "W2", "R1"),
        going("W2", False),
        ("reservation.accepted", "A", "W2", {"reservation_sid": "R1"}),
    )
    assert kept.problems == [
        "event 2 reservation.accepted (EV2): R1's worker went unavailable: it should have been rescinded"
    ]
    twice = replayed(setup, offer("A", "W2", "R1"), offer("A", "W2", "R2"))
    assert twice.problems == ["event 1 reservation.created (EV1): offered A, which W2 holds"]
    unassigned = replayed(setup, offer("A", "W2", "R1"), ("task.completed", "A", "W2", {"reservation_sid": "R1"}))
    assert unassigned.problems == [
        "event 1 task.completed (EV1): task A ended or wrapped up without an accepted reservation"
    ]

    fifo = replayed(setup, enter("A", "Qf"), enter("B", "Qf"), offer("B", "W2", "R1"), offer("A", "W2", "R2"))
    assert fifo.order_problems() == (1, ["FIFO Qf p0 chat: B offered while A waited"])
    lifo = replayed(setup, enter("A", "Ql"), enter("B", "Ql"), offer("A", "W2", "R1"), offer("B", "W2", "R2"))
    assert lifo.order_problems() == (1, ["LIFO Ql p0 chat: A offered while B waited"])
    alone = replayed(setup, enter("A", "Ql"), offer("A", "W2", "R1"), enter("B", "Ql"), offer("B", "W2", "R2"))
    assert alone.order_problems() == (0, [])


# --- a burst of changes --------------------------------------------------------------------------


def test_a_burst_of_changes_is_never_a_server_error(stack: Stack) -> None:
    """Every REST change of a workspace is a Temporal update of its one router workflow, and
    Temporal admits at most 10 in-flight updates per workflow (``history.maxInFlightUpdates``);
    beyond that it refuses RESOURCE_EXHAUSTED. Here the router is slowed by holding the store's
    write lock (as a slow disk or a busy database would) while 16 tasks are created at once: each
    is created, or refused in Twilio's form for the client to retry (429 or 503), never a 500 (as
    it was: the SDK's own retries gave up after about 10 s and the RPCError went through)."""
    url = stack.settings.resolved_database_url
    assert url.startswith("sqlite+aiosqlite:///"), "the test holds SQLite's write lock: the stack runs on SQLite"
    taskrouter = stack.twilio().taskrouter.v1
    ws = taskrouter.workspaces.create(friendly_name=f"burst {uuid.uuid4().hex[:8]}")
    queue = taskrouter.workspaces(ws.sid).task_queues.create(friendly_name="Everyone", target_workers="1==1")
    routing = {"task_routing": {"filters": [], "default_filter": {"queue": queue.sid}}}
    flow = taskrouter.workspaces(ws.sid).workflows.create(friendly_name="Anyone", configuration=json.dumps(routing))

    async def burst() -> list[httpx.Response]:
        auth = (stack.settings.account_sid, stack.settings.auth_token)
        async with httpx.AsyncClient(base_url=stack.url, auth=auth, timeout=120) as http:
            data = {"Attributes": "{}", "WorkflowSid": flow.sid, "TaskChannel": "chat"}
            calls = [asyncio.create_task(http.post(f"/v1/Workspaces/{ws.sid}/Tasks", data=data)) for _ in range(16)]
            lock = sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None, timeout=30)
            try:
                lock.execute("BEGIN IMMEDIATE")
                # Until the first answer (a fixed API may refuse at once), or longer than the
                # SDK's retries last.
                await asyncio.wait(calls, timeout=15, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(burst())
    errors = [(r.status_code, r.text[:120]) for r in responses if r.status_code not in (201, 429, 503)]
    assert errors == [], errors
    for refused in (r for r in responses if r.status_code != 201):
        assert refused.json()["status"] == refused.status_code, refused.text
    created = {r.json()["sid"] for r in responses if r.status_code == 201}
    assert {t.sid for t in taskrouter.workspaces(ws.sid).tasks.list()} == created


pytestmark = pytest.mark.timeout(400)
