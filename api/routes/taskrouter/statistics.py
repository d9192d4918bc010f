"""TaskRouter statistics computed from the store: a workspace's and a task queue's
``RealTimeStatistics`` (tasks by status and priority, the longest waiting task, workers by
activity, and a queue's eligible and available workers) and ``CumulativeStatistics`` (the events
of a window counted by type, and how long tasks waited until accepted or canceled). Each call is a
few aggregate queries; only a queue's eligible workers are found in Python, since its
TargetWorkers expression reads the workers' encrypted attributes. The real-time queries live in
``api.routing_state``, which the supervisor view shares, the cumulative ones in ``api.statistics``,
which the benchmark times; this module reads the parameters and shapes the answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import (
    WORKSPACES_PATH,
    in_workspace,
    load_in_workspace,
    load_workspace,
    oldest_first,
    workspace_url,
)
from api.routes.taskrouter.events import MINUTES_OF_A_CENTURY
from api.routing_state import WorkerDirectory, activity_statistics, queue_realtime, task_figures, task_scope
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.statistics import RATINGS_FIELD, RESERVATION_COUNTS, cumulative_figures
from api.time_figures import HANDLE_TIME_FIELD, WAIT_PERCENTILES_FIELD
from api.twilio_shape import invalid, iso, parse_date
from switchboard.store.models import (
    RoutingWorkflow,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
)

router = APIRouter(prefix=WORKSPACES_PATH)

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


async def workspace_realtime(session: SessionDep, workspace_sid: str, channel: str | None) -> dict[str, Any]:
    figures = await task_figures(session, *task_scope(workspace_sid, channel))
    activities = await activity_statistics(session, workspace_sid)
    return {
        "activity_statistics": activities,
        "longest_task_waiting_age": figures["longest_task_waiting_age"],
        "longest_task_waiting_sid": figures["longest_task_waiting_sid"],
        "tasks_by_priority": figures["tasks_by_priority"],
        "tasks_by_status": figures["tasks_by_status"],
        "total_tasks": figures["total_tasks"],
        "total_workers": sum(a["workers"] for a in activities),
    }


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
    return {
        "account_sid": call.account_sid,
        **await workspace_realtime(session, workspace_sid, channel),
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/RealTimeStatistics",
    }


async def workspace_workers(
    call: RestCall, session: SessionDep, workspace_sid: str
) -> tuple[WorkerDirectory, Sequence[Worker]]:
    directory = await WorkerDirectory.load(call.context, session, workspace_sid)
    workers = (await session.exec(select(Worker).where(Worker.workspace_sid == workspace_sid))).all()
    return directory, workers


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
    directory, workers = await workspace_workers(call, session, workspace_sid)
    realtime = await queue_realtime(session, directory, workers, queue, channel)
    return {
        "account_sid": call.account_sid,
        **realtime,
        "task_queue_sid": sid,
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/TaskQueues/{sid}/RealTimeStatistics",
    }


# --- cumulative statistics --------------------------------------------------------------------

# Twilio's window when a call names none: the last 15 minutes.
DEFAULT_MINUTES = 15
MinutesQuery = Annotated[int | None, Query(alias="Minutes", ge=1)]
StartDateQuery = Annotated[str | None, Query(alias="StartDate")]
EndDateQuery = Annotated[str | None, Query(alias="EndDate")]
SplitQuery = Annotated[str | None, Query(alias="SplitByWaitTime")]


def window(minutes: int | None, start_date: str | None, end_date: str | None) -> tuple[datetime, datetime]:
    """The interval counted: from StartDate, or Minutes (15 by default) ago, to EndDate or now."""
    now = datetime.now(UTC)
    end = parse_date(end_date, "EndDate") or now
    start = parse_date(start_date, "StartDate")
    if start is None:
        start = now - timedelta(minutes=min(minutes or DEFAULT_MINUTES, MINUTES_OF_A_CENTURY))
    if start > end:
        raise invalid("StartDate", "must not be after EndDate")
    return start, end


def thresholds(text: str | None) -> list[int]:
    """SplitByWaitTime's comma-separated thresholds in seconds."""
    if not text:
        return []
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise invalid("SplitByWaitTime", "must be comma-separated whole seconds") from None
    if any(value < 0 for value in values) or len(values) > 10:
        raise invalid("SplitByWaitTime", "must be at most 10 thresholds of zero seconds or more")
    return sorted(set(values))


