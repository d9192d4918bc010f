"""A customer's conversation as Flex runs it, and the rules for writing in one, in one place that
every surface calls (REST, the agent and customer sockets; provider webhooks carry only the
customer's own messages, which are always taken):

- opening a contact's channel on a Flex Flow (Flex v1 Channels, WebChannels, the web chat widget);
- who may write (``api.access`` decides who reaches a channel; a desk writes only where it holds
  the task), what a message carries (media uploaded to its channel; a template only on WhatsApp),
  WhatsApp's 24-hour reply window (outside it only an approved template goes), that a desk
  does not write into a closed conversation (the customer's next message reopens it), and that
  nobody writes into a conversation closed for good (Conversations' ``closed``, 50377);
- an agent starting a conversation: a customer who is already with another agent, waiting in a
  queue or in a flow is not written to; the conversation belongs to whoever works it until a
  transfer hands it over;
- ending the conversation (the customer leaving the web chat, or ``ChatStatus=inactive``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from api.access import may_reach_channel
from api.channels import CONVERSATION_CLOSED, config_for_row, contact_config, on_contact_channel, update_failure
from api.conversation_hooks import ActionRefused, before_message
from api.deps import AppContext
from api.routing_calls import routed
from api.tokens import Grants
from api.twilio_shape import SERVICE_UNAVAILABLE, TwilioError, invalid, iso, message_body_problem
from switchboard.conversation_events import source_of_channel_type
from switchboard.observability import CHANNEL_SID
from switchboard.store.channel_work import ACTING_RESERVATIONS, LIVE_TASK_STATUSES, holders
from switchboard.store.defaults import plan_flex_defaults
from switchboard.store.feed import add_for_channel, chat_ended_reason
from switchboard.store.models import Channel, FlexFlow, MediaObject, Message, Reservation, Task, Worker, utcnow
from workflows.channel_delivery import PROVIDER_CHANNEL_TYPES
from workflows.messages import (
    ChannelConfig,
    ChannelState,
    ChannelStatus,
    InboundMessage,
    MediaRef,
    OutboundStart,
    StoredMessage,
)
from workflows.routing.messages import TaskChange

log = logging.getLogger(__name__)

# WhatsApp takes free-form messages only this long after the customer's last message.
WHATSAPP_WINDOW = timedelta(hours=24)
# How many of a channel's latest messages are searched for the customer's last one.
WINDOW_SCAN = 500
# Twilio's codes: a free-form message outside the allowed window; a conflicting state.
OUTSIDE_REPLY_WINDOW = 63016
CONVERSATION_TAKEN = 50300
# The task attribute naming the worker an outbound conversation was started for.
TARGET_WORKER = "targetWorkerSid"


class ConversationRefused(Exception):
    """A write the conversation rules turn away: ``status`` as HTTP has it, ``code`` Twilio's
    where it has one. Each surface shows it its own way (an error frame, a Twilio error)."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Writer:
    """Who writes: ``author`` as the message shows it, and the token's ``grants`` for a desk or a
    web customer (None: the account or an API key over REST, an operator)."""

    author: str
    grants: Grants | None = None

    @property
    def is_desk(self) -> bool:
        return self.grants is not None and self.grants.role != "customer"


@dataclass(frozen=True)
class ContactChannelRequest:
    """What Flex v1 ``Channels`` and ``WebChannels`` ask for when they open a contact's channel."""

    flex_flow_sid: str
    identity: str
    customer_friendly_name: str
    chat_friendly_name: str
    target: str | None = None
    chat_unique_name: str | None = None
    # JSON text (checked by the caller).
    pre_engagement_data: str | None = None
    task_attributes: str | None = None
    long_lived: bool | None = None


async def enabled_flow(session: AsyncSession, flex_flow_sid: str, parameter: str = "FlexFlowSid") -> FlexFlow:
    flow = await session.get(FlexFlow, flex_flow_sid)
    if flow is None:
        raise invalid(parameter, f"Flex Flow {flex_flow_sid} does not exist")
    if not flow.enabled:
        raise invalid(parameter, f"Flex Flow {flow.sid} is disabled")
    return flow


