"""Chat v2 resources other resources' ``links`` advertise: a channel's Webhooks and Invites, and a
service's Users and Roles (Conversations' users and roles, one store) and Bindings (Switchboard
keeps no invites or push bindings: those lists are empty, so the links resolve).

A channel's webhooks decide its integration (``api.channel_webhooks``): every change goes through
the channel's workflow, so the channel's next messages go where its webhooks now say. Deleting
the Studio webhook is Flex's hand-off: the customer's next messages no longer run the flow."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Response
from pydantic import Field

from api.channel_webhooks import channel_webhooks, integration_of, triggers_of
from api.channels import integration_for
from api.deps import CallDep, ChannelsDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import change_channel, load_channel, load_service
from api.routes.conversation_roles import chat_roles_page
from api.routes.conversation_users import chat_users_page
from api.schemas.chat import BindingPage, ChannelWebhookPage, ChannelWebhookResource, InvitePage, RolePage, UserPage
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioForm, invalid, iso, not_found
from switchboard.store.models import Channel, FlexFlow, utcnow
from workflows import sids
from workflows.messages import ChannelChange, Integration

router = APIRouter(
    prefix="/v2/Services",
    tags=["chat"],
    dependencies=[Depends(require_account)],
    responses=REST_CALL_ERRORS,
)
WEBHOOKS = "/{service_sid}/Channels/{channel_sid}/Webhooks"
# Twilio takes up to five trigger strings per webhook.
MAX_TRIGGERS = 5
# Twilio refuses an empty keyword and one longer than 248 characters.
MAX_TRIGGER_LENGTH = 248
CONFIGURATION_KEYS = ("url", "method", "filters", "triggers", "flow_sid", "retry_count")


class WebhookConfigurationForm(TwilioForm):
    url: str | None = Field(None, alias="Configuration.Url", max_length=2048)
    method: Literal["GET", "POST"] | None = Field(None, alias="Configuration.Method")
    filters: list[str] | None = Field(None, alias="Configuration.Filters")
    triggers: list[str] | None = Field(None, alias="Configuration.Triggers", max_length=MAX_TRIGGERS)
    flow_sid: str | None = Field(None, alias="Configuration.FlowSid", pattern=r"^FW[0-9a-f]{32}$")
    retry_count: int | None = Field(None, alias="Configuration.RetryCount", ge=0, le=3)


class WebhookForm(WebhookConfigurationForm):
    type: Literal["webhook", "trigger", "studio"] = Field(alias="Type")


def render_webhook(call: RestCall, channel: Channel, hook: dict[str, Any]) -> dict[str, Any]:
    return {
        "sid": hook["sid"],
        "account_sid": call.account_sid,
        "service_sid": channel.service_sid,
        "channel_sid": channel.sid,
        "type": hook["type"],
        "url": f"{call.url('')}/v2/Services/{channel.service_sid}/Channels/{channel.sid}/Webhooks/{hook['sid']}",
        "configuration": {key: hook[key] for key in CONFIGURATION_KEYS if hook.get(key) is not None},
        "date_created": hook["date_created"],
        "date_updated": hook["date_updated"],
    }


async def webhooks_of(session: SessionDep, channel: Channel) -> tuple[list[dict[str, Any]], Integration | None]:
    """The channel's webhooks and its Flex Flow's integration."""
    flow = await session.get(FlexFlow, channel.flex_flow_sid) if channel.flex_flow_sid else None
    flow_integration = integration_for(flow)
    return channel_webhooks(channel, flow_integration, iso(channel.date_created) or ""), flow_integration


def find_webhook(webhooks: list[dict[str, Any]], webhook_sid: str) -> dict[str, Any]:
    for hook in webhooks:
        if hook["sid"] == webhook_sid:
            return hook
    raise not_found("Webhook", webhook_sid)


def configure(hook: dict[str, Any], form: WebhookConfigurationForm) -> None:
    """Applies the configuration given; refuses what the webhook's type needs and lacks."""
    for key in CONFIGURATION_KEYS:
        value = getattr(form, key)
        if value is not None:
            hook[key] = value
    if hook["type"] == "studio" and not hook.get("flow_sid"):
        raise invalid("Configuration.FlowSid", "is required for a studio webhook")
    if hook["type"] in ("webhook", "trigger") and not hook.get("url"):
        raise invalid("Configuration.Url", f"is required for a {hook['type']} webhook")
    if hook.get("url"):
        parsed = urlparse(hook["url"])
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise invalid("Configuration.Url", "must be an absolute http(s) URL")
    if hook["type"] == "trigger" and not hook.get("triggers"):
        raise invalid("Configuration.Triggers", "is required for a trigger webhook")
    for keyword in hook.get("triggers") or []:
        if not keyword.strip() or len(keyword) > MAX_TRIGGER_LENGTH:
            raise invalid("Configuration.Triggers", f"takes keywords of 1 to {MAX_TRIGGER_LENGTH} characters")


