"""TaskRouter v1: Workspaces with their Activities, TaskChannels, TaskQueues and Workflows (create,
list, fetch, update, delete), and Tasks (list and fetch; tasks are created by flows and
integrations)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Query, Response
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, delete, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.twilio_shape import CONFLICT, PageRequest, TwilioError, TwilioForm, invalid, iso, not_found
from store.defaults import new_workspace
from store.models import (
    RoutingWorkflow,
    Task,
    TaskChannel,
    TaskQueue,
    Workspace,
    WorkspaceActivity,
    utcnow,
)
from workflows import sids

router = APIRouter(prefix="/v1/Workspaces", tags=["taskrouter"], dependencies=[Depends(require_account)])

RowT = TypeVar("RowT", bound=SQLModel)
QueueOrder = Literal["FIFO", "LIFO"]
TaskStatus = Literal["pending", "reserved", "assigned", "canceled", "completed", "wrapping"]
TASK_STATUSES: tuple[str, ...] = ("pending", "reserved", "assigned", "canceled", "completed", "wrapping")
# Tasks in these states still need their workflow, queue and channel.
LIVE_TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping")
NAME_LENGTH = 64


async def page_of(
    call: RestCall,
    session: SessionDep,
    query: SelectOfScalar[RowT],
    paging: PageRequest,
    key: str,
    render: Callable[[Sequence[RowT]], Awaitable[list[dict[str, Any]]]],
) -> dict[str, Any]:
    """Like ``RestCall.offset_page``, for resources whose rendering looks up related rows once per
    page."""
    rows = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
    items = await render(rows[: paging.page_size])
    return call.page(key, items, paging, None, len(rows) > paging.page_size)


def checked_url(value: str | None, parameter: str) -> str | None:
    """An absolute http(s) URL; an empty value clears the setting."""
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise invalid(parameter, "must be an absolute http(s) URL")
    return value


def workspace_url(call: RestCall, workspace_sid: str) -> str:
    return f"{call.url('')}/v1/Workspaces/{workspace_sid}"


async def activity_names(session: SessionDep, activity_sids: Iterable[str | None]) -> dict[str, str]:
    wanted = {sid for sid in activity_sids if sid}
    if not wanted:
        return {}
    query = select(WorkspaceActivity).where(col(WorkspaceActivity.sid).in_(wanted))
    return {a.sid: a.friendly_name for a in (await session.exec(query)).all()}


async def load_activity_sid(session: SessionDep, workspace_sid: str, sid: str | None, parameter: str) -> str | None:
    """An activity SID given in a form: it must be an activity of this workspace."""
    if sid is None:
        return None
    activity = await session.get(WorkspaceActivity, sid) if sids.is_sid(sid, sids.ACTIVITY) else None
    if activity is None or activity.workspace_sid != workspace_sid:
        raise invalid(parameter, f"{sid} is not an Activity of workspace {workspace_sid}")
    return sid


# --- workspaces -------------------------------------------------------------------------------


class WorkspaceForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    event_callback_url: str | None = Field(None, alias="EventCallbackUrl", max_length=2048)
    events_filter: str | None = Field(None, alias="EventsFilter", max_length=4096)
    multi_task_enabled: bool | None = Field(None, alias="MultiTaskEnabled")
    template: Literal["NONE", "FIFO"] | None = Field(None, alias="Template")
    prioritize_queue_order: QueueOrder | None = Field(None, alias="PrioritizeQueueOrder")
    default_activity_sid: str | None = Field(None, alias="DefaultActivitySid")
    timeout_activity_sid: str | None = Field(None, alias="TimeoutActivitySid")


def render_workspace(call: RestCall, workspace: Workspace, names: dict[str, str]) -> dict[str, Any]:
    url = workspace_url(call, workspace.sid)
    return {
        "account_sid": call.account_sid,
        "date_created": iso(workspace.date_created),
        "date_updated": iso(workspace.date_updated),
        "default_activity_name": names.get(workspace.default_activity_sid or ""),
        "default_activity_sid": workspace.default_activity_sid,
        "event_callback_url": workspace.event_callback_url,
        "events_filter": workspace.events_filter,
        "friendly_name": workspace.friendly_name,
        "multi_task_enabled": workspace.multi_task_enabled,
        "sid": workspace.sid,
        "timeout_activity_name": names.get(workspace.timeout_activity_sid or ""),
        "timeout_activity_sid": workspace.timeout_activity_sid,
        "prioritize_queue_order": workspace.prioritize_queue_order,
        "url": url,
        "links": {
            "activities": f"{url}/Activities",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "events": f"{url}/Events",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "statistics": f"{url}/Statistics",
            "task_channels": f"{url}/TaskChannels",
            "task_queues": f"{url}/TaskQueues",
            "tasks": f"{url}/Tasks",
            "workers": f"{url}/Workers",
            "workflows": f"{url}/Workflows",
        },
    }


async def workspace_body(call: RestCall, session: SessionDep, workspace: Workspace) -> dict[str, Any]:
    names = await activity_names(session, (workspace.default_activity_sid, workspace.timeout_activity_sid))
    return render_workspace(call, workspace, names)


async def load_workspace(session: SessionDep, workspace_sid: str) -> Workspace:
    workspace = await session.get(Workspace, workspace_sid)
    if workspace is None:
        raise not_found("Workspace", workspace_sid)
    return workspace


@router.post("", status_code=201)
async def create_workspace(
    call: CallDep,
    session: SessionDep,
    form: Annotated[WorkspaceForm, Form()],
) -> dict[str, Any]:
    if form.friendly_name is None:
        raise invalid("FriendlyName", "is required")
    workspace = Workspace(
        sid=sids.new_sid(sids.WORKSPACE),
        friendly_name=form.friendly_name,
        event_callback_url=checked_url(form.event_callback_url, "EventCallbackUrl"),
        events_filter=form.events_filter or None,
        multi_task_enabled=True if form.multi_task_enabled is None else form.multi_task_enabled,
        prioritize_queue_order=form.prioritize_queue_order or "FIFO",
        template=form.template or "NONE",
    )
    created = new_workspace(workspace)
    session.add(workspace)
    await session.flush()  # before the rows that refer to it
    for row in created.rows()[1:]:
        session.add(row)
    await session.commit()
    return render_workspace(call, workspace, {a.sid: a.friendly_name for a in created.activities})


@router.get("")
async def list_workspaces(
    call: CallDep,
    session: SessionDep,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
) -> dict[str, Any]:
    query = select(Workspace)
    if friendly_name is not None:
        query = query.where(Workspace.friendly_name == friendly_name)
    query = query.order_by(col(Workspace.date_created), col(Workspace.sid))

    async def render(rows: Sequence[Workspace]) -> list[dict[str, Any]]:
        names = await activity_names(
            session, [s for w in rows for s in (w.default_activity_sid, w.timeout_activity_sid)]
        )
        return [render_workspace(call, w, names) for w in rows]

    return await page_of(call, session, query, paging, "workspaces", render)


@router.get("/{workspace_sid}")
async def fetch_workspace(call: CallDep, session: SessionDep, workspace_sid: str) -> dict[str, Any]:
    return await workspace_body(call, session, await load_workspace(session, workspace_sid))


@router.post("/{workspace_sid}")
async def update_workspace(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[WorkspaceForm, Form()],
) -> dict[str, Any]:
    workspace = await load_workspace(session, workspace_sid)
    if form.friendly_name is not None:
        workspace.friendly_name = form.friendly_name
    if form.event_callback_url is not None:
        workspace.event_callback_url = checked_url(form.event_callback_url, "EventCallbackUrl")
    if form.events_filter is not None:
        workspace.events_filter = form.events_filter or None
    if form.multi_task_enabled is not None:
        workspace.multi_task_enabled = form.multi_task_enabled
    if form.prioritize_queue_order is not None:
        workspace.prioritize_queue_order = form.prioritize_queue_order
    for name, alias in (("default_activity_sid", "DefaultActivitySid"), ("timeout_activity_sid", "TimeoutActivitySid")):
        given = getattr(form, name)
        if given is not None:
            setattr(workspace, name, await load_activity_sid(session, workspace_sid, given, alias))
    workspace.date_updated = utcnow()
    session.add(workspace)
    await session.commit()
    return await workspace_body(call, session, workspace)


@router.delete("/{workspace_sid}", status_code=204)
async def delete_workspace(session: SessionDep, workspace_sid: str) -> Response:
    """Deletes the workspace with everything in it, as Twilio does."""
    workspace = await load_workspace(session, workspace_sid)
    for model in (Task, RoutingWorkflow, TaskQueue, TaskChannel, WorkspaceActivity):
        await session.exec(delete(model).where(col(model.workspace_sid) == workspace_sid))
    await session.delete(workspace)
    await session.commit()
    return Response(status_code=204)


# --- activities -------------------------------------------------------------------------------


class ActivityForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    available: bool | None = Field(None, alias="Available")


def render_activity(call: RestCall, activity: WorkspaceActivity) -> dict[str, Any]:
    ws_url = workspace_url(call, activity.workspace_sid)
    return {
        "account_sid": call.account_sid,
        "available": activity.available,
        "date_created": iso(activity.date_created),
        "date_updated": iso(activity.date_updated),
        "friendly_name": activity.friendly_name,
        "sid": activity.sid,
        "workspace_sid": activity.workspace_sid,
        "url": f"{ws_url}/Activities/{activity.sid}",
        "links": {"workers": f"{ws_url}/Workers?ActivitySid={activity.sid}", "workspace": ws_url},
    }


async def load_activity(session: SessionDep, workspace_sid: str, sid: str) -> WorkspaceActivity:
    activity = await session.get(WorkspaceActivity, sid)
    if activity is None or activity.workspace_sid != workspace_sid:
        raise not_found("Activity", sid)
    return activity


@router.post("/{workspace_sid}/Activities", status_code=201)
async def create_activity(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[ActivityForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    if form.friendly_name is None:
        raise invalid("FriendlyName", "is required")
    activity = WorkspaceActivity(
        sid=sids.new_sid(sids.ACTIVITY),
        workspace_sid=workspace_sid,
        friendly_name=form.friendly_name,
        available=bool(form.available),
    )
    session.add(activity)
    await session.commit()
    return render_activity(call, activity)


@router.get("/{workspace_sid}/Activities")
async def list_activities(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
    available: Annotated[bool | None, Query(alias="Available")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = select(WorkspaceActivity).where(WorkspaceActivity.workspace_sid == workspace_sid)
    if friendly_name is not None:
        query = query.where(WorkspaceActivity.friendly_name == friendly_name)
    if available is not None:
        query = query.where(col(WorkspaceActivity.available).is_(available))
    query = query.order_by(col(WorkspaceActivity.date_created), col(WorkspaceActivity.sid))
    return await call.offset_page(session, query, paging, "activities", render_activity)


@router.get("/{workspace_sid}/Activities/{sid}")
async def fetch_activity(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return render_activity(call, await load_activity(session, workspace_sid, sid))


@router.post("/{workspace_sid}/Activities/{sid}")
async def update_activity(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[ActivityForm, Form()],
) -> dict[str, Any]:
    """Only the name changes; whether an activity is available is fixed at creation."""
    activity = await load_activity(session, workspace_sid, sid)
    if form.friendly_name is not None:
        activity.friendly_name = form.friendly_name
    activity.date_updated = utcnow()
    session.add(activity)
    await session.commit()
    return render_activity(call, activity)


@router.delete("/{workspace_sid}/Activities/{sid}", status_code=204)
async def delete_activity(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    activity = await load_activity(session, workspace_sid, sid)
    workspace = await load_workspace(session, workspace_sid)
    if sid in (workspace.default_activity_sid, workspace.timeout_activity_sid):
        raise TwilioError(400, f"Activity {sid} is the default or timeout activity of workspace {workspace_sid}")
    users = select(TaskQueue.sid).where(
        TaskQueue.workspace_sid == workspace_sid,
        or_(TaskQueue.reservation_activity_sid == sid, TaskQueue.assignment_activity_sid == sid),
    )
    queue = (await session.exec(users)).first()
    if queue is not None:
        raise TwilioError(400, f"Activity {sid} is used by TaskQueue {queue}")
    await session.delete(activity)
    await session.commit()
    return Response(status_code=204)


# --- task channels ----------------------------------------------------------------------------


class TaskChannelForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    unique_name: str | None = Field(None, alias="UniqueName", min_length=1, max_length=NAME_LENGTH)
    channel_optimized_routing: bool | None = Field(None, alias="ChannelOptimizedRouting")


def render_task_channel(call: RestCall, channel: TaskChannel) -> dict[str, Any]:
    ws_url = workspace_url(call, channel.workspace_sid)
    return {
        "account_sid": call.account_sid,
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
        "friendly_name": channel.friendly_name,
        "sid": channel.sid,
        "unique_name": channel.unique_name,
        "workspace_sid": channel.workspace_sid,
        "channel_optimized_routing": channel.channel_optimized_routing,
        "url": f"{ws_url}/TaskChannels/{channel.sid}",
        "links": {"workspace": ws_url},
    }


async def load_task_channel(session: SessionDep, workspace_sid: str, sid: str) -> TaskChannel:
    """A task channel by SID or, as Twilio allows, by unique name."""
    if sids.is_sid(sid, sids.TASK_CHANNEL):
        channel = await session.get(TaskChannel, sid)
    else:
        query = select(TaskChannel).where(TaskChannel.workspace_sid == workspace_sid, TaskChannel.unique_name == sid)
        channel = (await session.exec(query)).first()
    if channel is None or channel.workspace_sid != workspace_sid:
        raise not_found("TaskChannel", sid)
    return channel


@router.post("/{workspace_sid}/TaskChannels", status_code=201)
async def create_task_channel(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[TaskChannelForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    if form.friendly_name is None:
        raise invalid("FriendlyName", "is required")
    if form.unique_name is None:
        raise invalid("UniqueName", "is required")
    if sids.SID_PATTERN.match(form.unique_name):
        raise invalid("UniqueName", "must not look like a SID")
    taken = TwilioError(409, f"TaskChannel with UniqueName {form.unique_name} already exists", CONFLICT)
    query = select(TaskChannel.sid).where(
        TaskChannel.workspace_sid == workspace_sid, TaskChannel.unique_name == form.unique_name
    )
    if (await session.exec(query)).first():
        raise taken
    channel = TaskChannel(
        sid=sids.new_sid(sids.TASK_CHANNEL),
        workspace_sid=workspace_sid,
        friendly_name=form.friendly_name,
        unique_name=form.unique_name,
        channel_optimized_routing=form.channel_optimized_routing,
    )
    session.add(channel)
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent create took the name
        raise taken from exc
    return render_task_channel(call, channel)


@router.get("/{workspace_sid}/TaskChannels")
async def list_task_channels(
    call: CallDep, session: SessionDep, workspace_sid: str, paging: PagingDep
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = (
        select(TaskChannel)
        .where(TaskChannel.workspace_sid == workspace_sid)
        .order_by(col(TaskChannel.date_created), col(TaskChannel.sid))
    )
    return await call.offset_page(session, query, paging, "channels", render_task_channel)


@router.get("/{workspace_sid}/TaskChannels/{sid}")
async def fetch_task_channel(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return render_task_channel(call, await load_task_channel(session, workspace_sid, sid))


@router.post("/{workspace_sid}/TaskChannels/{sid}")
async def update_task_channel(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[TaskChannelForm, Form()],
) -> dict[str, Any]:
    """The unique name is fixed at creation (tasks refer to it)."""
    channel = await load_task_channel(session, workspace_sid, sid)
    if form.friendly_name is not None:
        channel.friendly_name = form.friendly_name
    if form.channel_optimized_routing is not None:
        channel.channel_optimized_routing = form.channel_optimized_routing
    channel.date_updated = utcnow()
    session.add(channel)
    await session.commit()
    return render_task_channel(call, channel)


@router.delete("/{workspace_sid}/TaskChannels/{sid}", status_code=204)
async def delete_task_channel(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    channel = await load_task_channel(session, workspace_sid, sid)
    live = select(Task.sid).where(
        Task.workspace_sid == workspace_sid,
        Task.task_channel_unique_name == channel.unique_name,
        col(Task.assignment_status).in_(LIVE_TASK_STATUSES),
    )
    task = (await session.exec(live)).first()
    if task is not None:
        raise TwilioError(400, f"TaskChannel {channel.sid} has active Tasks (for example {task})")
    await session.delete(channel)
    await session.commit()
    return Response(status_code=204)


# --- task queues ------------------------------------------------------------------------------


class TaskQueueForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    target_workers: str | None = Field(None, alias="TargetWorkers", max_length=4096)
    max_reserved_workers: int | None = Field(None, alias="MaxReservedWorkers", ge=1, le=50)
    task_order: QueueOrder | None = Field(None, alias="TaskOrder")
    reservation_activity_sid: str | None = Field(None, alias="ReservationActivitySid")
    assignment_activity_sid: str | None = Field(None, alias="AssignmentActivitySid")


def render_task_queue(call: RestCall, queue: TaskQueue, names: dict[str, str]) -> dict[str, Any]:
    ws_url = workspace_url(call, queue.workspace_sid)
    url = f"{ws_url}/TaskQueues/{queue.sid}"

    def activity_url(sid: str | None) -> str | None:
        return f"{ws_url}/Activities/{sid}" if sid else None

    return {
        "account_sid": call.account_sid,
        "assignment_activity_sid": queue.assignment_activity_sid,
        "assignment_activity_name": names.get(queue.assignment_activity_sid or ""),
        "date_created": iso(queue.date_created),
        "date_updated": iso(queue.date_updated),
        "friendly_name": queue.friendly_name,
        "max_reserved_workers": queue.max_reserved_workers,
        "reservation_activity_sid": queue.reservation_activity_sid,
        "reservation_activity_name": names.get(queue.reservation_activity_sid or ""),
        "sid": queue.sid,
        "target_workers": queue.target_workers,
        "task_order": queue.task_order,
        "url": url,
        "workspace_sid": queue.workspace_sid,
        "links": {
            "assignment_activity": activity_url(queue.assignment_activity_sid),
            "reservation_activity": activity_url(queue.reservation_activity_sid),
            "workspace": ws_url,
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "list_statistics": f"{ws_url}/TaskQueues/Statistics",
            "bulk_real_time_statistics": f"{ws_url}/TaskQueues/RealTimeStatistics",
        },
    }


async def task_queue_body(call: RestCall, session: SessionDep, queue: TaskQueue) -> dict[str, Any]:
    names = await activity_names(session, (queue.reservation_activity_sid, queue.assignment_activity_sid))
    return render_task_queue(call, queue, names)


async def load_task_queue(session: SessionDep, workspace_sid: str, sid: str) -> TaskQueue:
    queue = await session.get(TaskQueue, sid)
    if queue is None or queue.workspace_sid != workspace_sid:
        raise not_found("TaskQueue", sid)
    return queue


async def apply_task_queue_form(session: SessionDep, queue: TaskQueue, form: TaskQueueForm) -> None:
    for name in ("friendly_name", "target_workers", "max_reserved_workers", "task_order"):
        if getattr(form, name) is not None:
            setattr(queue, name, getattr(form, name))
    for name, alias in (
        ("reservation_activity_sid", "ReservationActivitySid"),
        ("assignment_activity_sid", "AssignmentActivitySid"),
    ):
        given = getattr(form, name)
        if given is not None:
            setattr(queue, name, await load_activity_sid(session, queue.workspace_sid, given, alias))
    queue.date_updated = utcnow()


@router.post("/{workspace_sid}/TaskQueues", status_code=201)
async def create_task_queue(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[TaskQueueForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    if form.friendly_name is None:
        raise invalid("FriendlyName", "is required")
    queue = TaskQueue(sid=sids.new_sid(sids.TASK_QUEUE), workspace_sid=workspace_sid, friendly_name=form.friendly_name)
    await apply_task_queue_form(session, queue, form)
    session.add(queue)
    await session.commit()
    return await task_queue_body(call, session, queue)


@router.get("/{workspace_sid}/TaskQueues")
async def list_task_queues(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
    worker_sid: Annotated[str | None, Query(alias="WorkerSid")] = None,
    evaluate_worker_attributes: Annotated[str | None, Query(alias="EvaluateWorkerAttributes")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    # Filtering by workers needs workers and the expression evaluator; refusing beats a wrong list.
    if worker_sid is not None:
        raise invalid("WorkerSid", "is not supported yet")
    if evaluate_worker_attributes is not None:
        raise invalid("EvaluateWorkerAttributes", "is not supported yet")
    query = select(TaskQueue).where(TaskQueue.workspace_sid == workspace_sid)
    if friendly_name is not None:
        query = query.where(TaskQueue.friendly_name == friendly_name)
    query = query.order_by(col(TaskQueue.date_created), col(TaskQueue.sid))

    async def render(rows: Sequence[TaskQueue]) -> list[dict[str, Any]]:
        names = await activity_names(
            session, [s for q in rows for s in (q.reservation_activity_sid, q.assignment_activity_sid)]
        )
        return [render_task_queue(call, q, names) for q in rows]

    return await page_of(call, session, query, paging, "task_queues", render)


@router.get("/{workspace_sid}/TaskQueues/{sid}")
async def fetch_task_queue(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return await task_queue_body(call, session, await load_task_queue(session, workspace_sid, sid))


@router.post("/{workspace_sid}/TaskQueues/{sid}")
async def update_task_queue(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[TaskQueueForm, Form()],
) -> dict[str, Any]:
    queue = await load_task_queue(session, workspace_sid, sid)
    await apply_task_queue_form(session, queue, form)
    session.add(queue)
    await session.commit()
    return await task_queue_body(call, session, queue)


@router.delete("/{workspace_sid}/TaskQueues/{sid}", status_code=204)
async def delete_task_queue(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    queue = await load_task_queue(session, workspace_sid, sid)
    workflows = (
        await session.exec(select(RoutingWorkflow).where(RoutingWorkflow.workspace_sid == workspace_sid))
    ).all()
    users = [w.sid for w in workflows if sid in configured_queues(w.configuration)]
    if users:
        raise TwilioError(400, f"TaskQueue {sid} is a target of Workflow {', '.join(users)}")
    await session.delete(queue)
    await session.commit()
    return Response(status_code=204)


# --- workflows --------------------------------------------------------------------------------


class WorkflowForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    configuration: str | None = Field(None, alias="Configuration", max_length=65536)
    assignment_callback_url: str | None = Field(None, alias="AssignmentCallbackUrl", max_length=2048)
    fallback_assignment_callback_url: str | None = Field(None, alias="FallbackAssignmentCallbackUrl", max_length=2048)
    task_reservation_timeout: int | None = Field(None, alias="TaskReservationTimeout", ge=1, le=86400)


def configured_queues(configuration: str) -> set[str]:
    """The queue SIDs a stored configuration targets."""
    routing = json.loads(configuration).get("task_routing", {})
    targets = [t for f in routing.get("filters") or [] for t in f.get("targets") or []]
    if isinstance(routing.get("default_filter"), dict):
        targets.append(routing["default_filter"])
    return {t["queue"] for t in targets if isinstance(t, dict) and isinstance(t.get("queue"), str)}


def check_target(target: Any, where: str, workspace_sid: str, queues: set[str]) -> None:
    def problem(text: str) -> TwilioError:
        return invalid("Configuration", f"{where} {text}")

    if not isinstance(target, dict):
        raise problem("must be an object with a queue")
    queue = target.get("queue")
    if not isinstance(queue, str) or not queue:
        raise problem("has no queue (a TaskQueue SID)")
    if not sids.is_sid(queue, sids.TASK_QUEUE):
        raise problem(f"queue {queue!r} is not a TaskQueue SID (WQ followed by 32 hex digits)")
    if queue not in queues:
        raise problem(f"queue {queue} is not a TaskQueue of workspace {workspace_sid}")
    for name in ("priority", "timeout"):
        value = target.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise problem(f"{name} must be a non-negative integer")
    for name in ("expression", "order_by", "known_worker_sid", "known_worker_friendly_name"):
        if target.get(name) is not None and not isinstance(target[name], str):
            raise problem(f"{name} must be a string")


def checked_configuration(text: str, workspace_sid: str, queues: set[str]) -> str:
    """The configuration as given, once it is a task_routing object whose every target is a
    TaskQueue of this workspace. Expressions are stored as written (the router parses them)."""
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise invalid("Configuration", f"must be JSON ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(config.get("task_routing"), dict):
        raise invalid("Configuration", 'must be a JSON object with a "task_routing" object')
    routing = config["task_routing"]
    filters = routing.get("filters", [])
    if not isinstance(filters, list):
        raise invalid("Configuration", "task_routing.filters must be a list")
    for index, item in enumerate(filters):
        where = f"task_routing.filters[{index}]"
        if not isinstance(item, dict):
            raise invalid("Configuration", f"{where} must be an object")
        for name in ("expression", "filter_friendly_name"):
            if item.get(name) is not None and not isinstance(item[name], str):
                raise invalid("Configuration", f"{where}.{name} must be a string")
        targets = item.get("targets")
        if not isinstance(targets, list) or not targets:
            raise invalid("Configuration", f"{where}.targets must be a non-empty list")
        for t_index, target in enumerate(targets):
            check_target(target, f"{where}.targets[{t_index}]", workspace_sid, queues)
    if routing.get("default_filter") is not None:
        check_target(routing["default_filter"], "task_routing.default_filter", workspace_sid, queues)
    return text


async def workspace_queues(session: SessionDep, workspace_sid: str) -> set[str]:
    query = select(TaskQueue.sid).where(TaskQueue.workspace_sid == workspace_sid)
    return set((await session.exec(query)).all())


def render_workflow(call: RestCall, routing: RoutingWorkflow) -> dict[str, Any]:
    ws_url = workspace_url(call, routing.workspace_sid)
    url = f"{ws_url}/Workflows/{routing.sid}"
    return {
        "account_sid": call.account_sid,
        "assignment_callback_url": routing.assignment_callback_url,
        "configuration": routing.configuration,
        "date_created": iso(routing.date_created),
        "date_updated": iso(routing.date_updated),
        "document_content_type": "application/json",
        "fallback_assignment_callback_url": routing.fallback_assignment_callback_url,
        "friendly_name": routing.friendly_name,
        "sid": routing.sid,
        "task_reservation_timeout": routing.task_reservation_timeout,
        "workspace_sid": routing.workspace_sid,
        "url": url,
        "links": {
            "statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "workspace": ws_url,
        },
    }


async def load_workflow(session: SessionDep, workspace_sid: str, sid: str) -> RoutingWorkflow:
    routing = await session.get(RoutingWorkflow, sid)
    if routing is None or routing.workspace_sid != workspace_sid:
        raise not_found("Workflow", sid)
    return routing


async def apply_workflow_form(session: SessionDep, routing: RoutingWorkflow, form: WorkflowForm) -> None:
    if form.friendly_name is not None:
        routing.friendly_name = form.friendly_name
    if form.configuration is not None:
        queues = await workspace_queues(session, routing.workspace_sid)
        routing.configuration = checked_configuration(form.configuration, routing.workspace_sid, queues)
    if form.assignment_callback_url is not None:
        routing.assignment_callback_url = checked_url(form.assignment_callback_url, "AssignmentCallbackUrl")
    if form.fallback_assignment_callback_url is not None:
        routing.fallback_assignment_callback_url = checked_url(
            form.fallback_assignment_callback_url, "FallbackAssignmentCallbackUrl"
        )
    if form.task_reservation_timeout is not None:
        routing.task_reservation_timeout = form.task_reservation_timeout
    routing.date_updated = utcnow()


@router.post("/{workspace_sid}/Workflows", status_code=201)
async def create_workflow(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[WorkflowForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    if form.friendly_name is None:
        raise invalid("FriendlyName", "is required")
    if form.configuration is None:
        raise invalid("Configuration", "is required")
    routing = RoutingWorkflow(
        sid=sids.new_sid(sids.WORKFLOW),
        workspace_sid=workspace_sid,
        friendly_name=form.friendly_name,
        configuration="{}",
    )
    await apply_workflow_form(session, routing, form)
    session.add(routing)
    await session.commit()
    return render_workflow(call, routing)


@router.get("/{workspace_sid}/Workflows")
async def list_workflows(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = select(RoutingWorkflow).where(RoutingWorkflow.workspace_sid == workspace_sid)
    if friendly_name is not None:
        query = query.where(RoutingWorkflow.friendly_name == friendly_name)
    query = query.order_by(col(RoutingWorkflow.date_created), col(RoutingWorkflow.sid))
    return await call.offset_page(session, query, paging, "workflows", render_workflow)


@router.get("/{workspace_sid}/Workflows/{sid}")
async def fetch_workflow(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return render_workflow(call, await load_workflow(session, workspace_sid, sid))


@router.post("/{workspace_sid}/Workflows/{sid}")
async def update_workflow(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[WorkflowForm, Form()],
) -> dict[str, Any]:
    routing = await load_workflow(session, workspace_sid, sid)
    await apply_workflow_form(session, routing, form)
    session.add(routing)
    await session.commit()
    return render_workflow(call, routing)


@router.delete("/{workspace_sid}/Workflows/{sid}", status_code=204)
async def delete_workflow(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    routing = await load_workflow(session, workspace_sid, sid)
    live = select(Task.sid).where(Task.workflow_sid == sid, col(Task.assignment_status).in_(LIVE_TASK_STATUSES))
    task = (await session.exec(live)).first()
    if task is not None:
        raise TwilioError(400, f"Workflow {sid} has active Tasks (for example {task})")
    await session.delete(routing)
    await session.commit()
    return Response(status_code=204)


# --- tasks ------------------------------------------------------------------------------------


class TaskNames:
    """Names and SIDs of a workspace's workflows, queues and channels, for rendering tasks."""

    def __init__(
        self, workflows: Sequence[RoutingWorkflow], queues: Sequence[TaskQueue], channels: Sequence[TaskChannel]
    ) -> None:
        self.workflows = {w.sid: w.friendly_name for w in workflows}
        self.queues = {q.sid: q.friendly_name for q in queues}
        self.channel_sids = {c.unique_name: c.sid for c in channels}

    @classmethod
    async def load(cls, session: SessionDep, workspace_sid: str) -> TaskNames:
        workflows = await session.exec(select(RoutingWorkflow).where(RoutingWorkflow.workspace_sid == workspace_sid))
        queues = await session.exec(select(TaskQueue).where(TaskQueue.workspace_sid == workspace_sid))
        channels = await session.exec(select(TaskChannel).where(TaskChannel.workspace_sid == workspace_sid))
        return cls(workflows.all(), queues.all(), channels.all())


