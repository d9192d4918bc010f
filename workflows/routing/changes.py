"""A workspace's routing state and the changes routing makes to it.

Each change is applied to the snapshot at once and recorded, with its events, in the write the
router stores next (one transaction). Where tasks go is decided by ``placement``; the clock, the
ids and waking the router come from the caller, so none of this needs a running workflow.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from temporalio.exceptions import ApplicationError

from workflows import sids
from workflows.routing import placement
from workflows.routing.messages import (
    NewTask,
    ReservationChange,
    ReservationRow,
    RoutedTask,
    RoutedWorker,
    RoutingEvent,
    RoutingSnapshot,
    RoutingWrite,
    TaskChange,
    TaskRow,
    WorkerRow,
    WorkspaceConfig,
)


def refused(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


def task_row(
    task: RoutedTask, *, reason: str | None = None, attributes: str | None = None, priority: int | None = None
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


def routing_event(
    sid: str, now: float, event_type: str, description: str, task: RoutedTask | None, worker: RoutedWorker | None
) -> RoutingEvent:
    """An event as TaskRouter describes it: about a task (and its reservation and queue) and/or
    a worker."""
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
            task_age=int(now - task.created_at),
            channel_sid=task.channel_sid,
        )
    if worker is not None:
        data.update(worker_activity_sid=worker.activity_sid, worker_available=worker.available)
    return RoutingEvent(
        sid=sid,
        event_type=event_type,
        description=description,
        resource_type=resource_type,
        resource_sid=resource_sid,
        timestamp=now,
        task_sid=task.sid if task else None,
        worker_sid=worker_sid,
        reservation_sid=task.reservation_sid if task else None,
        queue_sid=task.queue_sid if task else None,
        workflow_sid=task.workflow_sid if task else None,
        data=data,
    )


class RoutingState:
    """The snapshot a router run works on, with the write its changes since the last store make.

    ``clock`` (epoch seconds) and ``new_uuid`` are the workflow's; ``wake`` tells the router a
    task went back to waiting or capacity came free, so it looks for offers to make."""

    def __init__(
        self,
        workspace_sid: str,
        snapshot: RoutingSnapshot,
        clock: Callable[[], float],
        new_uuid: Callable[[], uuid.UUID],
        wake: Callable[[], None],
    ) -> None:
        self.workspace_sid = workspace_sid
        self.snapshot = snapshot
        self.clock = clock
        self.new_uuid = new_uuid
        self.wake = wake
        self.write = RoutingWrite(workspace_sid)

    @property
    def config(self) -> WorkspaceConfig:
        return self.snapshot.config

    @property
    def tasks(self) -> dict[str, RoutedTask]:
        return self.snapshot.tasks

    @property
    def workers(self) -> dict[str, RoutedWorker]:
        return self.snapshot.workers

    def take_write(self) -> RoutingWrite:
        write, self.write = self.write, RoutingWrite(self.workspace_sid)
        return write

    def refresh(self, fresh: RoutingSnapshot) -> None:
        """Take reloaded configuration and workers; routing-owned fields (availability, activity,
        last assignment) stay as this run has them, tasks stay as they are."""
        for sid, worker in fresh.workers.items():
            known = self.workers.get(sid)
            if known is not None:
                worker.available, worker.activity_sid = known.available, known.activity_sid
                worker.last_assigned_at = known.last_assigned_at
        self.snapshot.config, self.snapshot.workers = fresh.config, fresh.workers

    def event(
        self, event_type: str, description: str, task: RoutedTask | None, worker: RoutedWorker | None = None
    ) -> None:
        sid = sids.sid_from_uuid(sids.EVENT, self.new_uuid())
        self.write.events.append(routing_event(sid, self.clock(), event_type, description, task, worker))

    # --- tasks ------------------------------------------------------------------------------

    def add_task(self, new: NewTask) -> RoutedTask:
        now = self.clock()
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
        self.tasks[task.sid] = task
        self.write.new_task = new
        self.event("task.created", "Task created", task)
        self.place(task, now)
        return task

    def change_task(self, task: RoutedTask, change: TaskChange) -> None:
        if change.attributes is not None:
            task.attributes = json.loads(change.attributes)
        if change.priority is not None:
            task.priority = change.priority
        status = change.assignment_status
        if status == "canceled":
            self.end_task(task, "canceled", change.reason or "canceled", "task.canceled")
        elif status == "wrapping":
            if task.status != "assigned":
                raise refused(f"task {task.sid} is {task.status}; only an assigned task wraps up", "Conflict")
            self.wrap(task, change.reason)
        elif status == "completed":
            if task.status not in ("assigned", "wrapping"):
                raise refused(f"task {task.sid} is {task.status}; only an assigned task completes", "Conflict")
            self.end_task(task, "completed", change.reason or "completed", "task.completed")
        elif change.attributes is not None or change.priority is not None:
            self.write.tasks.append(task_row(task, attributes=change.attributes, priority=change.priority))
            self.event("task.updated", "Task updated", task)

    def change_reservation(self, task: RoutedTask, change: ReservationChange) -> None:
        assert task.worker_sid is not None
        if change.status in ("accepted", "rejected") and task.status != "reserved":
            raise refused(f"reservation {change.reservation_sid} was already answered", "Conflict")
        if change.status == "accepted":
            self.accept(task)
        elif change.status == "rejected":
            worker_sid = task.worker_sid
            self.decline(task, "rejected", "reservation.rejected")
            if change.activity_sid:
                self.set_activity(self.workers[worker_sid], change.activity_sid)
        elif change.status == "wrapping":
            if task.status != "assigned":
                raise refused(f"reservation {change.reservation_sid} is not accepted", "Conflict")
            self.wrap(task, None)
        elif change.status == "completed":
            if task.status not in ("assigned", "wrapping"):
                raise refused(f"reservation {change.reservation_sid} is not accepted", "Conflict")
            self.end_task(task, "completed", "completed", "task.completed")
        else:
            raise refused(f"a reservation cannot be set to {change.status!r}", "Invalid")

    def place(self, task: RoutedTask, now: float) -> None:
        """Put a pending task in the queue of its current target (first time: find its filter)."""
        route = placement.route(self.snapshot, task)
        if route is None:
            return
        task.filter_index, task.target_index = route.filter_index, route.target_index
        if route.queue_sid is not None:
            self.enter_queue(task, route.queue_sid, now, route.target)

    def enter_queue(self, task: RoutedTask, queue_sid: str, now: float, target: dict[str, Any] | None) -> None:
        changed = task.queue_sid != queue_sid
        task.queue_sid = queue_sid
        task.entered_queue_at = now
        timeout = (target or {}).get("timeout")
        task.target_deadline = now + float(timeout) if timeout else None
        if target and target.get("priority") is not None:
            task.priority = int(target["priority"])
        self.write.tasks.append(task_row(task))
        if changed:
            self.event("task-queue.entered", "Task entered a queue", task)

    def assign(self, now: float) -> None:
        """Make the offers placement finds."""
        for offer in placement.offers(self.snapshot, now):
            self.reserve(self.tasks[offer.task_sid], self.workers[offer.worker_sid], now)

    def expire(self, now: float) -> None:
        """Reservation timeouts, target timeouts and task TTLs that have passed."""
        for task in list(self.tasks.values()):
            if placement.ttl_expired(task, now):
                self.end_task(task, "canceled", "Task TTL Exceeded", "task.canceled")
                continue
            if placement.reservation_expired(task, now):
                worker = self.workers.get(task.worker_sid or "")
                self.decline(task, "timeout", "reservation.timeout")
                timeout_activity = self.config.timeout_activity_sid
                if worker is not None and timeout_activity in self.config.activities:
                    # A worker who does not answer stops receiving offers, as in TaskRouter.
                    self.set_activity(worker, timeout_activity)
            if placement.target_expired(task, now):
                task.target_index += 1
                task.target_deadline = None
                self.place(task, now)

    # --- reservations -----------------------------------------------------------------------

    def reserve(self, task: RoutedTask, worker: RoutedWorker, now: float) -> None:
        timeout = self.config.workflows[task.workflow_sid].task_reservation_timeout
        task.status = "reserved"
        task.worker_sid = worker.sid
        task.reservation_sid = sids.sid_from_uuid(sids.RESERVATION, self.new_uuid())
        task.reservation_deadline = now + timeout
        worker.last_assigned_at = now
        self.write.tasks.append(task_row(task))
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, worker.sid, "pending"))
        self.event("reservation.created", "Reservation created", task)

    def accept(self, task: RoutedTask) -> None:
        task.status = "assigned"
        task.reservation_deadline = None
        task.target_deadline = None
        assert task.reservation_sid and task.worker_sid
        self.write.tasks.append(task_row(task))
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, "accepted"))
        self.event("reservation.accepted", "Reservation accepted", task)

    def decline(self, task: RoutedTask, status: str, event: str) -> None:
        """The offered worker said no (or nothing): offer the task to someone else."""
        assert task.reservation_sid and task.worker_sid
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, status))
        self.event(event, f"Reservation {status}", task)
        if status != "rescinded":
            task.declined_by.append(task.worker_sid)
            spec = self.config.workflows.get(task.workflow_sid)
            task.declined_until = self.clock() + (spec.task_reservation_timeout if spec else 120)
        task.status = "pending"
        task.worker_sid = task.reservation_sid = None
        task.reservation_deadline = None
        self.write.tasks.append(task_row(task))
        self.wake()

    def wrap(self, task: RoutedTask, reason: str | None) -> None:
        task.status = "wrapping"
        assert task.reservation_sid and task.worker_sid
        self.write.tasks.append(task_row(task, reason=reason))
        self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, "wrapping"))
        self.event("task.wrapup", "Task wrapping up", task)

    def end_task(self, task: RoutedTask, status: str, reason: str, event: str) -> None:
        if task.reservation_sid and task.worker_sid:
            final = {"completed": "completed"}.get(status, "canceled" if task.status == "reserved" else "completed")
            self.write.reservations.append(ReservationRow(task.reservation_sid, task.sid, task.worker_sid, final))
        task.status = status
        self.write.tasks.append(task_row(task, reason=reason))
        self.event(event, f"Task {status}", task)
        del self.tasks[task.sid]
        self.wake()

    # --- workers ----------------------------------------------------------------------------

    def set_activity(self, worker: RoutedWorker, activity_sid: str) -> None:
        activity = self.config.activities[activity_sid]
        worker.activity_sid = activity_sid
        worker.available = activity.available
        self.write.workers.append(WorkerRow(worker.sid, activity.sid, activity.friendly_name, activity.available))
        self.event("worker.activity.update", f"Worker activity changed to {activity.friendly_name}", None, worker)
        if not worker.available:
            for task in placement.reserved_to(self.snapshot, worker.sid):
                self.decline(task, "rescinded", "reservation.rescinded")
        self.wake()

    def move_worker(self, worker: RoutedWorker, activity_sid: str, *, reject_pending: bool) -> None:
        """Twilio's activity change: pending offers rejected (``reject_pending``) or, when the new
        activity is unavailable, rescinded; either way they go on to other workers."""
        if reject_pending:
            for task in placement.reserved_to(self.snapshot, worker.sid):
                self.decline(task, "rejected", "reservation.rejected")
        self.set_activity(worker, activity_sid)
