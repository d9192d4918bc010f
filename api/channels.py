"""How the API addresses channel workflows: the ``ChannelConfig`` of a contact's channel (from its
Flex Flow) or of an existing channel row, a contact's message delivered to its current channel,
and a channel's refusals in Twilio's shape."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api.address_configurations import configuration_flow, configuration_serving, flow_of_channel
from api.channel_webhooks import integration_for_channel, integration_of, triggers_for_channel, triggers_of
from api.deps import AppContext
from api.lookups import ContactChannel
from api.twilio_shape import CONFLICT, UNIQUE_NAME_TAKEN, TwilioError
from switchboard.store.contacts import address_hash, current_channel_sid
from switchboard.store.crypto import KeyedHasher
from switchboard.store.defaults import plan_flex_defaults
from switchboard.store.models import Channel, Contact, FlexFlow
from workflows import sids
from workflows.messages import ChannelConfig, ChannelStatus, ConversationTimers, Integration

T = TypeVar("T")
# A conversation closed for good refuses messages and changes (Twilio's code).
CONVERSATION_CLOSED = 50377


def _config(context: AppContext, **fields: Any) -> ChannelConfig:
    """A channel's config with the deployment's lifecycle settings."""
    return ChannelConfig(
        inactivity_seconds=context.settings.channel_inactivity_seconds,
        run_message_budget=context.settings.channel_run_message_budget,
        **fields,
    )


def default_service(context: AppContext) -> str:
    """The account's default conversation service (the Flex defaults' chat service)."""
    return plan_flex_defaults(context.settings).defaults.chat_service_sid


def integration_for(flow: FlexFlow | None) -> Integration | None:
    """The integration a channel of ``flow`` runs, or None (no flow, no integration, disabled)."""
    if flow is None or flow.integration_type is None or not flow.enabled:
        return None
    stored: dict[str, Any] = json.loads(flow.integration_json or "{}")
    known = {name: value for name, value in stored.items() if name in Integration.__dataclass_fields__}
    return Integration(type=flow.integration_type, **known)


async def contact_config(context: AppContext, session: AsyncSession, flow: FlexFlow, address: str) -> ChannelConfig:
    """The config of the channel the customer at ``address`` currently talks on through ``flow``
    (the channel from ``context.lookups`` while fresh)."""
    contact_hash = address_hash(context.hasher, address)
    contact = await context.lookups.contact_channel(
        (flow.sid, contact_hash), lambda: contact_channel(session, context.hasher, flow.sid, contact_hash)
    )
    integration = integration_for(flow)
    webhooks = None if contact.webhooks_json is None else json.loads(contact.webhooks_json)
    return _config(
        context,
        channel_sid=contact.channel_sid,
        service_sid=flow.chat_service_sid,
        channel_type=flow.channel_type,
        long_lived=flow.long_lived,
        flex_flow_sid=flow.sid,
        contact_address=address,
        contact_hash=contact_hash,
        friendly_name=address,
        integration=integration if webhooks is None else integration_of(webhooks, integration),
        # Attributes a caller wrote outlive the close: the reopened channel shows them again.
        attributes=context.cipher.decrypt(contact.attributes_enc, "channel.attributes")
        if contact.attributes_enc is not None
        else None,
        attributes_written=contact.attributes_enc is not None,
        triggers=[] if webhooks is None else triggers_of(webhooks),
        flow_address=flow.contact_identity,
    )


async def contact_channel(
    session: AsyncSession, hasher: KeyedHasher, flex_flow_sid: str, contact_hash: str
) -> ContactChannel:
    """The contact's current channel, with the webhooks and the attributes a caller set on it: a
    channel that exists runs the webhooks a caller left it and shows the attributes they wrote (a
    long-lived channel reopening after it closed); a new one, or the next channel a closed
    short-lived one hands the message to, its Flex Flow's integration."""
    channel_sid = await current_channel_sid(session, hasher, flex_flow_sid, contact_hash)
    channel = await session.get(Channel, channel_sid)
    if (
        channel is None
        or channel.status == ChannelStatus.CLOSED
        or (not channel.long_lived and channel.status == ChannelStatus.INACTIVE)
    ):
        return ContactChannel(channel_sid, None, None)
    return ContactChannel(
        channel_sid, channel.webhooks_json, channel.attributes_enc if channel.attributes_written else None
    )


