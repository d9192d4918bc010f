"""TaskRouter Workspaces (create, list, fetch, update, delete). A new workspace gets Twilio's
default activities and task channels."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Response
from pydantic import Field
from sqlmodel import col, delete, select

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.activities import activity_names, apply_activity_sids
from api.routes.taskrouter.common import (
    NAME_LENGTH,
    WORKSPACES_PATH,
    QueueOrder,
    apply_given,
    apply_given_urls,
    checked_url,
    deleted,
    links,
    load_workspace,
    oldest_first,
    page_of,
    required,
    save,
    workspace_url,
)
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioForm, iso
from switchboard.store.defaults import new_workspace
from switchboard.store.models import (
    BusinessHours,
    CannedResponse,
    Reservation,
    RoutingWorkflow,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workspace,
    WorkspaceActivity,
)
from workflows import sids

router = APIRouter(prefix=WORKSPACES_PATH)


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
        "links": links(
            url,
            activities="Activities",
            cumulative_statistics="CumulativeStatistics",
            events="Events",
            real_time_statistics="RealTimeStatistics",
            statistics="Statistics",
            task_channels="TaskChannels",
            task_queues="TaskQueues",
            tasks="Tasks",
            workers="Workers",
            workflows="Workflows",
        ),
    }


async def workspace_bodies(
    call: RestCall, session: SessionDep, workspaces: Sequence[Workspace]
) -> list[dict[str, Any]]:
    """The workspaces rendered, with the names of their activities looked up at once."""
    names = await activity_names(
        session, [s for w in workspaces for s in (w.default_activity_sid, w.timeout_activity_sid)]
    )
    return [render_workspace(call, w, names) for w in workspaces]


async def workspace_body(call: RestCall, session: SessionDep, workspace: Workspace) -> dict[str, Any]:
    [body] = await workspace_bodies(call, session, [workspace])
    return body


@router.post("", status_code=201, response_model=schemas.Workspace, responses=error_responses(*REST_ERRORS))
async def create_workspace(
    call: CallDep,
    session: SessionDep,
    form: Annotated[WorkspaceForm, Form()],
) -> dict[str, Any]:
    workspace = Workspace(
        sid=sids.new_sid(sids.WORKSPACE),
        friendly_name=required(form.friendly_name, "FriendlyName"),
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


@router.get("", response_model=schemas.WorkspacePage, responses=error_responses(*REST_ERRORS))
async def list_workspaces(
    call: CallDep,
    session: SessionDep,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
) -> dict[str, Any]:
    query = select(Workspace)
    if friendly_name is not None:
        query = query.where(Workspace.friendly_name == friendly_name)
    query = query.order_by(*oldest_first(Workspace))
    return await page_of(call, session, query, paging, "workspaces", partial(workspace_bodies, call, session))


@router.get("/{workspace_sid}", response_model=schemas.Workspace, responses=error_responses(*REST_ERRORS, 404))
async def fetch_workspace(call: CallDep, session: SessionDep, workspace_sid: str) -> dict[str, Any]:
    return await workspace_body(call, session, await load_workspace(session, workspace_sid))


@router.post("/{workspace_sid}", response_model=schemas.Workspace, responses=error_responses(*REST_ERRORS, 404, 503))
async def update_workspace(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[WorkspaceForm, Form()],
) -> dict[str, Any]:
    workspace = await load_workspace(session, workspace_sid)
    apply_given_urls(workspace, form, "event_callback_url")
    if form.events_filter is not None:
        workspace.events_filter = form.events_filter or None
    await apply_activity_sids(session, workspace_sid, workspace, form, "default_activity_sid", "timeout_activity_sid")
    apply_given(workspace, form, "friendly_name", "multi_task_enabled", "prioritize_queue_order")
    await save(session, workspace)
    await call.context.routing.refresh(workspace.sid)  # callback URL and timeout activity apply at once
    return await workspace_body(call, session, workspace)


@router.delete("/{workspace_sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404))
async def delete_workspace(session: SessionDep, workspace_sid: str) -> Response:
    """Deletes the workspace with everything in it, as Twilio does."""
    workspace = await load_workspace(session, workspace_sid)
    # Workers' channels before workers, workers before the workspace (foreign keys).
    models = (
        Reservation,
        Task,
        WorkerChannel,
        Worker,
        RoutingWorkflow,
        TaskQueue,
        TaskChannel,
        WorkspaceActivity,
        BusinessHours,
        CannedResponse,
    )
    for model in models:
        await session.exec(delete(model).where(col(model.workspace_sid) == workspace_sid))
    return await deleted(session, workspace)