async def enabled_web_flow(session: AsyncSession, flex_flow_sid: str, parameter: str) -> FlexFlow:
    """A web customer's chat opens only on an enabled web Flex Flow (Flex v1 WebChannels, the
    widget's sessions)."""
    flow = await enabled_flow(session, flex_flow_sid, parameter)
    if flow.channel_type != "web":
        raise invalid(parameter, f"Flex Flow {flow.sid} is a {flow.channel_type} flow, not a web flow")
    return flow


async def open_contact_channel(
    context: AppContext, session: AsyncSession, flow: FlexFlow, request: ContactChannelRequest
) -> tuple[Channel, ChannelState]:
    """The contact's open channel on ``flow`` (created when there is none), its interaction begun:
    the same identity gets its open channel back."""
    config = await contact_config(context, session, flow, request.target or request.identity)
    config = replace(
        config,
        contact_name=request.customer_friendly_name,
        friendly_name=request.chat_friendly_name,
        unique_name=request.chat_unique_name,
        long_lived=config.long_lived if request.long_lived is None else request.long_lived,
        pre_engagement_data=request.pre_engagement_data or None,
        task_attributes=request.task_attributes or None,
    )
    channels = context.channels
    try:
        state = await on_contact_channel(config, lambda target: channels.open(target, begin_interaction=True))
    except WorkflowUpdateFailedError as exc:
        raise update_failure(exc) from exc
    await session.commit()  # end the read transaction: the row was written by the workflow
    channel = await session.get(Channel, state.channel_sid)
    assert channel is not None, "the channel workflow answers once its row exists"
    return channel, state


async def channel_task(session: AsyncSession, channel_sid: str, worker_sid: str | None = None) -> Task | None:
    """The channel's latest task (the current interaction's), or the latest one ``worker_sid``
    holds a reservation for."""
    query = select(Task).where(Task.channel_sid == channel_sid)
    if worker_sid is not None:
        query = query.join(Reservation, col(Reservation.task_sid) == col(Task.sid)).where(
            Reservation.worker_sid == worker_sid
        )
    return (await session.exec(query.order_by(col(Task.date_created).desc()).limit(1))).first()


async def end_conversation(
    context: AppContext, channel_sid: str, by: str, post_engagement_data: str | None = None
) -> str | None:
    """End the channel's current interaction: a task still waiting for an agent is canceled, one
    an agent holds moves to wrap-up (the agent completes it); everyone on the channel hears
    ``chat.ended``. Answers the task changed, if any."""
    async with context.db.session() as session:
        task = await channel_task(session, channel_sid)
    changed: str | None = None
    if task is not None and task.assignment_status in LIVE_TASK_STATUSES:
        if task.assignment_status in ("pending", "reserved"):
            change = TaskChange(task.sid, "canceled", reason=chat_ended_reason(by))
        elif task.assignment_status == "assigned":
            change = TaskChange(task.sid, "wrapping", reason=chat_ended_reason(by))
        else:
            change = None
        if change is not None:
            await routed(context.routing.change_task(task.workspace_sid, change))
        changed = task.sid
    async with context.db.write_session() as session:
        data = {"channel_sid": channel_sid, "by": by}
        if post_engagement_data:
            data["post_engagement_data"] = json.loads(post_engagement_data)
        await add_for_channel(session, context.cipher, channel_sid, "chat.ended", data)
        await session.commit()
    return changed


# --- writing in a conversation ----------------------------------------------------------------


async def receive_customer_message(
    context: AppContext, session: AsyncSession, flow: FlexFlow, address: str, message: InboundMessage
) -> None:
    """A provider webhook's customer message, delivered to the contact's current channel on
    ``flow``: always taken (a customer may always write; a closed conversation is reopened, or
    succeeded by a new channel, by the channel workflow), unless a Conversations pre-event webhook
    refuses it: then it is dropped (answered 2xx, so the provider does not retry it; nothing is
    stored), as Twilio drops an inbound message its ``onMessageAdd`` webhook refused. Not durable
    is a 503, so the provider retries (the message key keeps the retry idempotent)."""
    config = await contact_config(context, session, flow, address)
    CHANNEL_SID.set(config.channel_sid)
    channel = await session.get(Channel, config.channel_sid)
    # The request's connection goes back to the pool before the pre-event webhooks read their
    # targets in a session of their own: a burst of webhooks must not each hold two.
    await session.commit()
    try:
        message = await before_message(
            context,
            config.service_sid,
            config.channel_sid,
            channel,
            message,
            source_of_channel_type(flow.channel_type),
        )
    except ActionRefused as exc:
        log.info("message %s dropped: %s", message.key, exc.message)
        return
    try:
        await context.channels.deliver(config, message)
    except RPCError as exc:
        log.error("message %s not accepted by Temporal: %s", message.key, exc)
        raise TwilioError(503, "the message could not be stored; retry", SERVICE_UNAVAILABLE) from exc


