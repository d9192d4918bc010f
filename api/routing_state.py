"""What the store says about a workspace's routing now, for REST and the supervisor view.

Which workers an expression or a queue admits, read from the store: the Workers list's
``TargetWorkersExpression``, ``TaskQueueSid`` and ``TaskQueueName`` and the TaskQueues list's
``WorkerSid`` (what Flex plugins' transfer directories ask). The router decides who gets a task;
these lists evaluate the same expressions over the same fields, as the store has them now. And the
real-time figures (``RealTimeStatistics``; ``api.routes.taskrouter.statistics``): tasks by status
and priority, the longest wait, workers by activity, a queue's eligible and available workers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import AppContext
from switchboard.store.business_hours import workspace_schedule
from switchboard.store.models import Reservation, Task, TaskQueue, Worker, WorkerChannel, WorkspaceActivity, utcnow
from workflows.business_hours import Schedule, is_open
from workflows.routing.expressions import Expression, ExpressionError, parse_expression, time_variables, time_zone

# Every status a task can have, reported even when no task has it (as Twilio does).
TASK_STATUSES = ("pending", "reserved", "assigned", "canceled", "completed", "wrapping")
# A task waits until a worker accepts it.
WAITING_STATUSES = ("pending", "reserved")

# The reservations and task states that hold a worker's capacity, as the router counts them.
HOLDING_RESERVATIONS = ("pending", "accepted", "wrapping")
HOLDING_TASKS = ("reserved", "assigned", "wrapping")


@dataclass
class WorkerDirectory:
    """A workspace's workers' fields and channels, read once for one list call."""

    context: AppContext
    channels: dict[str, list[WorkerChannel]]
    held: Counter[tuple[str, str]]
    time_of_day: dict[str, Any]

    @classmethod
    async def load(cls, context: AppContext, session: AsyncSession, workspace_sid: str) -> WorkerDirectory:
        rows = (await session.exec(select(WorkerChannel).where(WorkerChannel.workspace_sid == workspace_sid))).all()
        channels: dict[str, list[WorkerChannel]] = {}
        for row in rows:
            channels.setdefault(row.worker_sid, []).append(row)
        holding = await session.exec(
            select(Reservation.worker_sid, Task.task_channel_unique_name)
            .join(Task, col(Reservation.task_sid) == col(Task.sid))
            .where(
                Task.workspace_sid == workspace_sid,
                col(Reservation.reservation_status).in_(HOLDING_RESERVATIONS),
                col(Task.assignment_status).in_(HOLDING_TASKS),
            )
        )
        zone = time_zone(context.settings.taskrouter_time_zone)
        held = Counter((worker, channel) for worker, channel in holding)
        now = datetime.now(zone)
        hours = await workspace_schedule(session, workspace_sid)
        business_open = is_open(None if hours is None else Schedule.from_data(hours), now)
        return cls(context, channels, held, time_variables(now, business_open))

    def fields(self, worker: Worker) -> dict[str, Any]:
        """``worker.sid``, ``friendly_name``, ``activity_sid``, ``activity_name`` and
        ``worker.channel.<unique name>.<field>``, as the router's expressions see them."""
        channels: dict[str, Any] = {}
        for row in self.channels.get(worker.sid, []):
            capacity = row.configured_capacity if row.available else 0
            assigned = self.held[worker.sid, row.task_channel_unique_name]
            channels[row.task_channel_unique_name] = {
                "assigned_tasks": assigned,
                "available": row.available,
                "available_capacity_percentage": max(capacity - assigned, 0) * 100 // capacity if capacity else 0,
                "configured_capacity": capacity,
            }
        return {
            "sid": worker.sid,
            "friendly_name": worker.friendly_name,
            "activity_sid": worker.activity_sid,
            "activity_name": worker.activity_name,
            "channel": channels,
        }

    def admits(self, expression: Expression, worker: Worker) -> bool:
        attributes = json_object(self.context.cipher.decrypt(worker.attributes_enc, "worker.attributes"))
        fields = self.fields(worker)
        # TaskRouter lets a list filter name the worker's own fields bare too (``friendly_name``);
        # an attribute of the same name wins.
        plain = {name: value for name, value in fields.items() if name != "channel"}
        return expression.evaluate(
            {**plain, **attributes}, worker=attributes, worker_fields=fields, taskrouter=self.time_of_day
        )

    def in_queue(self, queue: TaskQueue, worker: Worker) -> bool:
        """Whether the queue's TargetWorkers admits the worker (an expression stored before
        expressions were checked, that does not parse, admits no one)."""
        try:
            expression = parse_expression(queue.target_workers)
        except ExpressionError:
            return False
        return self.admits(expression, worker)