async def flow_serving(context: AppContext, session: AsyncSession, channel_type: str, address: str) -> FlexFlow | None:
    """The enabled Flex Flow whose contact identity is ``address`` on ``channel_type``, else the
    address configuration auto-creating conversations for it, as a Flex Flow
    (``api.address_configurations``); from ``context.lookups`` while fresh (the flow is shared, read
    it only)."""
    query = select(FlexFlow).where(
        FlexFlow.contact_identity == address,
        FlexFlow.channel_type == channel_type,
        col(FlexFlow.enabled).is_(True),
    )

    async def load() -> FlexFlow | None:
        flow = (await session.exec(query)).first()
        if flow is not None:
            return flow
        # An enabled Flex Flow wins; then an address configuration auto-creating conversations.
        configuration = await configuration_serving(session, channel_type, address)
        return None if configuration is None else configuration_flow(configuration, default_service(context))

    return await context.lookups.flow((channel_type, address), load)


async def flow_by_sid(context: AppContext, session: AsyncSession, sid: str) -> FlexFlow | None:
    """The Flex Flow ``sid`` (enabled or not), from ``context.lookups`` while fresh; read it only."""
    return await context.lookups.flow(("sid", sid), lambda: session.get(FlexFlow, sid))


async def config_for_row(context: AppContext, session: AsyncSession, channel: Channel) -> ChannelConfig:
    cipher = context.cipher
    contact_address = None
    flow = await flow_of_channel(session, channel.flex_flow_sid, default_service(context))
    if channel.flex_flow_sid and channel.contact_hash:
        contact = await session.get(Contact, (channel.flex_flow_sid, channel.contact_hash))
        if contact is not None:
            contact_address = cipher.decrypt(contact.address_enc, "contact.address")
    return _config(
        context,
        channel_sid=channel.sid,
        service_sid=channel.service_sid,
        channel_type=channel.channel_type,
        long_lived=channel.long_lived,
        flex_flow_sid=channel.flex_flow_sid,
        contact_address=contact_address,
        contact_hash=channel.contact_hash,
        friendly_name=cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name"),
        unique_name=channel.unique_name,
        attributes=cipher.decrypt(channel.attributes_enc, "channel.attributes"),
        attributes_written=channel.attributes_written,
        type=channel.type,
        created_by=channel.created_by,
        integration=integration_for_channel(channel, integration_for(flow)),
        triggers=triggers_for_channel(channel),
        flow_address=flow.contact_identity if flow else None,
        timers=ConversationTimers(channel.timer_inactive, channel.timer_closed)
        if channel.timer_inactive is not None or channel.timer_closed is not None
        else None,
    )


def config_for_new_channel(
    context: AppContext,
    channel_sid: str,
    service_sid: str,
    *,
    friendly_name: str | None,
    unique_name: str | None,
    attributes: str,
    type: str,
    created_by: str,
) -> ChannelConfig:
    return _config(
        context,
        channel_sid=channel_sid,
        service_sid=service_sid,
        channel_type="chat",
        long_lived=True,
        friendly_name=friendly_name,
        unique_name=unique_name,
        attributes=attributes,
        type=type,
        created_by=created_by,
    )


def update_failure(exc: WorkflowUpdateFailedError) -> TwilioError:
    """A channel workflow's refusal of an update, in Twilio's error shape."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        if cause.type == "UniqueNameTaken":
            return TwilioError(409, cause.message, UNIQUE_NAME_TAKEN)
        if cause.type == "ConversationClosed":
            return TwilioError(400, cause.message, CONVERSATION_CLOSED)
        status = 409 if cause.type in ("ChannelClosed", "ConversationTaken") else 400
        return TwilioError(status, cause.message, CONFLICT if status == 409 else None)
    return TwilioError(500, f"the channel refused the change: {cause}", 20500)


def closed_successor(exc: WorkflowUpdateFailedError) -> str | None:
    """The successor channel SID of a ``ChannelClosed`` refusal, when it names one."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == "ChannelClosed" and cause.details:
        successor = cause.details[0]
        if isinstance(successor, str) and sids.is_sid(successor, sids.CHANNEL):
            return successor
    return None


async def on_contact_channel(config: ChannelConfig, attempt: Callable[[ChannelConfig], Awaitable[T]]) -> T:
    """Run ``attempt`` (an update) on the contact's channel. A short-lived channel that closed
    meanwhile refuses and names its successor: the update is made there, once."""
    try:
        return await attempt(config)
    except WorkflowUpdateFailedError as exc:
        successor = closed_successor(exc)
        if successor is None or successor == config.channel_sid:
            raise
    return await attempt(replace(config, channel_sid=successor))