WORKSPACE_CUMULATIVE = (
    "avg_task_acceptance_time",
    *RESERVATION_COUNTS,
    "split_by_wait_time",
    "wait_duration_until_accepted",
    "wait_duration_until_canceled",
    "tasks_canceled",
    "tasks_completed",
    "tasks_created",
    "tasks_deleted",
    "tasks_moved",
    "tasks_timed_out_in_workflow",
    RATINGS_FIELD,
    WAIT_PERCENTILES_FIELD,
    HANDLE_TIME_FIELD,
)
WORKFLOW_CUMULATIVE = (
    "avg_task_acceptance_time",
    *RESERVATION_COUNTS,
    "split_by_wait_time",
    "wait_duration_until_accepted",
    "wait_duration_until_canceled",
    "tasks_canceled",
    "tasks_completed",
    "tasks_entered",
    "tasks_deleted",
    "tasks_moved",
    "tasks_timed_out_in_workflow",
    RATINGS_FIELD,
    WAIT_PERCENTILES_FIELD,
    HANDLE_TIME_FIELD,
)
QUEUE_CUMULATIVE = (
    "avg_task_acceptance_time",
    *RESERVATION_COUNTS,
    "split_by_wait_time",
    "wait_duration_until_accepted",
    "wait_duration_until_canceled",
    "wait_duration_in_queue_until_accepted",
    "tasks_canceled",
    "tasks_completed",
    "tasks_deleted",
    "tasks_entered",
    "tasks_moved",
    RATINGS_FIELD,
    WAIT_PERCENTILES_FIELD,
    HANDLE_TIME_FIELD,
)


@dataclass(frozen=True)
class Window:
    """A cumulative call's window parameters, as given."""

    minutes: int | None
    start_date: str | None
    end_date: str | None
    split_by_wait_time: str | None


def window_parameters(
    minutes: MinutesQuery = None,
    start_date: StartDateQuery = None,
    end_date: EndDateQuery = None,
    split_by_wait_time: SplitQuery = None,
) -> Window:
    """The window parameters every cumulative route takes (checked where the figures are read)."""
    return Window(minutes, start_date, end_date, split_by_wait_time)


WindowDep = Annotated[Window, Depends(window_parameters)]


async def cumulative_of(
    session: SessionDep,
    workspace_sid: str,
    queue_sid: str | None,
    channel: str | None,
    given: Window,
    workflow_sid: str | None = None,
) -> dict[str, Any]:
    """The cumulative figures of the workspace, or of one of its queues, in Twilio's key order."""
    start, end = window(given.minutes, given.start_date, given.end_date)
    splits = thresholds(given.split_by_wait_time)
    figures = await cumulative_figures(session, workspace_sid, start, end, channel, queue_sid, splits, workflow_sid)
    names = QUEUE_CUMULATIVE if queue_sid else WORKFLOW_CUMULATIVE if workflow_sid else WORKSPACE_CUMULATIVE
    return {"start_time": iso(start), "end_time": iso(end), **{name: figures[name] for name in names}}


