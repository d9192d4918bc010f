"""TaskRouter statistics of a workspace's workers: ``Workers/CumulativeStatistics`` (the window's
reservations of every worker, and how long workers stayed in each activity),
``Workers/Statistics`` (those with the workers by activity now, narrowed to a queue's workers or one
name), ``Workers/{WK}/Statistics`` (one worker's), and the bulk ``TaskQueues/RealTimeStatistics``
(several queues' real-time figures in one call). The figures are computed in ``api.statistics``
(the time in each activity too) and ``api.routing_state``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from api.deps import CallDep, RestCall, SessionDep
from api.routes.taskrouter.common import WORKSPACES_PATH, in_workspace, load_in_workspace, load_workspace, workspace_url
from api.routes.taskrouter.statistics import (
    TaskChannelQuery,
    Window,
    WindowDep,
    channel_name,
    window,
    workspace_workers,
)
from api.routing_state import WorkerDirectory, activity_statistics, queue_realtime
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.statistics import RESERVATION_COUNTS, activity_durations, cumulative_figures
from api.time_figures import HANDLE_TIME_FIELD, WAIT_PERCENTILES_FIELD
from api.twilio_shape import invalid, iso
from switchboard.store.models import TaskQueue, Worker

router = APIRouter(prefix=WORKSPACES_PATH)

# Twilio reads at most 50 queues in one bulk call.
BULK_QUEUES = 50


async def workers_cumulative(
    session: SessionDep, workspace_sid: str, workers: Sequence[Worker], channel: str | None, given: Window
) -> dict[str, Any]:
    """The reservations of ``workers`` in the window, counted by what became of them, and their
    time in each activity, in Twilio's key order; then Switchboard's own percentiles of the waits
    of the tasks they accepted and handle times of those they completed."""
    start, end = window(given.minutes, given.start_date, given.end_date)
    sids = [w.sid for w in workers]
    figures = await cumulative_figures(session, workspace_sid, start, end, channel, None, [], worker_sids=sids)
    return {
        "start_time": iso(start),
        "end_time": iso(end),
        "activity_durations": await activity_durations(session, workspace_sid, start, end, workers),
        **{name: figures[name] for name in (*RESERVATION_COUNTS, WAIT_PERCENTILES_FIELD, HANDLE_TIME_FIELD)},
    }


async def chosen_workers(
    call: RestCall,
    session: SessionDep,
    workspace_sid: str,
    queue_sid: str | None = None,
    queue_name: str | None = None,
    friendly_name: str | None = None,
) -> Sequence[Worker]:
    """The workspace's workers, narrowed as the Workers list narrows them: by name, and to the
    workers a queue (by SID, or by name: none when no queue has it) admits."""
    query = in_workspace(Worker, workspace_sid)
    if friendly_name is not None:
        query = query.where(Worker.friendly_name == friendly_name)
    workers = (await session.exec(query)).all()
    if queue_sid is None and queue_name is None:
        return workers
    queue: TaskQueue | None = None
    if queue_sid is not None:
        queue = await session.get(TaskQueue, queue_sid)
        if queue is None or queue.workspace_sid != workspace_sid:
            raise invalid("TaskQueueSid", f"task queue {queue_sid} is not in workspace {workspace_sid}")
    if queue_name is not None:
        named = in_workspace(TaskQueue, workspace_sid).where(TaskQueue.friendly_name == queue_name)
        by_name = (await session.exec(named)).first()
        if by_name is None or (queue is not None and by_name.sid != queue.sid):
            return []
        queue = by_name
    assert queue is not None
    directory = await WorkerDirectory.load(call.context, session, workspace_sid)
    return [w for w in workers if directory.in_queue(queue, w)]


@router.get(
    "/{workspace_sid}/Workers/CumulativeStatistics",
    response_model=schemas.WorkersCumulativeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workers_cumulative_statistics(
    call: CallDep, session: SessionDep, workspace_sid: str, given: WindowDep, task_channel: TaskChannelQuery = None
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    channel = await channel_name(session, workspace_sid, task_channel)
    workers = await chosen_workers(call, session, workspace_sid)
    return {
        "account_sid": call.account_sid,
        **await workers_cumulative(session, workspace_sid, workers, channel, given),
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/Workers/CumulativeStatistics",
    }


@router.get(
    "/{workspace_sid}/Workers/Statistics",
    response_model=schemas.WorkersStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def workers_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    given: WindowDep,
    task_queue_sid: Annotated[str | None, Query(alias="TaskQueueSid")] = None,
    task_queue_name: Annotated[str | None, Query(alias="TaskQueueName")] = None,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    channel = await channel_name(session, workspace_sid, task_channel)
    workers = await chosen_workers(call, session, workspace_sid, task_queue_sid, task_queue_name, friendly_name)
    activities = await activity_statistics(session, workspace_sid, [w.sid for w in workers])
    return {
        "realtime": {"activity_statistics": activities, "total_workers": len(workers)},
        "cumulative": await workers_cumulative(session, workspace_sid, workers, channel, given),
        "account_sid": call.account_sid,
        "workspace_sid": workspace_sid,
        "url": f"{workspace_url(call, workspace_sid)}/Workers/Statistics",
    }


@router.get(
    "/{workspace_sid}/Workers/{sid}/Statistics",
    response_model=schemas.WorkerStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def worker_statistics(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    given: WindowDep,
    task_channel: TaskChannelQuery = None,
) -> dict[str, Any]:
    worker = await load_in_workspace(session, Worker, workspace_sid, sid, "Worker")
    channel = await channel_name(session, workspace_sid, task_channel)
    return {
        "cumulative": await workers_cumulative(session, workspace_sid, [worker], channel, given),
        "account_sid": call.account_sid,
        "workspace_sid": workspace_sid,
        "worker_sid": sid,
        "url": f"{workspace_url(call, workspace_sid)}/Workers/{sid}/Statistics",
    }


@router.post(
    "/{workspace_sid}/TaskQueues/RealTimeStatistics",
    response_model=schemas.TaskQueuesBulkRealTimeStatistics,
    responses=error_responses(*REST_ERRORS, 404),
)
async def task_queues_bulk_real_time_statistics(
    call: CallDep, session: SessionDep, workspace_sid: str, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    """The real-time figures of the queues the JSON body lists (an array of up to 50 SIDs)."""
    await load_workspace(session, workspace_sid)
    if not isinstance(body, list) or not body or len(body) > BULK_QUEUES or not all(isinstance(s, str) for s in body):
        raise invalid("TaskQueueSids", f"the body must be a JSON array of 1 to {BULK_QUEUES} TaskQueue SIDs")
    queues = [await load_in_workspace(session, TaskQueue, workspace_sid, sid, "TaskQueue") for sid in body]
    directory, workers = await workspace_workers(call, session, workspace_sid)
    data = []
    for queue in queues:
        figures = await queue_realtime(session, directory, workers, queue, None)
        data.append(
            {
                "task_queue_sid": queue.sid,
                **{name: figures[name] for name in BULK_FIGURES},
            }
        )
    return {
        "account_sid": call.account_sid,
        "workspace_sid": workspace_sid,
        "task_queue_data": data,
        "task_queue_response_count": len(data),
        "url": f"{workspace_url(call, workspace_sid)}/TaskQueues/RealTimeStatistics",
    }


# A queue's figures in the bulk answer, as Twilio lists them.
BULK_FIGURES = (
    "longest_task_waiting_age",
    "longest_task_waiting_sid",
    "total_tasks",
    "total_eligible_workers",
    "total_available_workers",
    "tasks_by_status",
    "tasks_by_priority",
    "activity_statistics",
)