def render_task(call: RestCall, task: Task, names: TaskNames) -> dict[str, Any]:
    ws_url = workspace_url(call, task.workspace_sid)
    url = f"{ws_url}/Tasks/{task.sid}"
    created = task.date_created if task.date_created.tzinfo else task.date_created.replace(tzinfo=UTC)
    return {
        "account_sid": call.account_sid,
        "age": max(0, int((datetime.now(UTC) - created).total_seconds())),
        "assignment_status": task.assignment_status,
        "attributes": call.context.cipher.decrypt(task.attributes_enc, "task.attributes"),
        "addons": "{}",
        "date_created": iso(task.date_created),
        "date_updated": iso(task.date_updated),
        "task_queue_entered_date": iso(task.task_queue_entered_date),
        "priority": task.priority,
        "reason": task.reason,
        "sid": task.sid,
        "task_queue_sid": task.task_queue_sid,
        "task_queue_friendly_name": names.queues.get(task.task_queue_sid or ""),
        "task_channel_sid": names.channel_sids.get(task.task_channel_unique_name),
        "task_channel_unique_name": task.task_channel_unique_name,
        "timeout": task.timeout,
        "workflow_sid": task.workflow_sid,
        "workflow_friendly_name": names.workflows.get(task.workflow_sid),
        "workspace_sid": task.workspace_sid,
        "url": url,
        "links": {
            "task_queue": f"{ws_url}/TaskQueues/{task.task_queue_sid}" if task.task_queue_sid else None,
            "workflow": f"{ws_url}/Workflows/{task.workflow_sid}",
            "workspace": ws_url,
            "reservations": f"{url}/Reservations",
        },
        "virtual_start_time": iso(task.date_created),
        "ignore_capacity": False,
        "routing_target": None,
    }