async def last_customer_message(context: AppContext, channel_sid: str, address: str) -> datetime | None:
    """When the customer at ``address`` last wrote on the channel (among its recent messages)."""
    query = (
        select(Message).where(Message.channel_sid == channel_sid).order_by(col(Message.index).desc()).limit(WINDOW_SCAN)
    )
    async with context.db.session() as session:
        for message in (await session.exec(query)).all():
            if context.cipher.decrypt(message.author_enc, "message.author") == address:
                return message.date_created
    return None


async def check_reply_window(context: AppContext, channel_type: str, channel_sid: str, address: str | None) -> None:
    """WhatsApp takes free-form messages only within 24 hours of the customer's last message;
    after that (or before the customer ever wrote) only an approved template."""
    if channel_type != "whatsapp":
        return
    last = await last_customer_message(context, channel_sid, address) if address else None
    if last is None or utcnow() - last.replace(tzinfo=last.tzinfo or UTC) > WHATSAPP_WINDOW:
        since = f"the customer last wrote at {iso(last)}" if last else "the customer has not written"
        raise ConversationRefused(
            409,
            f"outside WhatsApp's 24-hour window ({since}): only an approved template may be sent "
            '(send_message with "template": {"name", "language", "variables"})',
            OUTSIDE_REPLY_WINDOW,
        )


def closed_refusal(channel: Channel) -> ConversationRefused | None:
    """The refusal of any message or change to a conversation closed for good (by REST or its
    closed timer), on every surface: Conversations, Chat v2, the agent's and the customer's
    sockets. A contact writing again by SMS or WhatsApp reaches a new channel instead."""
    if channel.status != ChannelStatus.CLOSED:
        return None
    return ConversationRefused(
        400, f"Can't update conversation {channel.sid} as it's in final closed state", CONVERSATION_CLOSED
    )


async def check_may_write(session: AsyncSession, grants: Grants, channel_sid: str) -> None:
    """Refuses unless ``grants`` may act on the channel (post, type, mark read); says so when the
    channel is only readable to them (their task there is over or was transferred)."""
    if await may_reach_channel(session, grants, channel_sid):
        return
    role = "customer" if grants.role == "customer" else "agent"
    if grants.role != "customer" and await may_reach_channel(session, grants, channel_sid, watch=True):
        raise ConversationRefused(
            403, f"channel {channel_sid} is read-only to this {role}: its task there is over or transferred"
        )
    raise ConversationRefused(403, f"channel {channel_sid} is not one of this {role}'s channels")


def media_view(media: MediaObject, context: AppContext) -> MediaRef:
    """An uploaded media object as a message carries it."""
    filename = context.cipher.decrypt(media.filename_enc, "media.filename")
    return MediaRef(media.content_type, f"/v1/Media/{media.sid}/Content", media.sid, filename, media.size)


async def message_channel(
    context: AppContext, channel_sid: str, media_sids: Sequence[str], *, template: bool
) -> tuple[Channel, list[MediaRef]]:
    """The channel a desk or a web customer sends a message on, and the media it carries: only
    media uploaded to that channel, and an approved ``template`` only on WhatsApp."""
    async with context.db.session() as session:
        channel = await session.get(Channel, channel_sid)
        if channel is None:
            raise ConversationRefused(404, f"channel {channel_sid} does not exist")
        if template and channel.channel_type != "whatsapp":
            raise ConversationRefused(400, "send_message: templates are for WhatsApp conversations")
        media: list[MediaRef] = []
        for sid in media_sids:
            row = await session.get(MediaObject, sid)
            if row is None or row.channel_sid != channel_sid:
                raise ConversationRefused(400, f"send_message: media {sid} was not uploaded to channel {channel_sid}")
            media.append(media_view(row, context))
    return channel, media


