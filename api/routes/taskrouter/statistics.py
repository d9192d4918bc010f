"""TaskRouter statistics computed from the store: a workspace's and a task queue's
``RealTimeStatistics`` (tasks by status and priority, the longest waiting task, workers by
activity, and a queue's eligible and available workers). Each call is a few aggregate queries;
only a queue's eligible workers are found in Python, since its TargetWorkers expression reads the
workers' encrypted attributes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from api.deps import CallDep, RestCall, SessionDep
from api.routes.taskrouter.common import WORKSPACES_PATH, load_in_workspace, load_workspace, workspace_url
from api.routes.taskrouter.directory import WorkerDirectory
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import invalid
from switchboard.store.models import Task, TaskChannel, TaskQueue, Worker, WorkspaceActivity, utcnow

router = APIRouter(prefix=WORKSPACES_PATH)

# Every status a task can have, reported even when no task has it (as Twilio does).
TASK_STATUSES = ("pending", "reserved", "assigned", "canceled", "completed", "wrapping")
# A task waits until a worker accepts it.
WAITING_STATUSES = ("pending", "reserved")

TaskChannelQuery = Annotated[str | None, Query(alias="TaskChannel")]


async def channel_name(session: SessionDep, workspace_sid: str, channel: str | None) -> str | None:
    """The unique name of the TaskChannel given by SID or unique name; a 400 if there is none."""
    if channel is None:
        return None
    found = (
        await session.exec(
            select(TaskChannel.unique_name).where(
                TaskChannel.workspace_sid == workspace_sid,
                (col(TaskChannel.sid) == channel) | (col(TaskChannel.unique_name) == channel),
            )
        )
    ).first()
    if found is None:
        raise invalid("TaskChannel", f"no TaskChannel {channel} in workspace {workspace_sid}")
    return found


def age(since: datetime | None, now: datetime) -> int:
    if since is None:
        return 0
    if since.tzinfo is None:
        since = since.replace(tzinfo=now.tzinfo)
    return max(int((now - since).total_seconds()), 0)


async def task_figures(session: SessionDep, *where: ColumnElement[bool] | bool) -> dict[str, Any]:
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
    session: SessionDep, workspace_sid: str, worker_sids: list[str] | None = None
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


@router.get(
    "/{workspace_sid}/RealTimeStatistics",
    response_model=schemas.WorkspaceRealTimeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workspace_real_time_statistics(
    call: CallDep, session: SessionDep, workspace_sid: str, task_channel: TaskChannelQuery = None
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    channel = await channel_name(session, workspace_sid, task_channel)
    figures = await task_figures(session, *task_scope(workspace_sid, channel))
    activities = await activity_statistics(session, workspace_sid)
    return {
        "account_sid": call.account_sid,
        "activity_statistics": activities,
        "longest_task_waiting_age": figures["longest_task_waiting_age"],
        "longest_task_waiting_sid": figures["longest_task_waiting_sid"],
        "tasks_by_priority": figures["tasks_by_priority"],
        "tasks_by_status": figures["tasks_by_status"],
        "total_tasks": figures["total_tasks"],
        "total_workers": sum(a["workers"] for a in activities),
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/RealTimeStatistics",
    }


async def eligible_workers(call: RestCall, session: SessionDep, queue: TaskQueue) -> list[Worker]:
    directory = await WorkerDirectory.load(call, session, queue.workspace_sid)
    workers = (await session.exec(select(Worker).where(Worker.workspace_sid == queue.workspace_sid))).all()
    return [w for w in workers if directory.in_queue(queue, w)]


@router.get(
    "/{workspace_sid}/TaskQueues/{sid}/RealTimeStatistics",
    response_model=schemas.TaskQueueRealTimeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def task_queue_real_time_statistics(
    call: CallDep, session: SessionDep, workspace_sid: str, sid: str, task_channel: TaskChannelQuery = None
) -> dict[str, Any]:
    queue = await load_in_workspace(session, TaskQueue, workspace_sid, sid, "TaskQueue")
    channel = await channel_name(session, workspace_sid, task_channel)
    figures = await task_figures(session, *task_scope(workspace_sid, channel), col(Task.task_queue_sid) == sid)
    eligible = await eligible_workers(call, session, queue)
    activities = await activity_statistics(session, workspace_sid, [w.sid for w in eligible])
    return {
        "account_sid": call.account_sid,
        "activity_statistics": activities,
        **figures,
        "task_queue_sid": sid,
        "total_available_workers": sum(1 for w in eligible if w.available),
        "total_eligible_workers": len(eligible),
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/TaskQueues/{sid}/RealTimeStatistics",
    }