@router.get(
    "/{workspace_sid}/CumulativeStatistics",
    response_model=schemas.WorkspaceCumulativeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workspace_cumulative_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    given: WindowDep,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    channel = await channel_name(session, workspace_sid, task_channel)
    cumulative = await cumulative_of(session, workspace_sid, None, channel, given)
    return {
        "account_sid": call.account_sid,
        **cumulative,
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/CumulativeStatistics",
    }


@router.get(
    "/{workspace_sid}/TaskQueues/{sid}/CumulativeStatistics",
    response_model=schemas.TaskQueueCumulativeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def task_queue_cumulative_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    given: WindowDep,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    await load_in_workspace(session, TaskQueue, workspace_sid, sid, "TaskQueue")
    channel = await channel_name(session, workspace_sid, task_channel)
    cumulative = await cumulative_of(session, workspace_sid, sid, channel, given)
    return {
        "account_sid": call.account_sid,
        **cumulative,
        "task_queue_sid": sid,
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/TaskQueues/{sid}/CumulativeStatistics",
    }


# --- both at once -----------------------------------------------------------------------------


@router.get(
    "/{workspace_sid}/Statistics",
    response_model=schemas.WorkspaceStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workspace_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    given: WindowDep,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    channel = await channel_name(session, workspace_sid, task_channel)
    return {
        "realtime": await workspace_realtime(session, workspace_sid, channel),
        "cumulative": await cumulative_of(session, workspace_sid, None, channel, given),
        "account_sid": call.account_sid,
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/Statistics",
    }


@router.get(
    "/{workspace_sid}/TaskQueues/Statistics",
    response_model=schemas.TaskQueuesStatisticsPage,
    responses=error_responses(*REST_ERRORS, 404),
)
async def task_queues_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    given: WindowDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    """Each queue's statistics, a page of queues at a time (a few queries per queue)."""
    await load_workspace(session, workspace_sid)
    channel = await channel_name(session, workspace_sid, task_channel)
    window(given.minutes, given.start_date, given.end_date)  # a bad window is refused before any queue is read
    thresholds(given.split_by_wait_time)
    query = in_workspace(TaskQueue, workspace_sid)
    if friendly_name is not None:
        query = query.where(TaskQueue.friendly_name == friendly_name)
    query = query.order_by(*oldest_first(TaskQueue))
    queues = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
    directory, workers = await workspace_workers(call, session, workspace_sid)
    items = [
        {
            "account_sid": call.account_sid,
            "cumulative": await cumulative_of(session, workspace_sid, queue.sid, channel, given),
            "realtime": await queue_realtime(session, directory, workers, queue, channel),
            "task_queue_sid": queue.sid,
            "workspace_sid": workspace_sid,
        }
        for queue in queues[: paging.page_size]
    ]
    return call.page("task_queues_statistics", items, paging, None, len(queues) > paging.page_size)


@router.get(
    "/{workspace_sid}/TaskQueues/{sid}/Statistics",
    response_model=schemas.TaskQueueStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def task_queue_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    given: WindowDep,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    queue = await load_in_workspace(session, TaskQueue, workspace_sid, sid, "TaskQueue")
    channel = await channel_name(session, workspace_sid, task_channel)
    directory, workers = await workspace_workers(call, session, workspace_sid)
    return {
        "account_sid": call.account_sid,
        "cumulative": await cumulative_of(session, workspace_sid, sid, channel, given),
        "realtime": await queue_realtime(session, directory, workers, queue, channel),
        "task_queue_sid": sid,
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/TaskQueues/{sid}/Statistics",
    }


# --- a workflow's ---------------------------------------------------------------------------


def workflow_url(call: RestCall, workspace_sid: str, sid: str) -> str:
    return f"{workspace_url(call, workspace_sid)}/Workflows/{sid}"


async def workflow_realtime(session: SessionDep, workspace_sid: str, sid: str, channel: str | None) -> dict[str, Any]:
    figures = await task_figures(session, *task_scope(workspace_sid, channel), col(Task.workflow_sid) == sid)
    return {
        "longest_task_waiting_age": figures["longest_task_waiting_age"],
        "longest_task_waiting_sid": figures["longest_task_waiting_sid"],
        "tasks_by_priority": figures["tasks_by_priority"],
        "tasks_by_status": figures["tasks_by_status"],
        "total_tasks": figures["total_tasks"],
    }


@router.get(
    "/{workspace_sid}/Workflows/{sid}/RealTimeStatistics",
    response_model=schemas.WorkflowRealTimeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workflow_real_time_statistics(
    call: CallDep, session: SessionDep, workspace_sid: str, sid: str, task_channel: TaskChannelQuery = None
) -> dict[str, Any]:
    await load_in_workspace(session, RoutingWorkflow, workspace_sid, sid, "Workflow")
    channel = await channel_name(session, workspace_sid, task_channel)
    return {
        "account_sid": call.account_sid,
        **await workflow_realtime(session, workspace_sid, sid, channel),
        "workflow_sid": sid,
        "workspace_sid": workspace_sid,
        "url": f"{workflow_url(call, workspace_sid, sid)}/RealTimeStatistics",
    }


@router.get(
    "/{workspace_sid}/Workflows/{sid}/CumulativeStatistics",
    response_model=schemas.WorkflowCumulativeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workflow_cumulative_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    given: WindowDep,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    await load_in_workspace(session, RoutingWorkflow, workspace_sid, sid, "Workflow")
    channel = await channel_name(session, workspace_sid, task_channel)
    return {
        "account_sid": call.account_sid,
        **await cumulative_of(session, workspace_sid, None, channel, given, sid),
        "workflow_sid": sid,
        "workspace_sid": workspace_sid,
        "url": f"{workflow_url(call, workspace_sid, sid)}/CumulativeStatistics",
    }


@router.get(
    "/{workspace_sid}/Workflows/{sid}/Statistics",
    response_model=schemas.WorkflowStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workflow_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    given: WindowDep,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    await load_in_workspace(session, RoutingWorkflow, workspace_sid, sid, "Workflow")
    channel = await channel_name(session, workspace_sid, task_channel)
    return {
        "account_sid": call.account_sid,
        "cumulative": await cumulative_of(session, workspace_sid, None, channel, given, sid),
        "realtime": await workflow_realtime(session, workspace_sid, sid, channel),
        "workflow_sid": sid,
        "workspace_sid": workspace_sid,
        "url": f"{workflow_url(call, workspace_sid, sid)}/Statistics",
    }


# --- the workspace's workers ------------------------------------------------------------------


@router.get(
    "/{workspace_sid}/Workers/RealTimeStatistics",
    response_model=schemas.WorkersRealTimeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workers_real_time_statistics(
    call: CallDep, session: SessionDep, workspace_sid: str, task_channel: TaskChannelQuery = None
) -> dict[str, Any]:
    """Workers by activity. ``TaskChannel`` is checked to exist but does not narrow the count."""
    await load_workspace(session, workspace_sid)
    await channel_name(session, workspace_sid, task_channel)
    activities = await activity_statistics(session, workspace_sid)
    return {
        "account_sid": call.account_sid,
        "activity_statistics": activities,
        "total_workers": sum(a["workers"] for a in activities),
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/Workers/RealTimeStatistics",
    }
