"""Flex v1 WebChannels: a web chat customer's channel on a web Flex Flow, created by a business's
backend (the widget uses ``/v1/Webchat/Sessions``, which opens the same channel and adds a
customer token). ``ChatStatus=inactive`` ends the conversation as the customer's "end chat" does."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form
from pydantic import Field
from sqlmodel import col, select

from api.conversations import ContactChannelRequest, enabled_web_flow, end_conversation, open_contact_channel
from api.deps import CallDep, PagingDep, RestCall, SessionDep, limit_web_chats_per_address, require_account
from api.routes.flex_channels import json_object_text
from api.schemas.flex import WebChannelPage, WebChannelResource
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioForm, iso, not_found
from switchboard.store.models import Channel

router = APIRouter(
    prefix="/v1/WebChannels",
    tags=["flex"],
    dependencies=[Depends(require_account)],
    responses=REST_CALL_ERRORS,
)

WEB = "web"


class WebChannelForm(TwilioForm):
    flex_flow_sid: str = Field(alias="FlexFlowSid", min_length=34, max_length=34)
    identity: str = Field(alias="Identity", min_length=1, max_length=256)
    customer_friendly_name: str = Field(alias="CustomerFriendlyName", min_length=1, max_length=256)
    chat_friendly_name: str = Field(alias="ChatFriendlyName", min_length=1, max_length=256)
    chat_unique_name: str | None = Field(None, alias="ChatUniqueName", max_length=256)
    pre_engagement_data: str | None = Field(None, alias="PreEngagementData", max_length=16384)


class WebChannelUpdateForm(TwilioForm):
    chat_status: Literal["inactive"] | None = Field(None, alias="ChatStatus")
    post_engagement_data: str | None = Field(None, alias="PostEngagementData", max_length=16384)


def render_web_channel(call: RestCall, channel: Channel) -> dict[str, Any]:
    return {
        "account_sid": call.account_sid,
        "flex_flow_sid": channel.flex_flow_sid,
        "sid": channel.sid,
        "url": call.url(f"/v1/WebChannels/{channel.sid}"),
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
    }


async def web_channel(session: SessionDep, sid: str) -> Channel:
    channel = await session.get(Channel, sid)
    if channel is None or channel.flex_flow_sid is None or channel.channel_type != WEB:
        raise not_found("WebChannel", sid)
    return channel


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(limit_web_chats_per_address)],
    response_model=WebChannelResource,
    responses=error_responses(409, 429, 503),
)
async def create_web_channel(
    call: CallDep, session: SessionDep, form: Annotated[WebChannelForm, Form()]
) -> dict[str, Any]:
    flow = await enabled_web_flow(session, form.flex_flow_sid, "FlexFlowSid")
    request = ContactChannelRequest(
        flex_flow_sid=flow.sid,
        identity=form.identity,
        customer_friendly_name=form.customer_friendly_name,
        chat_friendly_name=form.chat_friendly_name,
        chat_unique_name=form.chat_unique_name,
        pre_engagement_data=json_object_text(form.pre_engagement_data, "PreEngagementData"),
    )
    channel, _state = await open_contact_channel(call.context, session, flow, request)
    return render_web_channel(call, channel)


@router.get("", response_model=WebChannelPage)
async def list_web_channels(call: CallDep, session: SessionDep, paging: PagingDep) -> dict[str, Any]:
    query = (
        select(Channel)
        .where(col(Channel.flex_flow_sid).is_not(None), Channel.channel_type == WEB)
        .order_by(col(Channel.date_created), col(Channel.sid))
    )
    return await call.offset_page(session, query, paging, "flex_chat_channels", render_web_channel)


@router.get("/{sid}", response_model=WebChannelResource, responses=error_responses(404))
async def fetch_web_channel(call: CallDep, session: SessionDep, sid: str) -> dict[str, Any]:
    return render_web_channel(call, await web_channel(session, sid))


@router.post("/{sid}", response_model=WebChannelResource, responses=error_responses(404))
async def update_web_channel(
    call: CallDep, session: SessionDep, sid: str, form: Annotated[WebChannelUpdateForm, Form()]
) -> dict[str, Any]:
    channel = await web_channel(session, sid)
    post_engagement = json_object_text(form.post_engagement_data, "PostEngagementData")
    if form.chat_status == "inactive":
        await end_conversation(call.context, channel.sid, "system", post_engagement)
    return render_web_channel(call, channel)
