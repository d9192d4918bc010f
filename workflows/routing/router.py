"""The workspace router: one entity workflow per TaskRouter workspace (id ``router-WS…``) that
owns routing state: live tasks, workers' availability and used capacity, pending reservations.

Being the single writer of that state makes TaskRouter's rules hold under any concurrency: a worker
is never offered more than its free capacity on a task channel; tasks are offered by priority,
then in their queue's order; a worker who frees capacity or becomes available is offered waiting
tasks at once; a reservation that times out or a worker going unavailable sends the task on to the
next worker; so does an agent whose last desk (agent socket) has been gone for the grace period
(``_sweep_desks``, reading ``store.desks``). Changes arrive as updates (answered once stored) and
signals; every change is written to the store, with its events, by one local activity; events are
posted to the workspace's ``event_callback_url`` in order, retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import activity_options, sids
from workflows.ordered_outbox import OrderedOutbox
from workflows.routing.expressions import Expression, ExpressionError, parse_expression
from workflows.routing.messages import (
    HANDED_OVER,
    ChannelNotice,
    DeskPresence,
    EventCallback,
    NewTask,
    ReservationChange,
    ReservationRow,
    RoutedTask,
    RoutedWorker,
    RouterInput,
    RoutingEvent,
    RoutingResult,
    RoutingSnapshot,
    RoutingWrite,
    TaskChange,
    TaskRow,
    Transfer,
    WorkerActivityChange,
    WorkerRow,
    WorkspaceConfig,
)

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities

# Changes a run makes before it continues as new, bounding its history.
RUN_CHANGE_BUDGET = 500
# Tasks in these states hold capacity of their worker.
HOLDING = ("reserved", "assigned", "wrapping")
# Runs from before desk presence never read desks (``workflow.patched``).
DESK_PRESENCE = "desk-presence"
# The soonest the router reads desks again after a read (a margin over the activity's clock).
DESK_SWEEP_MIN_SECONDS = 1.0

STORE_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
}


def refused(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


@workflow.defn
class WorkspaceRouter:
    @workflow.init
    def __init__(self, input: RouterInput) -> None:
        self.workspace_sid = input.workspace_sid
        self.snapshot: RoutingSnapshot | None = input.carried
        # Events for the workspace's callback URL, posted in order; unposted ones go along when
        # the run continues as new.
        self.outbox: OrderedOutbox[RoutingEvent] = OrderedOutbox(input.unsent_events)
        self.lock = asyncio.Lock()
        self.dirty = False
        self.refresh_requested = input.refresh
        self.changes = 0
        self.expressions: dict[str, Expression] = {}
        # Writes gathered while a change is applied, stored together.
        self.write = RoutingWrite(self.workspace_sid)
        # When to read which agents have a desk open next; and how many times a desk opened or
        # closed (a change during a read asks for another).
        self.desk_sweep_at: float | None = input.desk_sweep_at
        self.desk_changes = 0

    # --- handlers ---------------------------------------------------------------------------

    @workflow.signal
    def refresh(self) -> None:
        """Configuration, worker attributes or capacities changed in the store."""
        self.refresh_requested = True
        self.dirty = True

    @workflow.signal
    def desk_changed(self, closed: bool) -> None:
        """An agent's desk (socket) opened or closed. A closed one is looked at now (to be looked
        at again when the grace period is over); an opened one only needs the router to be
        watching desks at all (it looks again when its lease would run out)."""
        self.desk_changes += 1
        if closed or self.desk_sweep_at is None:
            self.desk_sweep_at = workflow.now().timestamp()
            self.dirty = True

    @workflow.update
    async def create_task(self, new: NewTask) -> RoutingResult:
        async with self.lock:
            return await self._create(new)

    @workflow.update
    async def change_task(self, change: TaskChange) -> RoutingResult:
        async with self.lock:
            state = await self._state()
            task = state.tasks.get(change.task_sid)
            if task is None:
                raise refused(f"task {change.task_sid} is not live in this workspace", "NotLive")
            if change.attributes is not None:
                task.attributes = json.loads(change.attributes)
            if change.priority is not None:
                task.priority = change.priority
            status = change.assignment_status
            if status == "canceled":
                self._end_task(task, "canceled", change.reason or "canceled", "task.canceled")
            elif status == "wrapping":
                if task.status != "assigned":
                    raise refused(f"task {task.sid} is {task.status}; only an assigned task wraps up", "Conflict")
                self._wrap(task, change.reason)
            elif status == "completed":
                if task.status not in ("assigned", "wrapping"):
                    raise refused(f"task {task.sid} is {task.status}; only an assigned task completes", "Conflict")
                self._end_task(task, "completed", change.reason or "completed", "task.completed")
            elif change.attributes is not None or change.priority is not None:
                self.write.tasks.append(self._row(task, attributes=change.attributes, priority=change.priority))
                self._event("task.updated", "Task updated", task)
            await self._flush()
            return RoutingResult(task_sid=task.sid)

    @workflow.update
    async def transfer_task(self, transfer: Transfer) -> RoutingResult:
        """A new task for the same conversation, pinned to a queue or a worker; the original
        task wraps up. The conversation's channel follows the new task first, so its interaction
        never ends in between (and no inactivity close can intervene)."""
        async with self.lock:
            state = await self._state()
            task = state.tasks.get(transfer.task_sid)
            if task is None or task.status != "assigned":
                raise refused(f"task {transfer.task_sid} is not assigned; only an assigned task transfers", "Conflict")
            if (transfer.to_queue_sid is None) == (transfer.to_worker_sid is None):
                raise refused("a transfer goes to a queue or to a worker", "Invalid")
            if transfer.to_queue_sid is not None and transfer.to_queue_sid not in state.config.queues:
                raise refused(f"queue {transfer.to_queue_sid} is not in workspace {self.workspace_sid}", "NotFound")
            if transfer.to_worker_sid is not None and transfer.to_worker_sid not in state.workers:
                raise refused(f"worker {transfer.to_worker_sid} is not in workspace {self.workspace_sid}", "NotFound")
            await self._create(
                NewTask(
                    transfer.new_task_sid,
                    task.workflow_sid,
                    task.task_channel,
                    json.dumps({**task.attributes, "transferredFrom": task.sid}),
                    task.priority,
                    task.timeout,
                    task.channel_sid,
                    only_worker=transfer.to_worker_sid,
                    queue_sid=transfer.to_queue_sid or task.queue_sid,
                )
            )
            if task.channel_sid:
                notice = ChannelNotice(task.channel_sid, transfer.new_task_sid, replaces_task_sid=task.sid)
                await workflow.execute_local_activity("follow_task", notice, **STORE_OPTIONS)
            self._wrap(task, HANDED_OVER)
            await self._flush()
            return RoutingResult(task_sid=transfer.new_task_sid)

    @workflow.update
    async def change_reservation(self, change: ReservationChange) -> RoutingResult:
        async with self.lock:
            state = await self._state()
            task = next((t for t in state.tasks.values() if t.reservation_sid == change.reservation_sid), None)
            if task is None or task.worker_sid is None:
                raise refused(f"reservation {change.reservation_sid} is not live", "NotLive")
            worker_sid = task.worker_sid
            if change.status in ("accepted", "rejected") and task.status != "reserved":
                raise refused(f"reservation {change.reservation_sid} was already answered", "Conflict")
            if change.status == "accepted":
                self._accept(task)
            elif change.status == "rejected":
                self._decline(task, "rejected", "reservation.rejected")
                if change.activity_sid:
                    self._set_activity(state.workers[worker_sid], change.activity_sid)
            elif change.status == "wrapping":
                if task.status != "assigned":
                    raise refused(f"reservation {change.reservation_sid} is not accepted", "Conflict")
                self._wrap(task, None)
            elif change.status == "completed":
                if task.status not in ("assigned", "wrapping"):
                    raise refused(f"reservation {change.reservation_sid} is not accepted", "Conflict")
                self._end_task(task, "completed", "completed", "task.completed")
            else:
                raise refused(f"a reservation cannot be set to {change.status!r}", "Invalid")
            await self._flush()
            return RoutingResult(task_sid=task.sid, reservation_sid=change.reservation_sid, worker_sid=worker_sid)

    @workflow.update
    async def set_worker_activity(self, change: WorkerActivityChange) -> RoutingResult:
        async with self.lock:
            state = await self._state()
            worker = state.workers.get(change.worker_sid)
            if worker is None:
                raise refused(f"worker {change.worker_sid} is not in workspace {self.workspace_sid}", "NotFound")
            if change.activity_sid not in state.config.activities:
                await self._refresh()  # an activity added since this run loaded the workspace
                state = await self._state()
            if change.activity_sid not in state.config.activities:
                raise refused(f"activity {change.activity_sid} is not in workspace {self.workspace_sid}", "Invalid")
            self._move_worker(worker, change.activity_sid, reject_pending=change.reject_pending)
            await self._flush()
            return RoutingResult(worker_sid=worker.sid)

    @workflow.query
    def routing_state(self) -> RoutingSnapshot | None:
        return self.snapshot

    async def _create(self, new: NewTask) -> RoutingResult:
        state = await self._state()
        if new.task_sid in state.tasks:
            return RoutingResult(task_sid=new.task_sid)
        known_channel = new.task_channel in state.config.channels or new.task_channel in state.config.channels.values()
        if new.workflow_sid not in state.config.workflows or not known_channel:
            await self._refresh()  # configured since this run loaded it
            state = await self._state()
        if new.workflow_sid not in state.config.workflows:
            raise refused(f"workflow {new.workflow_sid} is not in workspace {self.workspace_sid}", "NotFound")
        if new.task_channel not in state.config.channels:
            # Accept a task channel SID as well as its unique name.
            by_sid = {sid: name for name, sid in state.config.channels.items()}
            if new.task_channel not in by_sid:
                raise refused(f"task channel {new.task_channel!r} is not in workspace", "NotFound")
            new = replace(new, task_channel=by_sid[new.task_channel])
        now = workflow.now().timestamp()
        task = RoutedTask(
            sid=new.task_sid,
            workflow_sid=new.workflow_sid,
            task_channel=new.task_channel,
            priority=new.priority,
            timeout=new.timeout,
            attributes=json.loads(new.attributes),
            created_at=now,
            channel_sid=new.channel_sid,
            only_worker=new.only_worker,
            pinned_queue=new.queue_sid,
        )
        state.tasks[task.sid] = task
        self.write.new_task = new
        self._event("task.created", "Task created", task)
        self._place(task, now)
        await self._flush()
        return RoutingResult(task_sid=task.sid)

    # --- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: RouterInput) -> None:
        # Under the lock, like every handler: an update delivered with the start must not load
        # the snapshot alongside, then have its change overwritten by this load.
        async with self.lock:
            await self._state()
        self._post_outbox()
        while True:
            async with self.lock:
                self.dirty = False
                if self.refresh_requested:
                    await self._refresh()
                await self._sweep_desks()
                self._expire(workflow.now().timestamp())
                self._assign(workflow.now().timestamp())
                await self._flush()
            if self._continue_due():
                # Unposted events go along (an event being posted right now may be posted twice:
                # callbacks are at least once, each with its ``Sid``); routing never waits for them.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    RouterInput(
                        self.workspace_sid,
                        self.snapshot,
                        self.outbox.unsent(),
                        refresh=self.refresh_requested,
                        desk_sweep_at=self.desk_sweep_at,
                    )
                )
            deadline = self._next_deadline()
            timeout = None if deadline is None else max(deadline - workflow.now().timestamp(), 0.001)
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: self.dirty or self._continue_due(), timeout=timeout)

    # --- state ------------------------------------------------------------------------------

    async def _state(self) -> RoutingSnapshot:
        if self.snapshot is None:
            self.snapshot = await workflow.execute_local_activity(
                "load_routing", self.workspace_sid, result_type=RoutingSnapshot, **STORE_OPTIONS
            )
        return self.snapshot

    async def _refresh(self) -> None:
        """Reload configuration and workers; routing-owned fields (availability, activity, last
        assignment) stay as this run has them, tasks stay as they are."""
        self.refresh_requested = False
        fresh: RoutingSnapshot = await workflow.execute_local_activity(
            "load_routing", self.workspace_sid, result_type=RoutingSnapshot, **STORE_OPTIONS
        )
        state = await self._state()
        for sid, worker in fresh.workers.items():
            known = state.workers.get(sid)
            if known is not None:
                worker.available, worker.activity_sid = known.available, known.activity_sid
                worker.last_assigned_at = known.last_assigned_at
        state.config, state.workers = fresh.config, fresh.workers
        self.expressions.clear()

    def _continue_due(self) -> bool:
        return self.changes >= RUN_CHANGE_BUDGET or workflow.info().is_continue_as_new_suggested()

    def _expression(self, text: str) -> Expression | None:
        """A parsed expression (cached); None when it does not parse (the API refuses those, so
        only a stale configuration gets here, and it matches nothing)."""
        if text not in self.expressions:
            try:
                self.expressions[text] = parse_expression(text)
            except ExpressionError:
                workflow.logger.warning("expression %r does not parse; it matches nothing", text)
                return None
        return self.expressions[text]

    def _matches(self, text: str | None, attributes: dict[str, Any], **scopes: dict[str, Any]) -> bool:
        if not text:
            return True
        expression = self._expression(text)
        return expression is not None and expression.evaluate(attributes, **scopes)

    # --- routing ----------------------------------------------------------------------------

    def _targets(self, task: RoutedTask) -> list[dict[str, Any]]:
        assert self.snapshot is not None
        routing = self.snapshot.config.workflows[task.workflow_sid].task_routing
        if task.filter_index is None:
            return []
        filters = routing.get("filters") or []
        return list(filters[task.filter_index].get("targets") or []) if task.filter_index < len(filters) else []

    def _place(self, task: RoutedTask, now: float) -> None:
        """Put a pending task in the queue of its current target (first time: find its filter)."""
        assert self.snapshot is not None
        spec = self.snapshot.config.workflows.get(task.workflow_sid)
        if spec is None:
            return
        routing = spec.task_routing
        if task.pinned_queue is not None:
            if task.pinned_queue in self.snapshot.config.queues:
                self._enter_queue(task, task.pinned_queue, now, None)
            return
        if task.queue_sid is None and task.filter_index is None:
            for index, candidate in enumerate(routing.get("filters") or []):
                if self._matches(candidate.get("expression") or "1==1", task.attributes, task=task.attributes):
                    task.filter_index = index
                    break
        targets = self._targets(task)
        while task.target_index < len(targets):
            target = targets[task.target_index]
            queue_sid = target.get("queue")
            if queue_sid in self.snapshot.config.queues and not self._skip(target, queue_sid, task):
                self._enter_queue(task, queue_sid, now, target)
                return
            task.target_index += 1
        default = (routing.get("default_filter") or {}).get("queue")
        if default in self.snapshot.config.queues:
            task.filter_index = None
            self._enter_queue(task, default, now, None)

    def _skip(self, target: dict[str, Any], queue_sid: str, task: RoutedTask) -> bool:
        skip_if = target.get("skip_if")
        if not skip_if:
            return False
        available = sum(1 for w in self._eligible_workers(task, queue_sid, target) if w.available)
        return self._matches(skip_if, {"workers": {"available": available}}, task=task.attributes)

    def _enter_queue(self, task: RoutedTask, queue_sid: str, now: float, target: dict[str, Any] | None) -> None:
        changed = task.queue_sid != queue_sid
        task.queue_sid = queue_sid
        task.entered_queue_at = now
        timeout = (target or {}).get("timeout")
        task.target_deadline = now + float(timeout) if timeout else None
        if target and target.get("priority") is not None:
            task.priority = int(target["priority"])
        self.write.tasks.append(self._row(task))
        if changed:
            self._event("task-queue.entered", "Task entered a queue", task)

    def _eligible_workers(self, task: RoutedTask, queue_sid: str, target: dict[str, Any] | None) -> list[RoutedWorker]:
        assert self.snapshot is not None
        queue = self.snapshot.config.queues[queue_sid]
        expression = (target or {}).get("expression")
        if task.only_worker is not None:  # a transfer to a named worker
            named = self.snapshot.workers.get(task.only_worker)
            return [named] if named is not None else []
        return [
            worker
            for worker in self.snapshot.workers.values()
            if self._matches(queue.target_workers, worker.attributes, worker=worker.attributes, task=task.attributes)
            and self._matches(expression, worker.attributes, worker=worker.attributes, task=task.attributes)
        ]

    def _free_capacity(self, worker: RoutedWorker, channel: str) -> int:
        assert self.snapshot is not None
        used = sum(
            1
            for t in self.snapshot.tasks.values()
            if t.worker_sid == worker.sid and t.status in HOLDING and t.task_channel == channel
        )
        return worker.capacity.get(channel, 0) - used

    def _assign(self, now: float) -> None:
        """Offer waiting tasks, by priority then queue order, to the longest idle worker with
        free capacity."""
        assert self.snapshot is not None
        config = self.snapshot.config
        waiting = [t for t in self.snapshot.tasks.values() if t.status == "pending" and t.queue_sid is not None]

        def order(task: RoutedTask) -> tuple[int, float, str]:
            queue = config.queues.get(task.queue_sid or "")
            lifo = queue is not None and queue.task_order == "LIFO"
            return (-task.priority, -task.entered_queue_at if lifo else task.entered_queue_at, task.sid)

        for task in sorted(waiting, key=order):
            assert task.queue_sid is not None
            targets = self._targets(task)
            target = (
                targets[task.target_index]
                if task.filter_index is not None and task.target_index < len(targets)
                else None
            )
            candidates = [
                w
                for w in self._eligible_workers(task, task.queue_sid, target)
                if w.available and self._free_capacity(w, task.task_channel) > 0
            ]
            # Workers who turned the task down come last: offered it again only when nobody else
            # can take it, and not before a reservation timeout has passed, so a task is never
            # stranded and a rejection is not answered by the same offer at once.
            fresh = [w for w in candidates if w.sid not in task.declined_by]
            candidates = fresh or (candidates if now >= task.declined_until else [])
            if not candidates:
                continue
            worker = min(candidates, key=lambda w: (w.last_assigned_at, w.sid))
            self._reserve(task, worker, now)

    def _reserve(self, task: RoutedTask, worker: RoutedWorker, now: float) -> None:
        assert self.snapshot is not None
        timeout = self.snapshot.config.workflows[task.workflow_sid].task_reservation_timeout
        task.status = "reserved"
        task.worker_sid = worker.sid
        task.reservation_sid = sids.sid_from_uuid(sids.RESERVATION, workflow.uuid4())
        task.reservation_deadline = now + timeout
        worker.last_assigned_at = now
        self.write.tasks.append(self._row(task))
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, worker.sid, "pending"))
        self._event("reservation.created", "Reservation created", task)

    def _accept(self, task: RoutedTask) -> None:
        task.status = "assigned"
        task.reservation_deadline = None
        task.target_deadline = None
        assert task.reservation_sid and task.worker_sid
        self.write.tasks.append(self._row(task))
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, "accepted"))
        self._event("reservation.accepted", "Reservation accepted", task)

    def _decline(self, task: RoutedTask, status: str, event: str) -> None:
        """The offered worker said no (or nothing): offer the task to someone else."""
        assert task.reservation_sid and task.worker_sid
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, status))
        self._event(event, f"Reservation {status}", task)
        if status != "rescinded":
            task.declined_by.append(task.worker_sid)
            assert self.snapshot is not None
            spec = self.snapshot.config.workflows.get(task.workflow_sid)
            task.declined_until = workflow.now().timestamp() + (spec.task_reservation_timeout if spec else 120)
        task.status = "pending"
        task.worker_sid = task.reservation_sid = None
        task.reservation_deadline = None
        self.write.tasks.append(self._row(task))
        self.dirty = True

    def _wrap(self, task: RoutedTask, reason: str | None) -> None:
        task.status = "wrapping"
        assert task.reservation_sid and task.worker_sid
        self.write.tasks.append(self._row(task, reason=reason))
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, "wrapping"))
        self._event("task.wrapup", "Task wrapping up", task)

    def _end_task(self, task: RoutedTask, status: str, reason: str, event: str) -> None:
        assert self.snapshot is not None
        if task.reservation_sid and task.worker_sid:
            final = {"completed": "completed"}.get(status, "canceled" if task.status == "reserved" else "completed")
            self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, final))
        task.status = status
        self.write.tasks.append(self._row(task, reason=reason))
        self._event(event, f"Task {status}", task)
        del self.snapshot.tasks[task.sid]
        self.dirty = True

    def _set_activity(self, worker: RoutedWorker, activity_sid: str) -> None:
        assert self.snapshot is not None
        activity = self.snapshot.config.activities[activity_sid]
        worker.activity_sid = activity_sid
        worker.available = activity.available
        self.write.workers.append(WorkerRow(worker.sid, activity.sid, activity.friendly_name, activity.available))
        self._event("worker.activity.update", f"Worker activity changed to {activity.friendly_name}", None, worker)
        if not worker.available:
            for task in self._reserved_to(worker.sid):
                self._decline(task, "rescinded", "reservation.rescinded")
        self.dirty = True

    def _move_worker(self, worker: RoutedWorker, activity_sid: str, *, reject_pending: bool) -> None:
        """Twilio's activity change: pending offers rejected (``reject_pending``) or, when the new
        activity is unavailable, rescinded; either way they go on to other workers."""
        if reject_pending:
            for task in self._reserved_to(worker.sid):
                self._decline(task, "rejected", "reservation.rejected")
        self._set_activity(worker, activity_sid)

    async def _sweep_desks(self) -> None:
        """Agents whose last desk closed (or whose API replica died) the grace period ago move to
        the operator's activity (Offline), their pending offers rejected so they go on at once."""
        if self.desk_sweep_at is None or workflow.now().timestamp() < self.desk_sweep_at:
            return
        if not workflow.patched(DESK_PRESENCE):
            self.desk_sweep_at = None
            return
        changes = self.desk_changes
        presence: DeskPresence = await workflow.execute_local_activity(
            "desk_presence", self.workspace_sid, result_type=DeskPresence, **STORE_OPTIONS
        )
        if presence.departed:
            await self._desks_left(presence)
        due = [at + presence.grace_seconds for at in presence.watch_from.values()]
        now = workflow.now().timestamp()
        if self.desk_changes != changes:
            self.desk_sweep_at = now  # a desk opened or closed while this read ran
        else:
            self.desk_sweep_at = max(min(due), now + DESK_SWEEP_MIN_SECONDS) if due else None

    async def _desks_left(self, presence: DeskPresence) -> None:
        state = await self._state()
        target = self._activity_named(presence.activity_name)
        if target is None:
            await self._refresh()  # an activity added since this run loaded the workspace
            state = await self._state()
            target = self._activity_named(presence.activity_name)
        if target is None:
            workflow.logger.warning(
                "no activity %r in workspace %s: agents whose desk closed stay as they are",
                presence.activity_name,
                self.workspace_sid,
            )
            return
        for worker_sid in presence.departed:
            worker = state.workers.get(worker_sid)
            if worker is not None and (worker.activity_sid != target or self._reserved_to(worker_sid)):
                self._move_worker(worker, target, reject_pending=True)

    def _activity_named(self, name: str) -> str | None:
        assert self.snapshot is not None
        return next((a.sid for a in self.snapshot.config.activities.values() if a.friendly_name == name), None)

    def _reserved_to(self, worker_sid: str) -> list[RoutedTask]:
        assert self.snapshot is not None
        return [t for t in self.snapshot.tasks.values() if t.worker_sid == worker_sid and t.status == "reserved"]

    def _expire(self, now: float) -> None:
        """Reservation timeouts, target timeouts and task TTLs that have passed."""
        assert self.snapshot is not None
        for task in list(self.snapshot.tasks.values()):
            if task.status in ("pending", "reserved") and now >= task.created_at + task.timeout:
                self._end_task(task, "canceled", "Task TTL Exceeded", "task.canceled")
                continue
            if task.status == "reserved" and task.reservation_deadline is not None and now >= task.reservation_deadline:
                worker = self.snapshot.workers.get(task.worker_sid or "")
                self._decline(task, "timeout", "reservation.timeout")
                timeout_activity = self.snapshot.config.timeout_activity_sid
                if worker is not None and timeout_activity in self.snapshot.config.activities:
                    # A worker who does not answer stops receiving offers, as in TaskRouter.
                    self._set_activity(worker, timeout_activity)
            if task.status == "pending" and task.target_deadline is not None and now >= task.target_deadline:
                task.target_index += 1
                task.target_deadline = None
                self._place(task, now)

    def _next_deadline(self) -> float | None:
        assert self.snapshot is not None
        deadlines: list[float] = []
        for task in self.snapshot.tasks.values():
            if task.status in ("pending", "reserved"):
                deadlines.append(task.created_at + task.timeout)
            if task.status == "reserved" and task.reservation_deadline is not None:
                deadlines.append(task.reservation_deadline)
            if task.status == "pending" and task.target_deadline is not None:
                deadlines.append(task.target_deadline)
            if task.status == "pending" and task.declined_by and task.declined_until > workflow.now().timestamp():
                deadlines.append(task.declined_until)
        if self.desk_sweep_at is not None:
            deadlines.append(self.desk_sweep_at)
        return min(deadlines) if deadlines else None

    # --- writes and events ------------------------------------------------------------------

    def _row(
        self, task: RoutedTask, *, reason: str | None = None, attributes: str | None = None, priority: int | None = None
    ) -> TaskRow:
        return TaskRow(
            task.sid,
            task.status,
            task.queue_sid,
            reason=reason,
            attributes=attributes,
            priority=priority if priority is not None else task.priority,
            entered_queue_at=task.entered_queue_at or None,
        )

    def _event(
        self, event_type: str, description: str, task: RoutedTask | None, worker: RoutedWorker | None = None
    ) -> None:
        resource_type, _, _ = event_type.partition(".")
        worker_sid = worker.sid if worker else (task.worker_sid if task else None)
        resource_sid = {
            "task": task.sid if task else "",
            "task-queue": task.queue_sid if task and task.queue_sid else "",
            "reservation": task.reservation_sid if task and task.reservation_sid else "",
            "worker": worker_sid or "",
        }.get(resource_type, "")
        data: dict[str, Any] = {}
        if task is not None:
            data.update(
                task_assignment_status=task.status,
                task_priority=task.priority,
                task_channel_unique_name=task.task_channel,
                task_age=int(workflow.now().timestamp() - task.created_at),
                channel_sid=task.channel_sid,
            )
        if worker is not None:
            data.update(worker_activity_sid=worker.activity_sid, worker_available=worker.available)
        self.write.events.append(
            RoutingEvent(
                sid=sids.sid_from_uuid(sids.EVENT, workflow.uuid4()),
                event_type=event_type,
                description=description,
                resource_type=resource_type,
                resource_sid=resource_sid,
                timestamp=workflow.now().timestamp(),
                task_sid=task.sid if task else None,
                worker_sid=worker_sid,
                reservation_sid=task.reservation_sid if task else None,
                queue_sid=task.queue_sid if task else None,
                workflow_sid=task.workflow_sid if task else None,
                data=data,
            )
        )

    async def _flush(self) -> None:
        """Store what the change did (one transaction), then act on it outside the store."""
        write, self.write = self.write, RoutingWrite(self.workspace_sid)
        if not (write.new_task or write.tasks or write.reservations or write.workers or write.events):
            return
        await workflow.execute_local_activity("store_routing", write, **STORE_OPTIONS)
        self.changes += 1
        self.dirty = True  # something changed: the run looks for offers to make
        for event in write.events:
            await self._follow_up(event)
        assert self.snapshot is not None
        config = self.snapshot.config
        if config.event_callback_url:
            wanted = config.events_filter
            self.outbox.put(e for e in write.events if wanted is None or e.event_type in wanted)
            self._post_outbox()

    async def _follow_up(self, event: RoutingEvent) -> None:
        """What the conversation's channel learns: the agent joins on accept; the interaction ends
        on wrap-up, completion or cancelation."""
        channel_sid = event.data.get("channel_sid")
        if not channel_sid:
            return
        try:
            if event.event_type == "reservation.accepted" and event.worker_sid:
                notice = ChannelNotice(channel_sid, event.task_sid or "", event.worker_sid)
                await workflow.execute_local_activity("join_channel", notice, **STORE_OPTIONS)
            elif event.event_type in ("task.wrapup", "task.completed", "task.canceled") and event.task_sid:
                notice = ChannelNotice(channel_sid, event.task_sid)
                await workflow.execute_local_activity("end_channel_interaction", notice, **STORE_OPTIONS)
        except ActivityError as exc:
            workflow.logger.warning("channel %s not told of %s: %s", channel_sid, event.event_type, exc)

    def _post_outbox(self) -> None:
        # One poster at a time (the outbox's drainer): an update delivered with the start can fill
        # the outbox (and start the poster) before ``run`` gets here, and two posters would send
        # each event twice. A poster keeps the configuration it started with.
        assert self.snapshot is not None
        config = self.snapshot.config
        if config.event_callback_url:
            self.outbox.drain(functools.partial(self._post_events, config.event_callback_url, config))

    async def _post_events(self, url: str, config: WorkspaceConfig, events: list[RoutingEvent]) -> bool:
        """Posts events to the callback URL the poster started with; one that is not delivered is
        logged and dropped (routing never waits for callbacks)."""
        for event in events:
            callback = EventCallback(url, config.workspace_sid, config.friendly_name, event)
            try:
                await workflow.execute_activity_method(
                    RoutingActivities.post_routing_event, callback, **activity_options.ROUTING_EVENT
                )
            except ActivityError as exc:
                workflow.logger.warning("event %s not delivered to %s: %s", event.sid, callback.url, exc)
        return True