async def store_webhooks(
    call: RestCall,
    session: SessionDep,
    channels: ChannelsDep,
    channel: Channel,
    webhooks: list[dict[str, Any]],
    flow_integration: Integration | None,
) -> None:
    """The channel's webhooks become ``webhooks``; its workflow runs the integration they leave."""
    change = ChannelChange(
        webhooks_json=json.dumps(webhooks),
        integration=integration_of(webhooks, flow_integration),
        triggers=triggers_of(webhooks),
    )
    await change_channel(call, session, channels, channel, change)


@router.get(WEBHOOKS, response_model=ChannelWebhookPage, responses=error_responses(404))
async def list_webhooks(
    call: CallDep, session: SessionDep, service_sid: str, channel_sid: str, paging: PagingDep
) -> dict[str, Any]:
    channel = await load_channel(session, service_sid, channel_sid)
    webhooks, _ = await webhooks_of(session, channel)
    page = webhooks[paging.offset : paging.offset + paging.page_size]
    has_next = len(webhooks) > paging.offset + paging.page_size
    return call.page("webhooks", [render_webhook(call, channel, hook) for hook in page], paging, None, has_next)


@router.post(WEBHOOKS, status_code=201, response_model=ChannelWebhookResource, responses=error_responses(404, 409))
async def create_webhook(
    call: CallDep,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    channel_sid: str,
    form: Annotated[WebhookForm, Form()],
) -> dict[str, Any]:
    channel = await load_channel(session, service_sid, channel_sid)
    webhooks, flow_integration = await webhooks_of(session, channel)
    now = iso(utcnow())
    hook: dict[str, Any] = {"sid": sids.new_sid(sids.WEBHOOK), "type": form.type, "date_created": now}
    configure(hook, form)
    if form.type != "studio":
        hook.setdefault("method", "POST")
    hook.setdefault("retry_count", 0)
    hook["date_updated"] = now
    await store_webhooks(call, session, channels, channel, [*webhooks, hook], flow_integration)
    return render_webhook(call, channel, hook)


@router.get(WEBHOOKS + "/{webhook_sid}", response_model=ChannelWebhookResource, responses=error_responses(404))
async def fetch_webhook(
    call: CallDep, session: SessionDep, service_sid: str, channel_sid: str, webhook_sid: str
) -> dict[str, Any]:
    channel = await load_channel(session, service_sid, channel_sid)
    webhooks, _ = await webhooks_of(session, channel)
    return render_webhook(call, channel, find_webhook(webhooks, webhook_sid))


@router.post(WEBHOOKS + "/{webhook_sid}", response_model=ChannelWebhookResource, responses=error_responses(404, 409))
async def update_webhook(
    call: CallDep,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    channel_sid: str,
    webhook_sid: str,
    form: Annotated[WebhookConfigurationForm, Form()],
) -> dict[str, Any]:
    channel = await load_channel(session, service_sid, channel_sid)
    webhooks, flow_integration = await webhooks_of(session, channel)
    hook = find_webhook(webhooks, webhook_sid)
    configure(hook, form)
    hook["date_updated"] = iso(utcnow())
    await store_webhooks(call, session, channels, channel, webhooks, flow_integration)
    return render_webhook(call, channel, hook)


@router.delete(WEBHOOKS + "/{webhook_sid}", status_code=204, responses=error_responses(404, 409))
async def delete_webhook(
    call: CallDep,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    channel_sid: str,
    webhook_sid: str,
) -> Response:
    channel = await load_channel(session, service_sid, channel_sid)
    webhooks, flow_integration = await webhooks_of(session, channel)
    hook = find_webhook(webhooks, webhook_sid)
    remaining = [other for other in webhooks if other is not hook]
    await store_webhooks(call, session, channels, channel, remaining, flow_integration)
    return Response(status_code=204)


@router.get("/{service_sid}/Channels/{channel_sid}/Invites", response_model=InvitePage, responses=error_responses(404))
async def list_invites(
    call: CallDep, session: SessionDep, service_sid: str, channel_sid: str, paging: PagingDep
) -> dict[str, Any]:
    """Switchboard sends no invites: a channel's list is empty."""
    await load_channel(session, service_sid, channel_sid)
    return call.page("invites", [], paging, None, False)


@router.get("/{service_sid}/Users", response_model=UserPage, responses=error_responses(404))
async def list_users(call: CallDep, session: SessionDep, service_sid: str, paging: PagingDep) -> dict[str, Any]:
    """The users Conversations keeps for the service (``api.routes.conversation_users``)."""
    await load_service(session, service_sid)
    return await chat_users_page(call, session, service_sid, paging)


@router.get("/{service_sid}/Roles", response_model=RolePage, responses=error_responses(404))
async def list_roles(call: CallDep, session: SessionDep, service_sid: str, paging: PagingDep) -> dict[str, Any]:
    """The roles Conversations keeps for the service (``api.routes.conversation_roles``); access
    is by token role (agent, supervisor, admin), not by these."""
    await load_service(session, service_sid)
    return await chat_roles_page(call, session, service_sid, paging)


@router.get("/{service_sid}/Bindings", response_model=BindingPage, responses=error_responses(404))
async def list_bindings(call: CallDep, session: SessionDep, service_sid: str, paging: PagingDep) -> dict[str, Any]:
    """Switchboard sends no push notifications."""
    await load_service(session, service_sid)
    return call.page("bindings", [], paging, None, False)
