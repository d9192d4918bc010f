"""TaskRouter Activities (create, list, fetch, update, delete), and the activity SIDs and names
that workspaces and task queues refer to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Response
from pydantic import Field
from sqlmodel import col, or_, select

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import (
    NAME_LENGTH,
    WORKSPACES_PATH,
    Dated,
    apply_given,
    deleted,
    given,
    in_workspace,
    load_in_workspace,
    load_workspace,
    oldest_first,
    refuse_while_referenced,
    required,
    save,
    workspace_url,
)
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, invalid, iso
from switchboard.store.models import TaskQueue, WorkspaceActivity
from workflows import sids

router = APIRouter(prefix=WORKSPACES_PATH)


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
    return await load_in_workspace(session, WorkspaceActivity, workspace_sid, sid, "Activity")


async def activity_names(session: SessionDep, activity_sids: Iterable[str | None]) -> dict[str, str]:
    wanted = {sid for sid in activity_sids if sid}
    if not wanted:
        return {}
    query = select(WorkspaceActivity).where(col(WorkspaceActivity.sid).in_(wanted))
    return {a.sid: a.friendly_name for a in (await session.exec(query)).all()}


async def apply_activity_sids(
    session: SessionDep, workspace_sid: str, row: Dated, form: TwilioForm, *names: str
) -> None:
    """Sets the named activity SID fields the form gives; each must be an activity of this
    workspace."""
    for name, sid, parameter in given(form, *names):
        activity = await session.get(WorkspaceActivity, sid) if sids.is_sid(sid, sids.ACTIVITY) else None
        if activity is None or activity.workspace_sid != workspace_sid:
            raise invalid(parameter, f"{sid} is not an Activity of workspace {workspace_sid}")
        setattr(row, name, sid)


@router.post(
    "/{workspace_sid}/Activities",
    status_code=201,
    response_model=schemas.Activity,
    responses=error_responses(*REST_ERRORS, 404),
)
async def create_activity(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[ActivityForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    activity = WorkspaceActivity(
        sid=sids.new_sid(sids.ACTIVITY),
        workspace_sid=workspace_sid,
        friendly_name=required(form.friendly_name, "FriendlyName"),
        available=bool(form.available),
    )
    await save(session, activity)
    return render_activity(call, activity)


@router.get(
    "/{workspace_sid}/Activities", response_model=schemas.ActivityPage, responses=error_responses(*REST_ERRORS, 404)
)
async def list_activities(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    paging: PagingDep,
    friendly_name: Annotated[str | None, Query(alias="FriendlyName")] = None,
    available: Annotated[bool | None, Query(alias="Available")] = None,
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = in_workspace(WorkspaceActivity, workspace_sid)
    if friendly_name is not None:
        query = query.where(WorkspaceActivity.friendly_name == friendly_name)
    if available is not None:
        query = query.where(col(WorkspaceActivity.available).is_(available))
    query = query.order_by(*oldest_first(WorkspaceActivity))
    return await call.offset_page(session, query, paging, "activities", render_activity)


@router.get(
    "/{workspace_sid}/Activities/{sid}", response_model=schemas.Activity, responses=error_responses(*REST_ERRORS, 404)
)
async def fetch_activity(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return render_activity(call, await load_activity(session, workspace_sid, sid))


@router.post(
    "/{workspace_sid}/Activities/{sid}", response_model=schemas.Activity, responses=error_responses(*REST_ERRORS, 404)
)
async def update_activity(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[ActivityForm, Form()],
) -> dict[str, Any]:
    """Only the name changes; whether an activity is available is fixed at creation."""
    activity = await load_activity(session, workspace_sid, sid)
    apply_given(activity, form, "friendly_name")
    await save(session, activity)
    return render_activity(call, activity)


@router.delete("/{workspace_sid}/Activities/{sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404))
async def delete_activity(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    activity = await load_activity(session, workspace_sid, sid)
    workspace = await load_workspace(session, workspace_sid)
    if sid in (workspace.default_activity_sid, workspace.timeout_activity_sid):
        raise TwilioError(400, f"Activity {sid} is the default or timeout activity of workspace {workspace_sid}")
    users = select(TaskQueue.sid).where(
        TaskQueue.workspace_sid == workspace_sid,
        or_(TaskQueue.reservation_activity_sid == sid, TaskQueue.assignment_activity_sid == sid),
    )
    await refuse_while_referenced(session, users, lambda queue: f"Activity {sid} is used by TaskQueue {queue}")
    return await deleted(session, activity)
