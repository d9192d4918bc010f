"""Flex v1 Channels: programmatic creation of a customer's chat channel on a Flex Flow, for any
channel type (custom ones included). The channel is the contact's: creating it again for the same
identity while it is open answers the same channel, and the flow's integration runs as it does for
an inbound message (a ``task`` integration that does not wait for the first message creates its
task at once)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from pydantic import Field
from sqlmodel import col, select

from api.conversations import ContactChannelRequest, enabled_flow, open_contact_channel
from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import json_text
from api.schemas.flex import FlexChannelPage, FlexChannelResource
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioForm, invalid, iso, not_found
from switchboard.store.models import Channel, Task

router = APIRouter(
    prefix="/v1/Channels", tags=["flex"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
)


class FlexChannelForm(TwilioForm):
    flex_flow_sid: str = Field(alias="FlexFlowSid", min_length=34, max_length=34)
    identity: str = Field(alias="Identity", min_length=1, max_length=256)
    chat_user_friendly_name: str = Field(alias="ChatUserFriendlyName", min_length=1, max_length=256)
    chat_friendly_name: str = Field(alias="ChatFriendlyName", min_length=1, max_length=256)
    target: str | None = Field(None, alias="Target", max_length=256)
    chat_unique_name: str | None = Field(None, alias="ChatUniqueName", max_length=256)
    pre_engagement_data: str | None = Field(None, alias="PreEngagementData", max_length=16384)
    task_sid: str | None = Field(None, alias="TaskSid")
    task_attributes: str | None = Field(None, alias="TaskAttributes", max_length=16384)
    long_lived: bool | None = Field(None, alias="LongLived")


def json_object_text(value: str | None, parameter: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(json.loads(json_text(value, parameter)), dict):
        raise invalid(parameter, "must be a JSON object")
    return value


async def current_task_sid(call: RestCall, channel_sid: str) -> str | None:
    """The channel's latest task (Flex shows the task of the current interaction)."""
    async with call.context.db.session() as session:
        query = select(Task.sid).where(Task.channel_sid == channel_sid).order_by(col(Task.date_created).desc())
        return (await session.exec(query.limit(1))).first()


def render_flex_channel(call: RestCall, channel: Channel, task_sid: str | None) -> dict[str, Any]:
    return {
        "account_sid": call.account_sid,
        "flex_flow_sid": channel.flex_flow_sid,
        "sid": channel.sid,
        "user_sid": None,
        "task_sid": task_sid,
        "url": call.url(f"/v1/Channels/{channel.sid}"),
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
    }


@router.post("", status_code=201, response_model=FlexChannelResource, responses=error_responses(409, 503))
async def create_flex_channel(
    call: CallDep, session: SessionDep, form: Annotated[FlexChannelForm, Form()]
) -> dict[str, Any]:
    flow = await enabled_flow(session, form.flex_flow_sid)
    if form.task_sid is not None:
        raise invalid("TaskSid", "attaching an existing task is not supported; the task integration creates one")
    request = ContactChannelRequest(
        flex_flow_sid=flow.sid,
        identity=form.identity,
        customer_friendly_name=form.chat_user_friendly_name,
        chat_friendly_name=form.chat_friendly_name,
        target=form.target,
        chat_unique_name=form.chat_unique_name,
        pre_engagement_data=json_text(form.pre_engagement_data, "PreEngagementData")
        if form.pre_engagement_data
        else None,
        task_attributes=json_object_text(form.task_attributes, "TaskAttributes"),
        long_lived=form.long_lived,
    )
    channel, state = await open_contact_channel(call.context, session, flow, request)
    return render_flex_channel(call, channel, state.open_task_sid or await current_task_sid(call, channel.sid))


@router.get("", response_model=FlexChannelPage)
async def list_flex_channels(call: CallDep, session: SessionDep, paging: PagingDep) -> dict[str, Any]:
    query = (
        select(Channel)
        .where(col(Channel.flex_flow_sid).is_not(None))
        .order_by(col(Channel.date_created), col(Channel.sid))
    )
    page = await call.offset_page(
        session, query, paging, "flex_chat_channels", lambda c, row: render_flex_channel(c, row, None)
    )
    for item in page["flex_chat_channels"]:
        item["task_sid"] = await current_task_sid(call, item["sid"])
    return page


@router.get("/{sid}", response_model=FlexChannelResource, responses=error_responses(404))
async def fetch_flex_channel(call: CallDep, session: SessionDep, sid: str) -> dict[str, Any]:
    channel = await session.get(Channel, sid)
    if channel is None or channel.flex_flow_sid is None:
        raise not_found("Channel", sid)
    return render_flex_channel(call, channel, await current_task_sid(call, sid))