TASK_ORDER_COLUMNS = {
    "DateCreated": Task.date_created,
    "VirtualStartTime": Task.date_created,
    "Priority": Task.priority,
}


def task_ordering(ordering: str | None) -> list[Any]:
    """``Attribute:asc|desc[,...]`` with DateCreated, Priority or VirtualStartTime; DateCreated
    ascending by default."""
    if not ordering:
        return [col(Task.date_created).asc(), col(Task.sid).asc()]
    clauses: list[Any] = []
    seen: set[str] = set()
    for part in ordering.split(","):
        attribute, _, direction = part.strip().partition(":")
        column = TASK_ORDER_COLUMNS.get(attribute)
        if column is None or direction not in ("asc", "desc") or attribute in seen:
            raise invalid(
                "Ordering",
                f"{part.strip()!r} is not Attribute:asc or Attribute:desc with Attribute one of "
                "DateCreated, Priority, VirtualStartTime (each at most once)",
            )
        seen.add(attribute)
        clauses.append(col(column).asc() if direction == "asc" else col(column).desc())
    if {"DateCreated", "VirtualStartTime"} <= seen:
        raise invalid("Ordering", "cannot pair DateCreated with VirtualStartTime")
    return [*clauses, col(Task.sid).asc()]


@router.get("/{workspace_sid}/Tasks")
async def list_tasks(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    assignment_status: Annotated[list[str] | None, Query(alias="AssignmentStatus")] = None,
    workflow_sid: Annotated[str | None, Query(alias="WorkflowSid")] = None,
    workflow_name: Annotated[str | None, Query(alias="WorkflowName")] = None,
    task_queue_sid: Annotated[str | None, Query(alias="TaskQueueSid")] = None,
    task_queue_name: Annotated[str | None, Query(alias="TaskQueueName")] = None,
    priority: Annotated[int | None, Query(alias="Priority")] = None,
    ordering: Annotated[str | None, Query(alias="Ordering")] = None,
    has_addons: Annotated[bool | None, Query(alias="HasAddons")] = None,
    evaluate_task_attributes: Annotated[str | None, Query(alias="EvaluateTaskAttributes")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    if evaluate_task_attributes is not None:
        raise invalid("EvaluateTaskAttributes", "is not supported yet")
    query = select(Task).where(Task.workspace_sid == workspace_sid)
    if assignment_status:
        # Repeated, or comma-separated as many scripts send it.
        statuses = {s.strip() for value in assignment_status for s in value.split(",") if s.strip()}
        unknown = sorted(statuses - set(TASK_STATUSES))
        if unknown:
            raise invalid("AssignmentStatus", f"{', '.join(unknown)} is not one of {', '.join(TASK_STATUSES)}")
        query = query.where(col(Task.assignment_status).in_(statuses))
    if workflow_sid is not None:
        query = query.where(Task.workflow_sid == workflow_sid)
    if workflow_name is not None:
        named = select(RoutingWorkflow.sid).where(
            RoutingWorkflow.workspace_sid == workspace_sid, RoutingWorkflow.friendly_name == workflow_name
        )
        query = query.where(col(Task.workflow_sid).in_(named))
    if task_queue_sid is not None:
        query = query.where(Task.task_queue_sid == task_queue_sid)
    if task_queue_name is not None:
        named = select(TaskQueue.sid).where(
            TaskQueue.workspace_sid == workspace_sid, TaskQueue.friendly_name == task_queue_name
        )
        query = query.where(col(Task.task_queue_sid).in_(named))
    if priority is not None:
        query = query.where(Task.priority == priority)
    if has_addons:  # Switchboard runs no Add-ons: no task has any
        query = query.where(col(Task.sid).is_(None))
    query = query.order_by(*task_ordering(ordering))

    async def render(rows: Sequence[Task]) -> list[dict[str, Any]]:
        names = await TaskNames.load(session, workspace_sid)
        return [render_task(call, task, names) for task in rows]

    return await page_of(call, session, query, paging, "tasks", render)


@router.get("/{workspace_sid}/Tasks/{sid}")
async def fetch_task(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    task = await session.get(Task, sid)
    if task is None or task.workspace_sid != workspace_sid:
        raise not_found("Task", sid)
    return render_task(call, task, await TaskNames.load(session, workspace_sid))
