"""TaskRouter Workers and their per-channel capacity (``Workers/{WK}/Channels``). A worker's
activity (and so its availability) belongs to the workspace's router, which re-routes at once;
attributes, names and capacities are stored here and the router reloads them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from api.agent_profiles import checked_profile
from api.deps import AppContext, CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import (
    NAME_LENGTH,
    WORKSPACES_PATH,
    deleted,
    in_workspace,
    load_in_workspace,
    load_workspace,
    oldest_first,
    page_of,
    parsed_expression,
    required,
    workspace_url,
)
from api.routing_calls import routed
from api.routing_state import WorkerDirectory
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import CONFLICT, TwilioError, TwilioForm, invalid, iso, not_found
from switchboard.store.channel_work import LIVE_TASK_STATUSES
from switchboard.store.models import (
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    WorkspaceActivity,
    utcnow,
)
from workflows import sids
from workflows.routing.messages import WorkerActivityChange

router = APIRouter(prefix=WORKSPACES_PATH)


class WorkerForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=NAME_LENGTH)
    activity_sid: str | None = Field(None, alias="ActivitySid")
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)
    reject_pending_reservations: bool | None = Field(None, alias="RejectPendingReservations")


class WorkerChannelForm(TwilioForm):
    capacity: int | None = Field(None, alias="Capacity", ge=0, le=50)
    available: bool | None = Field(None, alias="Available")


def attributes_object(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise invalid("Attributes", f"must be valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise invalid("Attributes", "must be a JSON object")
    checked_profile(value)
    return text


def render_worker(call: RestCall, worker: Worker) -> dict[str, Any]:
    ws_url = workspace_url(call, worker.workspace_sid)
    url = f"{ws_url}/Workers/{worker.sid}"
    return {
        "account_sid": call.account_sid,
        "activity_name": worker.activity_name,
        "activity_sid": worker.activity_sid,
        "attributes": call.context.cipher.decrypt(worker.attributes_enc, "worker.attributes"),
        "available": worker.available,
        "date_created": iso(worker.date_created),
        "date_status_changed": iso(worker.date_status_changed),
        "date_updated": iso(worker.date_updated),
        "friendly_name": worker.friendly_name,
        "sid": worker.sid,
        "workspace_sid": worker.workspace_sid,
        "url": url,
        "links": {
            "workspace": ws_url,
            "channels": f"{url}/Channels",
            "reservations": f"{url}/Reservations",
            "worker_statistics": f"{url}/Statistics",
            "real_time_statistics": f"{url}/RealTimeStatistics",
            "cumulative_statistics": f"{url}/CumulativeStatistics",
            "activity": f"{ws_url}/Activities/{worker.activity_sid}",
            "worker_channels": f"{url}/Channels",
        },
    }


async def load_worker(session: SessionDep, workspace_sid: str, sid: str) -> Worker:
    return await load_in_workspace(session, Worker, workspace_sid, sid, "Worker")


async def load_activity(session: SessionDep, workspace_sid: str, sid: str, parameter: str) -> WorkspaceActivity:
    activity = await session.get(WorkspaceActivity, sid)
    if activity is None or activity.workspace_sid != workspace_sid:
        raise invalid(parameter, f"activity {sid} is not in workspace {workspace_sid}")
    return activity


async def add_worker(
    context: AppContext,
    session: SessionDep,
    activity: WorkspaceActivity,
    friendly_name: str,
    attributes: str,
    capacity: dict[str, int] | None = None,
) -> Worker:
    """A new worker of ``activity``'s workspace, in ``activity``, with a channel per task channel
    (capacity 1 unless ``capacity`` names the channel); the router hears of it. 409 when the
    name is taken."""
    workspace_sid = activity.workspace_sid
    worker = Worker(
        sid=sids.new_sid(sids.WORKER),
        workspace_sid=workspace_sid,
        friendly_name=friendly_name,
        attributes_enc=context.cipher.encrypt(attributes, "worker.attributes"),
        activity_sid=activity.sid,
        activity_name=activity.friendly_name,
        available=activity.available,
    )
    # Read before the worker is added: a query after would flush it, outside the check below.
    task_channels = (await session.exec(in_workspace(TaskChannel, workspace_sid))).all()
    session.add(worker)
    for channel in task_channels:
        session.add(
            WorkerChannel(
                sid=sids.new_sid(sids.WORKER_CHANNEL),
                workspace_sid=workspace_sid,
                worker_sid=worker.sid,
                task_channel_sid=channel.sid,
                task_channel_unique_name=channel.unique_name,
                configured_capacity=(capacity or {}).get(channel.unique_name, 1),
            )
        )
    try:
        await session.commit()
    except IntegrityError as exc:
        raise TwilioError(409, f"Worker with FriendlyName {friendly_name} already exists", CONFLICT) from exc
    await context.routing.refresh(workspace_sid)
    return worker


@router.post(
    "/{workspace_sid}/Workers",
    status_code=201,
    response_model=schemas.Worker,
    responses=error_responses(*REST_ERRORS, 404, 409, 503),
)
async def create_worker(
    call: CallDep, session: SessionDep, workspace_sid: str, form: Annotated[WorkerForm, Form()]
) -> dict[str, Any]:
    workspace = await load_workspace(session, workspace_sid)
    friendly_name = required(form.friendly_name, "FriendlyName")
    activity_sid = form.activity_sid or workspace.default_activity_sid
    if activity_sid is None:
        raise invalid("ActivitySid", "is required: the workspace has no default activity")
    activity = await load_activity(session, workspace_sid, activity_sid, "ActivitySid")
    worker = await add_worker(
        call.context, session, activity, friendly_name, attributes_object(form.attributes or "{}")
    )
    return render_worker(call, worker)


@router.get("/{workspace_sid}/Workers", response_model=schemas.WorkerPage, responses=error_responses(*REST_ERRORS, 404))
async def list_workers(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    activity_sid: Annotated[str | None, Query(alias="ActivitySid")] = None,
    activity_name: Annotated[str | None, Query(alias="ActivityName")] = None,
    available: Annotated[bool | None, Query(alias="Available")] = None,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
    target_workers_expression: Annotated[str | None, Query(alias="TargetWorkersExpression")] = None,
    task_queue_sid: Annotated[str | None, Query(alias="TaskQueueSid")] = None,
    task_queue_name: Annotated[str | None, Query(alias="TaskQueueName")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = in_workspace(Worker, workspace_sid)
    if activity_sid is not None:
        query = query.where(Worker.activity_sid == activity_sid)
    if activity_name is not None:
        query = query.where(Worker.activity_name == activity_name)
    if available is not None:
        query = query.where(col(Worker.available).is_(available))
    if friendly_name is not None:
        query = query.where(Worker.friendly_name == friendly_name)
    query = query.order_by(*oldest_first(Worker))
    checks: list[Callable[[Worker], bool]] = []
    if target_workers_expression is not None or task_queue_sid is not None or task_queue_name is not None:
        directory = await WorkerDirectory.load(call.context, session, workspace_sid)
        if target_workers_expression is not None:
            expression = parsed_expression(target_workers_expression, "TargetWorkersExpression")
            checks.append(partial(directory.admits, expression))
        if task_queue_sid is not None:
            queue = await session.get(TaskQueue, task_queue_sid)
            if queue is None or queue.workspace_sid != workspace_sid:
                raise invalid("TaskQueueSid", f"task queue {task_queue_sid} is not in workspace {workspace_sid}")
            checks.append(partial(directory.in_queue, queue))
        if task_queue_name is not None:
            named = in_workspace(TaskQueue, workspace_sid).where(TaskQueue.friendly_name == task_queue_name)
            queue = (await session.exec(named)).first()
            # No such queue: no worker is eligible for it.
            checks.append(partial(directory.in_queue, queue) if queue is not None else lambda _worker: False)
    if not checks:
        return await call.offset_page(session, query, paging, "workers", render_worker)

    async def render(rows: Sequence[Worker]) -> list[dict[str, Any]]:
        return [render_worker(call, row) for row in rows]

    return await page_of(call, session, query, paging, "workers", render, lambda w: all(c(w) for c in checks))


@router.get(
    "/{workspace_sid}/Workers/{sid}", response_model=schemas.Worker, responses=error_responses(*REST_ERRORS, 404)
)
async def fetch_worker(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return render_worker(call, await load_worker(session, workspace_sid, sid))


@router.post(
    "/{workspace_sid}/Workers/{sid}",
    response_model=schemas.Worker,
    responses=error_responses(*REST_ERRORS, 404, 409, 503),
)
async def update_worker(
    call: CallDep, session: SessionDep, workspace_sid: str, sid: str, form: Annotated[WorkerForm, Form()]
) -> dict[str, Any]:
    worker = await load_worker(session, workspace_sid, sid)
    if form.activity_sid is not None:
        await load_activity(session, workspace_sid, form.activity_sid, "ActivitySid")
    changed = False
    if form.friendly_name is not None:
        worker.friendly_name, changed = form.friendly_name, True
    if form.attributes is not None:
        worker.attributes_enc = call.context.cipher.encrypt(attributes_object(form.attributes), "worker.attributes")
        changed = True
    if changed:
        worker.date_updated = utcnow()
        session.add(worker)
        try:
            await session.commit()
        except IntegrityError as exc:
            raise TwilioError(409, f"Worker with FriendlyName {form.friendly_name} already exists", CONFLICT) from exc
        await call.context.routing.refresh(workspace_sid)
    if form.activity_sid is not None:
        change = WorkerActivityChange(sid, form.activity_sid, bool(form.reject_pending_reservations))
        await routed(call.context.routing.set_worker_activity(workspace_sid, change))
        await session.commit()  # end the read transaction: the router wrote the row
        worker = await load_worker(session, workspace_sid, sid)
        await session.refresh(worker)
    return render_worker(call, worker)


@router.delete("/{workspace_sid}/Workers/{sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404, 503))
async def delete_worker(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> Response:
    worker = await load_worker(session, workspace_sid, sid)
    holding = (
        await session.exec(
            select(Task.sid)
            .join(Reservation, col(Reservation.task_sid) == col(Task.sid))
            .where(
                Reservation.worker_sid == sid,
                col(Reservation.reservation_status).in_(("pending", "accepted", "wrapping")),
                col(Task.assignment_status).in_(LIVE_TASK_STATUSES),
            )
        )
    ).first()
    if holding is not None:
        raise TwilioError(400, f"Worker {sid} holds Task {holding}; complete it or move the worker offline first")
    # Deleted at once: the unit of work knows no order between the two tables, and the worker's
    # row must go after its channels'.
    await session.exec(delete(WorkerChannel).where(col(WorkerChannel.worker_sid) == sid))
    response = await deleted(session, worker)
    await call.context.routing.refresh(workspace_sid)
    return response


# --- worker channels -------------------------------------------------------------------------------


def render_worker_channel(call: RestCall, channel: WorkerChannel, used: int) -> dict[str, Any]:
    url = (
        f"{workspace_url(call, channel.workspace_sid)}/Workers/{channel.worker_sid}/Channels/{channel.task_channel_sid}"
    )
    return {
        "account_sid": call.account_sid,
        "assigned_tasks": used,
        "available": channel.available,
        "available_capacity_percentage": 0
        if channel.configured_capacity == 0
        else max(0, round(100 * (channel.configured_capacity - used) / channel.configured_capacity)),
        "configured_capacity": channel.configured_capacity,
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
        "sid": channel.sid,
        "task_channel_sid": channel.task_channel_sid,
        "task_channel_unique_name": channel.task_channel_unique_name,
        "worker_sid": channel.worker_sid,
        "workspace_sid": channel.workspace_sid,
        "url": url,
    }


async def used_capacity(session: SessionDep, worker_sid: str) -> dict[str, int]:
    """Tasks a worker holds (reserved, assigned or wrapping), per task channel."""
    rows = await session.exec(
        select(Task.task_channel_unique_name)
        .join(Reservation, col(Reservation.task_sid) == col(Task.sid))
        .where(
            Reservation.worker_sid == worker_sid,
            col(Reservation.reservation_status).in_(("pending", "accepted", "wrapping")),
            col(Task.assignment_status).in_(("reserved", "assigned", "wrapping")),
        )
    )
    used: dict[str, int] = {}
    for name in rows:
        used[name] = used.get(name, 0) + 1
    return used


async def load_worker_channel(session: SessionDep, worker: Worker, sid: str) -> WorkerChannel:
    """A worker's channel by task channel SID or unique name (as Twilio allows)."""
    query = select(WorkerChannel).where(WorkerChannel.worker_sid == worker.sid)
    for row in (await session.exec(query)).all():
        if sid in (row.task_channel_sid, row.task_channel_unique_name, row.sid):
            return row
    raise not_found("WorkerChannel", sid)


