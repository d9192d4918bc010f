"""TaskRouter TaskChannels (create, list, fetch, update, delete); a channel can be named by SID or
by its unique name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Response
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from api.deps import CallDep, PagingDep, RestCall, SessionDep
from api.routes.taskrouter.common import (
    NAME_LENGTH,
    WORKSPACES_PATH,
    apply_given,
    deleted,
    in_workspace,
    load_in_workspace,
    load_workspace,
    oldest_first,
    refuse_while_active_tasks,
    required,
    save,
    workspace_url,
)
from api.schemas import taskrouter as schemas
from api.schemas.resources import REST_ERRORS, error_responses
from api.twilio_shape import CONFLICT, TwilioError, TwilioForm, invalid, iso, not_found
from switchboard.store.models import Task, TaskChannel
from workflows import sids

router = APIRouter(prefix=WORKSPACES_PATH)


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
        return await load_in_workspace(session, TaskChannel, workspace_sid, sid, "TaskChannel")
    query = in_workspace(TaskChannel, workspace_sid).where(TaskChannel.unique_name == sid)
    channel = (await session.exec(query)).first()
    if channel is None:
        raise not_found("TaskChannel", sid)
    return channel


@router.post(
    "/{workspace_sid}/TaskChannels",
    status_code=201,
    response_model=schemas.TaskChannel,
    responses=error_responses(*REST_ERRORS, 404, 409),
)
async def create_task_channel(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    form: Annotated[TaskChannelForm, Form()],
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    friendly_name = required(form.friendly_name, "FriendlyName")
    unique_name = required(form.unique_name, "UniqueName")
    if sids.SID_PATTERN.match(unique_name):
        raise invalid("UniqueName", "must not look like a SID")
    taken = TwilioError(409, f"TaskChannel with UniqueName {unique_name} already exists", CONFLICT)
    query = select(TaskChannel.sid).where(
        TaskChannel.workspace_sid == workspace_sid, TaskChannel.unique_name == unique_name
    )
    if (await session.exec(query)).first():
        raise taken
    channel = TaskChannel(
        sid=sids.new_sid(sids.TASK_CHANNEL),
        workspace_sid=workspace_sid,
        friendly_name=friendly_name,
        unique_name=unique_name,
        channel_optimized_routing=form.channel_optimized_routing,
    )
    try:
        await save(session, channel)
    except IntegrityError as exc:  # a concurrent create took the name
        raise taken from exc
    return render_task_channel(call, channel)


@router.get(
    "/{workspace_sid}/TaskChannels",
    response_model=schemas.TaskChannelPage,
    responses=error_responses(*REST_ERRORS, 404),
)
async def list_task_channels(
    call: CallDep, session: SessionDep, workspace_sid: str, paging: PagingDep
) -> dict[str, Any]:
    await load_workspace(session, workspace_sid)
    query = in_workspace(TaskChannel, workspace_sid).order_by(*oldest_first(TaskChannel))
    return await call.offset_page(session, query, paging, "channels", render_task_channel)


@router.get(
    "/{workspace_sid}/TaskChannels/{sid}",
    response_model=schemas.TaskChannel,
    responses=error_responses(*REST_ERRORS, 404),
)
async def fetch_task_channel(call: CallDep, session: SessionDep, workspace_sid: str, sid: str) -> dict[str, Any]:
    return render_task_channel(call, await load_task_channel(session, workspace_sid, sid))


@router.post(
    "/{workspace_sid}/TaskChannels/{sid}",
    response_model=schemas.TaskChannel,
    responses=error_responses(*REST_ERRORS, 404),
)
async def update_task_channel(
    call: CallDep,
    session: SessionDep,
    workspace_sid: str,
    sid: str,
    form: Annotated[TaskChannelForm, Form()],
) -> dict[str, Any]:
    """The unique name is fixed at creation (tasks refer to it)."""
    channel = await load_task_channel(session, workspace_sid, sid)
    apply_given(channel, form, "friendly_name", "channel_optimized_routing")
    await save(session, channel)
    return render_task_channel(call, channel)


@router.delete("/{workspace_sid}/TaskChannels/{sid}", status_code=204, responses=error_responses(*REST_ERRORS, 404))
async def delete_task_channel(session: SessionDep, workspace_sid: str, sid: str) -> Response:
    channel = await load_task_channel(session, workspace_sid, sid)
    await refuse_while_active_tasks(
        session,
        f"TaskChannel {channel.sid}",
        Task.workspace_sid == workspace_sid,
        Task.task_channel_unique_name == channel.unique_name,
    )
    return await deleted(session, channel)