async def post_message(
    context: AppContext,
    channel_sid: str,
    writer: Writer,
    message: InboundMessage,
    *,
    template: bool = False,
    channel: Channel | None = None,
) -> StoredMessage:
    """Post ``message`` on the channel as ``writer``, once the rules allow it: the writer reaches
    the channel (a desk: it holds the channel's task), a desk does not write into a closed
    conversation, and a business message on WhatsApp is in the reply window or a ``template``."""
    async with context.db.session() as session:
        if writer.grants is not None:
            await check_may_write(session, writer.grants, channel_sid)
        channel = channel or await session.get(Channel, channel_sid)
        if channel is None:
            raise ConversationRefused(404, f"channel {channel_sid} does not exist", 20404)
        config = await config_for_row(context, session, channel)
    if (closed := closed_refusal(channel)) is not None:
        raise closed
    if writer.is_desk and channel.status == ChannelStatus.INACTIVE:
        raise ConversationRefused(
            409, f"the conversation on channel {channel_sid} is closed: start a new conversation", CONVERSATION_TAKEN
        )
    if not template and writer.author != config.contact_address:
        await check_reply_window(context, channel.channel_type, channel_sid, config.contact_address)
    if writer.is_desk:
        # An agent's words never begin an interaction: a customer who left is not put back in a
        # flow or a queue by them (the channel workflow holds to it).
        message = replace(message, begins_interaction=False)
    source = "API" if writer.grants is None else "SDK"
    try:
        message = await before_message(context, channel.service_sid, channel_sid, channel, message, source)
    except ActionRefused as exc:
        raise ConversationRefused(exc.status, exc.message, exc.code) from exc
    try:
        return await context.channels.post(config, message)
    except WorkflowUpdateFailedError as exc:
        refusal = update_failure(exc)
        raise ConversationRefused(
            refusal.status, f"the channel refused the message: {refusal.message}", refusal.code
        ) from exc


# --- an agent starts a conversation -----------------------------------------------------------


@dataclass(frozen=True)
class OutboundRequest:
    """An agent reaching out to a customer on a provider channel, optionally with first words."""

    flex_flow_sid: str
    to: str
    worker_sid: str
    identity: str
    customer_name: str | None = None
    body: str | None = None
    # Makes a resent request store the first words once.
    key: str = ""


async def live_task(session: AsyncSession, channel_sid: str, task_sid: str | None = None) -> Task | None:
    """The channel's live task (``task_sid``, or its latest one still live)."""
    query = select(Task).where(Task.channel_sid == channel_sid, col(Task.assignment_status).in_(LIVE_TASK_STATUSES))
    if task_sid is not None:
        query = query.where(Task.sid == task_sid)
    return (await session.exec(query.order_by(col(Task.date_created).desc()).limit(1))).first()


async def check_not_taken(context: AppContext, channel_sid: str, worker_sid: str, task_sid: str | None = None) -> bool:
    """Refuses unless the channel's live task (if any) is the worker's: one it holds, or the
    outbound task started for it and not yet offered. Answers whether there is such a task."""
    async with context.db.session() as session:
        task = await live_task(session, channel_sid, task_sid)
        if task is None:
            return False
        held_by = list(
            await session.exec(holders(channel_sid, ACTING_RESERVATIONS).where(Reservation.task_sid == task.sid))
        )
        attributes: dict[str, Any] = json.loads(context.cipher.decrypt(task.attributes_enc, "task.attributes"))
    if worker_sid in held_by:
        return True
    if not held_by and attributes.get(TARGET_WORKER) == worker_sid:
        return True
    where = f"channel {channel_sid}, task {task.sid}"
    if held_by:
        raise ConversationRefused(
            409,
            f"the customer is already in a conversation with another agent ({where}): "
            "it is theirs until they or a supervisor transfer it to you",
            CONVERSATION_TAKEN,
        )
    raise ConversationRefused(
        409,
        f"the customer's conversation is waiting for another agent ({where}): it reaches an agent through "
        "routing, or a supervisor can transfer it to you",
        CONVERSATION_TAKEN,
    )


