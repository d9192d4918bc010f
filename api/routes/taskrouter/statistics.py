"""TaskRouter statistics computed from the store: a workspace's and a task queue's
``RealTimeStatistics`` (tasks by status and priority, the longest waiting task, workers by
activity, and a queue's eligible and available workers) and ``CumulativeStatistics`` (the events
of a window counted by type, and how long tasks waited until accepted or canceled). Each call is a
few aggregate queries; only a queue's eligible workers are found in Python, since its
TargetWorkers expression reads the workers' encrypted attributes. The real-time queries live in
``api.routing_state``, which the supervisor view shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import ColumnElement, and_, case, func
from sqlmodel import col, select

from api.after_chat import rating_figures
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
from api.routes.taskrouter.time_figures import (
    HANDLE_TIME_FIELD,
    WAIT_PERCENTILES,
    WAIT_PERCENTILES_FIELD,
    handle_time,
    percentiles,
    seconds_between,
)
from api.routing_state import WorkerDirectory, activity_statistics, queue_realtime, task_figures, task_scope
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import invalid, iso, parse_date
from switchboard.store.models import (
    ChatRating,
    Reservation,
    RoutingEventRow,
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
# The counters, each the number of events of its type in the window.
RESERVATION_COUNTS = {
    "reservations_created": "reservation.created",
    "reservations_accepted": "reservation.accepted",
    "reservations_rejected": "reservation.rejected",
    "reservations_timed_out": "reservation.timeout",
    "reservations_canceled": "reservation.canceled",
    "reservations_rescinded": "reservation.rescinded",
}
TASK_COUNTS = {
    "tasks_canceled": "task.canceled",
    "tasks_completed": "task.completed",
    "tasks_created": "task.created",
    "tasks_deleted": "task.deleted",
    "tasks_moved": "task-queue.moved",
    "tasks_entered": "task-queue.entered",
    "tasks_timed_out_in_workflow": "workflow.timeout",
}

# Switchboard's own field in the cumulative statistics (Twilio has none): the window's post-chat
# ratings of the web chat, counted, averaged and by value (docs/routing.md).
RATINGS_FIELD = "switchboard_post_chat_ratings"

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


def durations(avg: Any, low: Any, high: Any, total: Any) -> dict[str, int]:
    return {
        "avg": round(avg or 0),
        "min": round(low or 0),
        "max": round(high or 0),
        "total": round(total or 0),
    }


async def cumulative_figures(
    session: SessionDep,
    workspace_sid: str,
    start: datetime,
    end: datetime,
    channel: str | None,
    queue_sid: str | None,
    splits: list[int],
    workflow_sid: str | None = None,
    worker_sids: list[str] | None = None,
) -> dict[str, Any]:
    """The window's events counted by type, the waits of the tasks accepted or canceled in it
    (from the task's creation, and for a queue from its entering the queue) with the percentiles
    of those accepted, and the handle times of the tasks completed in it; with ``worker_sids``,
    only the events (and reservations) of those workers."""
    event = RoutingEventRow
    scope: list[ColumnElement[bool] | bool] = [
        col(event.workspace_sid) == workspace_sid,
        col(event.event_date) >= start,
        col(event.event_date) <= end,
    ]
    if queue_sid is not None:
        scope.append(col(event.queue_sid) == queue_sid)
    if workflow_sid is not None:
        scope.append(col(event.workflow_sid) == workflow_sid)
    if worker_sids is not None:
        scope.append(col(event.worker_sid).in_(worker_sids))
    counted = select(event.event_type, func.count()).where(*scope)
    if channel is not None:
        counted = counted.join(Task, col(Task.sid) == col(event.task_sid)).where(
            col(Task.task_channel_unique_name) == channel
        )
    counts = dict((await session.exec(counted.group_by(col(event.event_type)))).all())
    figures: dict[str, Any] = {
        name: counts.get(kind, 0) for name, kind in {**RESERVATION_COUNTS, **TASK_COUNTS}.items()
    }
    # The router emits no event when a task's end cancels its pending reservation: the
    # reservations themselves say how many were canceled in the window.
    canceled_offers = (
        select(func.count())
        .select_from(Reservation)
        .join(Task, col(Task.sid) == col(Reservation.task_sid))
        .where(
            col(Reservation.workspace_sid) == workspace_sid,
            col(Reservation.reservation_status) == "canceled",
            col(Reservation.date_updated) >= start,
            col(Reservation.date_updated) <= end,
        )
    )
    if queue_sid is not None:
        canceled_offers = canceled_offers.where(col(Task.task_queue_sid) == queue_sid)
    if workflow_sid is not None:
        canceled_offers = canceled_offers.where(col(Task.workflow_sid) == workflow_sid)
        # A task enters its workflow when it is created.
        figures["tasks_entered"] = figures["tasks_created"]
    if channel is not None:
        canceled_offers = canceled_offers.where(col(Task.task_channel_unique_name) == channel)
    if worker_sids is not None:
        canceled_offers = canceled_offers.where(col(Reservation.worker_sid).in_(worker_sids))
    figures["reservations_canceled"] += (await session.exec(canceled_offers)).one()
    rated: list[ColumnElement[bool] | bool] = [
        col(ChatRating.workspace_sid) == workspace_sid,
        col(ChatRating.date_created) >= start,
        col(ChatRating.date_created) <= end,
    ]
    if queue_sid is not None:
        rated.append(col(Task.task_queue_sid) == queue_sid)
    if workflow_sid is not None:
        rated.append(col(Task.workflow_sid) == workflow_sid)
    if channel is not None:
        rated.append(col(Task.task_channel_unique_name) == channel)
    figures[RATINGS_FIELD] = await rating_figures(session, *rated)

    joined = [*scope, col(Task.sid) == col(event.task_sid)]
    if channel is not None:
        joined.append(col(Task.task_channel_unique_name) == channel)
    waited = seconds_between(session, col(event.event_date), col(Task.date_created))
    in_queue = seconds_between(session, col(event.event_date), col(Task.task_queue_entered_date))
    accepted = col(event.event_type) == "reservation.accepted"
    canceled = col(event.event_type) == "task.canceled"

    def stats(of: Any, when: Any) -> list[Any]:
        value = case((when, of))
        return [func.avg(value), func.min(value), func.max(value), func.sum(value)]

    def count(when: Any) -> Any:
        return func.sum(case((when, 1), else_=0))

    split_columns = [
        count(and_(kind, waited >= limit) if above else and_(kind, waited < limit))
        for limit in splits
        for kind in (accepted, canceled)
        for above in (True, False)
    ]
    tallies = [count(accepted), *split_columns]  # the number of waits until accepted, then the splits
    row = (
        await session.exec(
            select(*stats(waited, accepted), *stats(waited, canceled), *stats(in_queue, accepted), *tallies)
            .select_from(event)
            .join(Task, col(Task.sid) == col(event.task_sid))
            .where(*joined, accepted | canceled)
        )
    ).one()
    figures["wait_duration_until_accepted"] = durations(*row[0:4])
    figures["wait_duration_until_canceled"] = durations(*row[4:8])
    figures["wait_duration_in_queue_until_accepted"] = durations(*row[8:12])
    figures["avg_task_acceptance_time"] = figures["wait_duration_until_accepted"]["avg"]
    waits = select(func.count()).select_from(event).join(Task, col(Task.sid) == col(event.task_sid))
    waits = waits.where(*joined, accepted)  # the samples of wait_duration_until_accepted
    [ranked] = await percentiles(session, waits, [waited], int(row[12] or 0), WAIT_PERCENTILES)
    figures[WAIT_PERCENTILES_FIELD] = ranked
    figures[HANDLE_TIME_FIELD] = await handle_time(session, scope, channel)
    split_counts = [int(value or 0) for value in row[13:]]
    figures["split_by_wait_time"] = (
        {
            str(limit): {
                "above": {"reservations_accepted": split_counts[i * 4], "tasks_canceled": split_counts[i * 4 + 2]},
                "below": {"reservations_accepted": split_counts[i * 4 + 1], "tasks_canceled": split_counts[i * 4 + 3]},
            }
            for i, limit in enumerate(splits)
        }
        if splits
        else None
    )
    return figures


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