def json_object(text: str) -> dict[str, Any]:
    """Stored JSON attributes as an object; anything else (there should be nothing else) as empty
    attributes, which no expression about an attribute matches."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def age(since: datetime | None, now: datetime) -> int:
    if since is None:
        return 0
    if since.tzinfo is None:
        since = since.replace(tzinfo=now.tzinfo)
    return max(int((now - since).total_seconds()), 0)


async def task_figures(session: AsyncSession, *where: ColumnElement[bool] | bool) -> dict[str, Any]:
    """Tasks by status and priority, their total, and the longest waiting task (by creation and,
    for a queue, by entering it), of the tasks ``where`` selects."""
    by_status = dict.fromkeys(TASK_STATUSES, 0)
    by_priority: dict[str, int] = {}
    grouped = await session.exec(
        select(Task.assignment_status, Task.priority, func.count())
        .where(*where)
        .group_by(col(Task.assignment_status), col(Task.priority))
    )
    for status, priority, count in grouped:
        by_status[status] = by_status.get(status, 0) + count
        by_priority[str(priority)] = by_priority.get(str(priority), 0) + count
    waiting = (*where, col(Task.assignment_status).in_(WAITING_STATUSES))
    oldest = (
        await session.exec(
            select(Task.sid, Task.date_created).where(*waiting).order_by(col(Task.date_created), col(Task.sid)).limit(1)
        )
    ).first()
    in_queue = (
        await session.exec(
            select(Task.sid, Task.task_queue_entered_date)
            .where(*waiting, col(Task.task_queue_entered_date).is_not(None))
            .order_by(col(Task.task_queue_entered_date), col(Task.sid))
            .limit(1)
        )
    ).first()
    now = utcnow()
    return {
        "longest_task_waiting_age": age(oldest[1], now) if oldest else 0,
        "longest_task_waiting_sid": oldest[0] if oldest else None,
        "longest_relative_task_age_in_queue": age(in_queue[1], now) if in_queue else 0,
        "longest_relative_task_sid_in_queue": in_queue[0] if in_queue else None,
        "tasks_by_priority": by_priority,
        "tasks_by_status": by_status,
        "total_tasks": sum(by_status.values()),
    }


async def activity_statistics(
    session: AsyncSession, workspace_sid: str, worker_sids: list[str] | None = None
) -> list[dict[str, Any]]:
    """Each activity of the workspace with how many workers (of ``worker_sids``, when given) are
    in it now."""
    counted = select(Worker.activity_sid, func.count()).where(Worker.workspace_sid == workspace_sid)
    if worker_sids is not None:
        counted = counted.where(col(Worker.sid).in_(worker_sids))
    counts = dict((await session.exec(counted.group_by(col(Worker.activity_sid)))).all())
    activities = await session.exec(
        select(WorkspaceActivity)
        .where(WorkspaceActivity.workspace_sid == workspace_sid)
        .order_by(col(WorkspaceActivity.date_created), col(WorkspaceActivity.sid))
    )
    return [{"sid": a.sid, "friendly_name": a.friendly_name, "workers": counts.get(a.sid, 0)} for a in activities]


def task_scope(workspace_sid: str, channel: str | None) -> list[ColumnElement[bool] | bool]:
    scope: list[ColumnElement[bool] | bool] = [col(Task.workspace_sid) == workspace_sid]
    if channel is not None:
        scope.append(col(Task.task_channel_unique_name) == channel)
    return scope


async def queue_realtime(
    session: AsyncSession, directory: WorkerDirectory, workers: Sequence[Worker], queue: TaskQueue, channel: str | None
) -> dict[str, Any]:
    """A queue's real-time figures; ``workers`` are the workspace's, ``directory`` their fields."""
    scope = task_scope(queue.workspace_sid, channel)
    figures = await task_figures(session, *scope, col(Task.task_queue_sid) == queue.sid)
    eligible = [w for w in workers if directory.in_queue(queue, w)]
    activities = await activity_statistics(session, queue.workspace_sid, [w.sid for w in eligible])
    return {
        "activity_statistics": activities,
        **figures,
        "total_available_workers": sum(1 for w in eligible if w.available),
        "total_eligible_workers": len(eligible),
    }
