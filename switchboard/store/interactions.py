"""Flex v1 Interactions in the store: the rows an interaction is (``models.interactions``) and the
attributes Flex gives the task of each invite on a conversation, written in one place for the REST
API (``api.interactions``) and for Studio's send-to-flex on a conversation (the routing activity
that creates the flow's task)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from switchboard.store.crypto import Cipher
from switchboard.store.models import FlexInteraction, FlexInteractionInvite, StudioExecution
from workflows import sids

# The Studio trigger of a conversation's message (``trigger.conversation``).
CONVERSATION_TRIGGER = "conversation"
# A chat channel's type as an interaction channel's (Flex Flows say ``facebook`` for Messenger).
INTERACTION_CHANNEL_TYPES = {
    "sms": "sms",
    "whatsapp": "whatsapp",
    "web": "web",
    "chat": "chat",
    "facebook": "messenger",
    "messenger": "messenger",
}


@dataclass(frozen=True)
class InteractionPlan:
    """An interaction to open on a conversation, its first invite's task already named."""

    conversation_sid: str
    channel_type: str
    initiated_by: str
    # The Channel object as the caller gave it (JSON text).
    channel_json: str
    workspace_sid: str
    task_sid: str
    # The Routing object as the caller gave it (JSON text).
    routing_json: str
    customer_name: str | None = None
    customer_address: str | None = None
    interaction_context_sid: str | None = None
    webhook_ttid: str | None = None
    interaction_sid: str = field(default_factory=lambda: sids.new_sid(sids.INTERACTION))
    channel_sid: str = field(default_factory=lambda: sids.new_sid(sids.INTERACTION_CHANNEL))
    invite_sid: str = field(default_factory=lambda: sids.new_sid(sids.INTERACTION_INVITE))


def flex_attributes(
    interaction: FlexInteraction,
    invite_sid: str,
    customer_name: str | None,
    customer_address: str | None,
    given: dict[str, Any],
) -> dict[str, Any]:
    """The attributes Flex gives an interaction's task on a conversation (the caller's own
    ``attributes`` added as they are, and winning)."""
    inbound = interaction.initiated_by != "agent"
    attributes: dict[str, Any] = {
        "conversationSid": interaction.conversation_sid,
        "channelSid": interaction.conversation_sid,
        "channelType": interaction.channel_type,
        "flexInteractionSid": interaction.sid,
        "flexInteractionChannelSid": interaction.channel_sid,
        "flexChannelInviteSid": invite_sid,
        "initiatedBy": interaction.initiated_by,
        "direction": "inbound" if inbound else "outbound",
        "conversations": {
            "initiated_by": interaction.initiated_by,
            "conversation_id": interaction.sid,
            "media": [{"type": "ChatTranscript", "sid": interaction.conversation_sid}],
        },
    }
    name = customer_name or customer_address
    if name:
        attributes["name"] = attributes["customerName"] = name
    if customer_address:
        attributes["customerAddress"] = customer_address
    customers = {k: v for k, v in (("name", name), ("phone", customer_address)) if v}
    if customers:
        attributes["customers"] = customers
    attributes.update(given)
    return attributes


def new_interaction(cipher: Cipher, plan: InteractionPlan) -> FlexInteraction:
    return FlexInteraction(
        sid=plan.interaction_sid,
        channel_sid=plan.channel_sid,
        channel_type=plan.channel_type,
        initiated_by=plan.initiated_by,
        conversation_sid=plan.conversation_sid,
        channel_enc=cipher.encrypt(plan.channel_json, "flex_interaction.channel"),
        interaction_context_sid=plan.interaction_context_sid,
        webhook_ttid=plan.webhook_ttid,
    )


def new_invite(
    cipher: Cipher, interaction: FlexInteraction, sid: str, task_sid: str, workspace_sid: str, routing_json: str
) -> FlexInteractionInvite:
    return FlexInteractionInvite(
        sid=sid,
        interaction_sid=interaction.sid,
        channel_sid=interaction.channel_sid,
        task_sid=task_sid,
        workspace_sid=workspace_sid,
        routing_enc=cipher.encrypt(routing_json, "flex_interaction_invite.routing"),
    )


async def conversation_execution(session: AsyncSession, cipher: Cipher, channel_sid: str) -> dict[str, Any] | None:
    """``trigger.conversation`` of the Studio execution running on the channel, when it is a
    conversation's (``incomingConversationMessage``)."""
    query = (
        select(StudioExecution)
        .where(StudioExecution.channel_sid == channel_sid, StudioExecution.status == "active")
        .order_by(col(StudioExecution.date_created).desc())
        .limit(1)
    )
    execution = (await session.exec(query)).first()
    if execution is None:
        return None
    context = json.loads(cipher.decrypt(execution.context_enc, "studio_execution.context"))
    trigger = context.get("trigger") if isinstance(context, dict) else None
    found = trigger.get(CONVERSATION_TRIGGER) if isinstance(trigger, dict) else None
    return found if isinstance(found, dict) else None


async def interaction_for_flow_task(
    session: AsyncSession,
    cipher: Cipher,
    *,
    channel_sid: str,
    channel_type: str,
    task_sid: str,
    workspace_sid: str,
    workflow_sid: str,
    task_channel: str,
    attributes: str,
) -> str:
    """Studio's send-to-flex on a conversation (the execution's trigger is a conversation's
    message), as Flex on Conversations does it: the task is an interaction's, so its attributes
    carry ``flexInteractionSid`` and the rest. The interaction is opened once per task (a retried
    activity finds its invite). Answers the task's attributes (unchanged for any other run)."""
    trigger = await conversation_execution(session, cipher, channel_sid)
    if trigger is None:
        return attributes
    given: dict[str, Any] = json.loads(attributes or "{}")
    existing = (
        await session.exec(select(FlexInteractionInvite).where(FlexInteractionInvite.task_sid == task_sid))
    ).first()
    if existing is not None:
        interaction = await session.get(FlexInteraction, existing.interaction_sid)
        assert interaction is not None
        invite_sid = existing.sid
    else:
        author = trigger.get("Author")
        routing = {
            "properties": {
                "workspace_sid": workspace_sid,
                "workflow_sid": workflow_sid,
                "task_channel_unique_name": task_channel,
                "attributes": given,
            }
        }
        channel = {"type": channel_type, "initiated_by": "customer", "properties": {"media_channel_sid": channel_sid}}
        plan = InteractionPlan(
            conversation_sid=channel_sid,
            channel_type=channel_type,
            initiated_by="customer",
            channel_json=json.dumps(channel),
            workspace_sid=workspace_sid,
            task_sid=task_sid,
            routing_json=json.dumps(routing),
            customer_address=author if isinstance(author, str) else None,
        )
        interaction = new_interaction(cipher, plan)
        invite_sid = plan.invite_sid
        session.add(interaction)
        session.add(new_invite(cipher, interaction, invite_sid, task_sid, workspace_sid, plan.routing_json))
        await session.commit()
    author = trigger.get("Author")
    address = author if isinstance(author, str) else None
    return json.dumps(flex_attributes(interaction, invite_sid, None, address, given))