async def start_outbound(context: AppContext, request: OutboundRequest) -> dict[str, Any]:
    """Reach out to a customer on SMS, WhatsApp or Messenger. Unless the Flex Flow creates tasks
    on the customer's message, the interaction's task is created now and offered to this agent
    alone; the first words go out once the conversation is known to be this agent's. A customer
    already with another agent, in a queue or in a flow, or an agent who is not Available (and does
    not hold the conversation already), is refused before anything is written."""
    if request.body is not None and (problem := message_body_problem(request.body)) is not None:
        raise ConversationRefused(400, f"start_conversation: {problem}")
    async with context.db.session() as session:
        flow = await enabled_flow(session, request.flex_flow_sid, "flex_flow_sid")
        if flow.channel_type not in PROVIDER_CHANNEL_TYPES:  # a web customer starts from the widget
            raise ConversationRefused(
                400, f"start_conversation: a {flow.channel_type} Flex Flow cannot reach out first"
            )
        config = replace(
            await contact_config(context, session, flow, request.to), contact_name=request.customer_name or request.to
        )
    if request.body:
        await check_reply_window(context, flow.channel_type, config.channel_sid, request.to)
    if not await check_not_taken(context, config.channel_sid, request.worker_sid):
        await check_available(context, request.worker_sid)
    channels = context.channels
    integration = config.integration
    try:
        if integration is not None and integration.creation_on_message:
            state = await on_contact_channel(config, lambda target: channels.open(target))
        else:
            start = outbound_start(context, config, flow, request)
            state = await on_contact_channel(config, lambda target: channels.begin_outbound(target, start))
    except WorkflowUpdateFailedError as exc:
        raise ConversationRefused(409, f"the conversation could not start: {exc.cause}") from exc
    if state.execution_sid is not None:
        raise ConversationRefused(
            409,
            f"the customer is in a flow on channel {state.channel_sid} (execution {state.execution_sid}): "
            "the conversation reaches an agent through routing",
            CONVERSATION_TAKEN,
        )
    if state.open_task_sid is not None:
        await check_not_taken(context, state.channel_sid, request.worker_sid, state.open_task_sid)
    answer: dict[str, Any] = {"channel_sid": state.channel_sid, "task_sid": state.open_task_sid, "message_sid": None}
    if request.body:
        # The agent's opening words go to the customer; they do not start the flow, and they are
        # refused by the channel if its task changed since the check above.
        first = InboundMessage(
            key=f"agent:{request.worker_sid}:{request.key}",
            author=request.identity,
            body=request.body,
            runs_integration=False,
            begins_interaction=False,
            requires_task=state.open_task_sid,
        )
        try:
            stored = await channels.post(replace(config, channel_sid=state.channel_sid), first)
        except WorkflowUpdateFailedError as exc:
            raise ConversationRefused(409, f"the first message was not sent: {exc.cause}", CONVERSATION_TAKEN) from exc
        answer["message_sid"] = stored.sid
    return answer


async def check_available(context: AppContext, worker_sid: str) -> None:
    """An agent starts a new conversation only while Available: its task is offered to that agent
    alone, and routing offers nothing to an agent who is not, so the customer would get the first
    words while the conversation sat with nobody. Refused before anything is written or sent."""
    async with context.db.session() as session:
        worker = await session.get(Worker, worker_sid)
    if worker is None:
        raise ConversationRefused(404, f"start_conversation: worker {worker_sid} does not exist")
    if not worker.available:
        raise ConversationRefused(
            409,
            f"You are {worker.activity_name}: go Available to start a conversation. Nothing was sent.",
        )


def outbound_start(
    context: AppContext, config: ChannelConfig, flow: FlexFlow, request: OutboundRequest
) -> OutboundStart:
    """The task of an agent's outbound conversation: on the Flex Flow's task integration, or the
    default workspace's, offered to that agent alone."""
    defaults = plan_flex_defaults(context.settings).defaults
    integration = config.integration
    task_integration = integration if integration is not None and integration.type == "task" else None
    attributes = {
        "name": config.contact_name,
        "from": request.to,
        "channelType": flow.channel_type,
        "channelSid": config.channel_sid,
        "direction": "outbound",
        TARGET_WORKER: request.worker_sid,
    }
    return OutboundStart(
        worker_sid=request.worker_sid,
        workspace_sid=(task_integration.workspace_sid if task_integration else None) or defaults.workspace_sid,
        workflow_sid=(task_integration.workflow_sid if task_integration else None) or defaults.workflow_sid,
        task_channel=(task_integration.channel if task_integration else None) or defaults.chat_task_channel_sid,
        attributes=json.dumps(attributes),
    )