@router.get(
    "/{workspace_sid}/Workers/{worker_sid}/Channels",
    response_model=schemas.WorkerChannelPage,
    responses=error_responses(*REST_ERRORS, 404),
)
async def list_worker_channels(
    call: CallDep, session: SessionDep, workspace_sid: str, worker_sid: str, paging: PagingDep
) -> dict[str, Any]:
    worker = await load_worker(session, workspace_sid, worker_sid)
    used = await used_capacity(session, worker.sid)
    query = select(WorkerChannel).where(WorkerChannel.worker_sid == worker.sid).order_by(*oldest_first(WorkerChannel))
    return await call.offset_page(
        session,
        query,
        paging,
        "channels",
        lambda c, row: render_worker_channel(c, row, used.get(row.task_channel_unique_name, 0)),
    )


@router.get(
    "/{workspace_sid}/Workers/{worker_sid}/Channels/{sid}",
    response_model=schemas.WorkerChannel,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_worker_channel(
    call: CallDep, session: SessionDep, workspace_sid: str, worker_sid: str, sid: str
) -> dict[str, Any]:
    worker = await load_worker(session, workspace_sid, worker_sid)
    channel = await load_worker_channel(session, worker, sid)
    used = await used_capacity(session, worker.sid)
    return render_worker_channel(call, channel, used.get(channel.task_channel_unique_name, 0))


@router.post(
    "/{workspace_sid}/Workers/{worker_sid}/Channels/{sid}",
    response_model=schemas.WorkerChannel,
    responses=error_responses(*REST_ERRORS, 404, 503),
)
async def update_worker_channel(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    worker_sid: str,
    sid: str,
    form: Annotated[WorkerChannelForm, Form()],
) -> dict[str, Any]:
    worker = await load_worker(session, workspace_sid, worker_sid)
    channel = await load_worker_channel(session, worker, sid)
    if form.capacity is not None:
        channel.configured_capacity = form.capacity
    if form.available is not None:
        channel.available = form.available
    channel.date_updated = utcnow()
    session.add(channel)
    await session.commit()
    await call.context.routing.refresh(workspace_sid)
    used = await used_capacity(session, worker.sid)
    return render_worker_channel(call, channel, used.get(channel.task_channel_unique_name, 0))
