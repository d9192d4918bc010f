"""Flex v1 Interactions' rules, in one place every surface calls: an interaction binds one
conversation to TaskRouter, each invite is a task on it (the first at creation, then transfers
and re-invites), and closing the interaction channel (or one agent's participant) moves the tasks
on, as Flex's "wrap up" and "close" of an interaction do:

- ``Channel``: the media channel is an existing conversation (``properties.media_channel_sid``);
  creating one from ``participants`` (SMS or WhatsApp addresses) is refused by name;
- ``Routing``: ``properties`` with ``workspace_sid`` (required), ``workflow_sid`` (optional when the
  workspace has one workflow), ``queue_sid`` / ``worker_sid`` (the task goes to that queue or that
  worker alone, the workflow's filters skipped), ``task_channel_unique_name`` or
  ``task_channel_sid``, ``attributes`` (added as they are), ``priority``, ``timeout``;
- the task carries Flex's Conversations attributes (``conversationSid``, ``flexInteractionSid``,
  ``flexInteractionChannelSid``, ``flexChannelInviteSid``, ``channelType``, ``customers``, ...)
  and the conversation's SID as its channel, so the accepting agent joins the conversation as a
  participant and writes in it from the agent socket, as on a legacy channel;
- closing the channel: tasks waiting for an agent are canceled; tasks an agent holds wrap up, or
  complete with ``Routing={"status": "closed"}``; ``inactive`` (parking) needs that routing status
  and leaves the channel open to a later invite;
- an agent participant's ``Status``: ``wrapup`` wraps its task up, ``closed`` completes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError

from api.channels import config_for_row, update_failure
from api.deps import AppContext
from api.routing_calls import routed
from api.twilio_shape import CONFLICT, TwilioError, invalid
from switchboard.store.contacts import worker_identity
from switchboard.store.interactions import InteractionPlan, flex_attributes, new_interaction, new_invite
from switchboard.store.models import (
    Channel,
    ChannelAgent,
    FlexInteraction,
    FlexInteractionInvite,
    Member,
    Reservation,
    RoutingWorkflow,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    Workspace,
    utcnow,
)
from workflows import sids
from workflows.messages import MemberSpec
from workflows.routing.messages import NewTask, TaskChange

# The media types an interaction channel may be here (Switchboard carries messaging only).
CHANNEL_TYPES = ("sms", "whatsapp", "web", "chat", "messenger")
TWILIO_CHANNEL_TYPES = ("voice", "sms", "email", "web", "whatsapp", "chat", "messenger", "gbm")
INITIATED_BY = ("customer", "agent", "api")
ROUTING_PROPERTIES = (
    "workspace_sid",
    "workflow_sid",
    "queue_sid",
    "worker_sid",
    "task_channel_sid",
    "task_channel_unique_name",
    "attributes",
    "priority",
    "timeout",
)
LIVE = ("pending", "reserved", "assigned", "wrapping")
CLOSED_REASON = "interaction channel closed"
# Conversations' "participant already exists".
PARTICIPANT_EXISTS = 50433


def json_object(text: str | None, parameter: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text or "")
    except ValueError as exc:
        raise invalid(parameter, f"must be a JSON object ({exc})") from exc
    if not isinstance(parsed, dict):
        raise invalid(parameter, "must be a JSON object")
    return parsed


@dataclass(frozen=True)
class RoutingRequest:
    """A Routing object, checked against the workspace it names."""

    workspace_sid: str
    workflow_sid: str
    task_channel: str
    attributes: dict[str, Any]
    priority: int
    timeout: int
    worker_sid: str | None
    queue_sid: str | None
    # As the caller gave it (JSON text).
    text: str


def _sid_property(properties: dict[str, Any], name: str, prefix: str) -> str | None:
    value = properties.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not sids.is_sid(value, prefix):
        raise invalid(f"Routing.properties.{name}", f"must be a {prefix} SID")
    return value


def _int_property(properties: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = properties.get(name, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid(f"Routing.properties.{name}", f"must be a whole number from {low} to {high}")
    return value


async def routing_request(session: AsyncSession, text: str | None) -> RoutingRequest:
    """The ``Routing`` parameter, every SID it names checked (400 naming the property)."""
    if not text:
        raise invalid("Routing", "is required: Switchboard routes every interaction through TaskRouter")
    routing = json_object(text, "Routing")
    unknown = sorted(set(routing) - {"properties"})
    if unknown:
        raise invalid(f"Routing.{unknown[0]}", "is not supported (only Routing.properties is)")
    properties = routing.get("properties")
    if not isinstance(properties, dict):
        raise invalid("Routing.properties", "is required (a JSON object)")
    extra = sorted(set(properties) - set(ROUTING_PROPERTIES))
    if extra:
        raise invalid(
            f"Routing.properties.{extra[0]}", f"is not supported (supported: {', '.join(ROUTING_PROPERTIES)})"
        )
    workspace_sid = _sid_property(properties, "workspace_sid", sids.WORKSPACE)
    if workspace_sid is None:
        raise invalid("Routing.properties.workspace_sid", "is required")
    if await session.get(Workspace, workspace_sid) is None:
        raise invalid("Routing.properties.workspace_sid", f"workspace {workspace_sid} does not exist")
    workflow_sid = _sid_property(properties, "workflow_sid", sids.WORKFLOW)
    if workflow_sid is None:
        flows = (
            await session.exec(select(RoutingWorkflow).where(RoutingWorkflow.workspace_sid == workspace_sid))
        ).all()
        if len(flows) != 1:
            raise invalid(
                "Routing.properties.workflow_sid", "is required when the workspace has more than one workflow"
            )
        workflow_sid = flows[0].sid
    workflow = await session.get(RoutingWorkflow, workflow_sid)
    if workflow is None or workflow.workspace_sid != workspace_sid:
        raise invalid("Routing.properties.workflow_sid", f"workflow {workflow_sid} is not in workspace {workspace_sid}")
    channels = (await session.exec(select(TaskChannel).where(TaskChannel.workspace_sid == workspace_sid))).all()
    task_channel = properties.get("task_channel_unique_name")
    channel_sid = _sid_property(properties, "task_channel_sid", sids.TASK_CHANNEL)
    if channel_sid is not None:
        by_sid = {c.sid: c.unique_name for c in channels}
        if channel_sid not in by_sid:
            raise invalid("Routing.properties.task_channel_sid", f"task channel {channel_sid} is not in the workspace")
        task_channel = by_sid[channel_sid]
    task_channel = task_channel or "default"
    if not isinstance(task_channel, str) or task_channel not in {c.unique_name for c in channels}:
        raise invalid(
            "Routing.properties.task_channel_unique_name", f"{task_channel!r} is not a task channel of the workspace"
        )
    worker_sid = _sid_property(properties, "worker_sid", sids.WORKER)
    if worker_sid is not None:
        worker = await session.get(Worker, worker_sid)
        if worker is None or worker.workspace_sid != workspace_sid:
            raise invalid("Routing.properties.worker_sid", f"worker {worker_sid} is not in workspace {workspace_sid}")
    queue_sid = _sid_property(properties, "queue_sid", sids.TASK_QUEUE)
    if queue_sid is not None:
        queue = await session.get(TaskQueue, queue_sid)
        if queue is None or queue.workspace_sid != workspace_sid:
            raise invalid("Routing.properties.queue_sid", f"queue {queue_sid} is not in workspace {workspace_sid}")
    attributes = properties.get("attributes", {})
    if isinstance(attributes, str):
        attributes = json_object(attributes, "Routing.properties.attributes")
    if not isinstance(attributes, dict):
        raise invalid("Routing.properties.attributes", "must be a JSON object")
    return RoutingRequest(
        workspace_sid=workspace_sid,
        workflow_sid=workflow_sid,
        task_channel=task_channel,
        attributes=attributes,
        priority=_int_property(properties, "priority", 0, 0, 2**31 - 1),
        timeout=_int_property(properties, "timeout", 86400, 1, 365 * 86400),
        worker_sid=worker_sid,
        queue_sid=queue_sid,
        text=text,
    )


@dataclass(frozen=True)
class ChannelRequest:
    """A Channel object: the conversation it binds to."""

    type: str
    initiated_by: str
    conversation: Channel
    text: str


async def channel_request(session: AsyncSession, text: str | None) -> ChannelRequest:
    channel = json_object(text, "Channel")
    kind = channel.get("type")
    if kind not in TWILIO_CHANNEL_TYPES:
        raise invalid("Channel.type", f"must be one of {', '.join(TWILIO_CHANNEL_TYPES)}")
    if kind not in CHANNEL_TYPES:
        raise invalid("Channel.type", f"{kind} interactions are not supported (Switchboard carries messaging only)")
    initiated_by = channel.get("initiated_by", "customer")
    if initiated_by not in INITIATED_BY:
        raise invalid("Channel.initiated_by", f"must be one of {', '.join(INITIATED_BY)}")
    if channel.get("participants"):
        raise invalid(
            "Channel.participants",
            "creating a conversation from participants' addresses is not supported yet: create the conversation "
            "through Conversations and pass it as Channel.properties.media_channel_sid",
        )
    properties = channel.get("properties") or {}
    if not isinstance(properties, dict):
        raise invalid("Channel.properties", "must be a JSON object")
    extra = sorted(set(properties) - {"media_channel_sid", "type"})
    if extra:
        raise invalid(f"Channel.properties.{extra[0]}", "is not supported (only media_channel_sid is)")
    media = properties.get("media_channel_sid")
    if not media:
        raise invalid(
            "Channel.properties.media_channel_sid", "is required: the conversation (CH) the interaction is on"
        )
    conversation = await session.get(Channel, media) if isinstance(media, str) else None
    if conversation is None:
        raise TwilioError(
            400, f"Invalid parameter Channel.properties.media_channel_sid: conversation {media} does not exist", 20404
        )
    return ChannelRequest(kind, initiated_by, conversation, text or "")


async def customer_of(context: AppContext, session: AsyncSession, conversation_sid: str) -> str | None:
    """The conversation's first participant: its customer (agents join when they accept)."""
    query = select(Member).where(Member.channel_sid == conversation_sid).order_by(col(Member.date_created)).limit(1)
    member = (await session.exec(query)).first()
    return None if member is None else context.cipher.decrypt(member.identity_enc, "member.identity")


async def _route(
    context: AppContext,
    session: AsyncSession,
    interaction: FlexInteraction,
    invite: FlexInteractionInvite,
    routing: RoutingRequest,
) -> None:
    """The invite's task, handed to the workspace's router (the invite's rows are stored first, so
    the task's attributes name what exists; they go again when the router refuses)."""
    customer = await customer_of(context, session, interaction.conversation_sid)
    attributes = flex_attributes(interaction, invite.sid, None, customer, routing.attributes)
    new = NewTask(
        invite.task_sid,
        routing.workflow_sid,
        routing.task_channel,
        json.dumps(attributes),
        routing.priority,
        routing.timeout,
        channel_sid=interaction.conversation_sid,
        only_worker=routing.worker_sid,
        queue_sid=routing.queue_sid,
    )
    # The conversation's workflow hears of the task first, so the task's end (from the router)
    # always comes after; a task the router refuses is taken back.
    await context.channels.task_opened(interaction.conversation_sid, invite.task_sid)
    try:
        await routed(context.routing.create_task(routing.workspace_sid, new))
    except TwilioError:
        await context.channels.task_ended(interaction.conversation_sid, invite.task_sid)
        await session.delete(invite)
        await session.commit()
        raise


async def open_interaction(
    context: AppContext,
    session: AsyncSession,
    channel: ChannelRequest,
    routing: RoutingRequest,
    interaction_context_sid: str | None = None,
    webhook_ttid: str | None = None,
) -> FlexInteraction:
    """A new interaction on the conversation, its first invite's task created."""
    plan = InteractionPlan(
        conversation_sid=channel.conversation.sid,
        channel_type=channel.type,
        initiated_by=channel.initiated_by,
        channel_json=channel.text,
        workspace_sid=routing.workspace_sid,
        task_sid=sids.new_sid(sids.TASK),
        routing_json=routing.text,
        interaction_context_sid=interaction_context_sid,
        webhook_ttid=webhook_ttid,
    )
    interaction = new_interaction(context.cipher, plan)
    invite = new_invite(
        context.cipher, interaction, plan.invite_sid, plan.task_sid, plan.workspace_sid, plan.routing_json
    )
    session.add(interaction)
    session.add(invite)
    await session.commit()
    try:
        await _route(context, session, interaction, invite, routing)
    except TwilioError:
        await session.delete(interaction)
        await session.commit()
        raise
    return interaction


async def invite(
    context: AppContext, session: AsyncSession, interaction: FlexInteraction, routing: RoutingRequest
) -> FlexInteractionInvite:
    """A new task on the interaction channel (a transfer, another agent, a parked interaction
    picked up again: an inactive channel becomes active)."""
    if interaction.channel_status == "closed":
        raise TwilioError(
            400, f"Invalid parameter ChannelSid: interaction channel {interaction.channel_sid} is closed", 20001
        )
    row = new_invite(
        context.cipher,
        interaction,
        sids.new_sid(sids.INTERACTION_INVITE),
        sids.new_sid(sids.TASK),
        routing.workspace_sid,
        routing.text,
    )
    session.add(row)
    if interaction.channel_status != "active":
        interaction.channel_status = "active"
        interaction.date_updated = utcnow()
        session.add(interaction)
    await session.commit()
    await _route(context, session, interaction, row, routing)
    return row


async def invite_tasks(session: AsyncSession, interaction: FlexInteraction) -> list[Task]:
    query = (
        select(Task)
        .join(FlexInteractionInvite, col(FlexInteractionInvite.task_sid) == col(Task.sid))
        .where(FlexInteractionInvite.channel_sid == interaction.channel_sid)
        .order_by(col(Task.date_created))
    )
    return list((await session.exec(query)).all())


def task_change(task: Task, complete: bool) -> TaskChange | None:
    """Where closing moves a task: a task no agent took is canceled; one an agent holds wraps up,
    or completes when ``complete``."""
    if task.assignment_status in ("pending", "reserved"):
        return TaskChange(task.sid, "canceled", CLOSED_REASON)
    if task.assignment_status == "assigned":
        return TaskChange(task.sid, "completed" if complete else "wrapping", CLOSED_REASON)
    if task.assignment_status == "wrapping" and complete:
        return TaskChange(task.sid, "completed", CLOSED_REASON)
    return None


async def close_channel(
    context: AppContext, session: AsyncSession, interaction: FlexInteraction, status: str, routing_status: str | None
) -> None:
    """``closed``: the channel's tasks wrap up (complete with routing status ``closed``);
    ``inactive`` (parked): they complete, and a later invite makes the channel active again."""
    if status == "inactive" and routing_status != "closed":
        raise invalid("Routing", 'is required as {"status": "closed"} when the channel status is inactive')
    complete = routing_status == "closed"
    for task in await invite_tasks(session, interaction):
        change = task_change(task, complete)
        if change is not None:
            await routed(context.routing.change_task(task.workspace_sid, change))
    await session.commit()  # end the read transaction: the router wrote the tasks
    fresh = await session.get(FlexInteraction, interaction.sid)
    assert fresh is not None
    fresh.channel_status = status
    fresh.date_updated = utcnow()
    session.add(fresh)
    await session.commit()


async def change_agent_task(context: AppContext, session: AsyncSession, task: Task, status: str) -> None:
    """An agent participant's ``Status``: ``wrapup`` wraps its task up, ``closed`` completes it
    (the conversation stays open)."""
    if status == "wrapup":
        if task.assignment_status == "assigned":
            await routed(context.routing.change_task(task.workspace_sid, TaskChange(task.sid, "wrapping")))
    elif task.assignment_status in ("assigned", "wrapping"):
        await routed(context.routing.change_task(task.workspace_sid, TaskChange(task.sid, "completed")))
    await session.commit()


# --- participants -------------------------------------------------------------------------------

# The reservation statuses of an agent who took an invite's task (a participant of the channel).
AGENT_RESERVATIONS = ("accepted", "wrapping", "completed")


@dataclass(frozen=True)
class InteractionParticipant:
    """A participant of the interaction channel: a customer (a participant of the conversation
    who is not an agent in it; SID from its conversation participant's) or an agent (a
    reservation accepted on an invite's task; SID from the reservation's)."""

    sid: str
    type: str
    routing_properties: dict[str, Any] | None
    # An agent's task, for its status changes.
    task: Task | None = None


def participant_sid(row_sid: str) -> str:
    return sids.INTERACTION_PARTICIPANT + row_sid[2:]


async def interaction_participants(
    context: AppContext, session: AsyncSession, interaction: FlexInteraction
) -> list[InteractionParticipant]:
    """Customers first (in the order they joined the conversation), then agents (in the order
    their reservations were made)."""
    tasks = {t.sid: t for t in await invite_tasks(session, interaction)}
    reservations = (
        await session.exec(
            select(Reservation)
            .where(
                col(Reservation.task_sid).in_(list(tasks)),
                col(Reservation.reservation_status).in_(AGENT_RESERVATIONS),
            )
            .order_by(col(Reservation.date_created))
        )
    ).all()
    agents = [
        InteractionParticipant(
            participant_sid(r.sid),
            "agent",
            {"task_sid": r.task_sid, "worker_sid": r.worker_sid, "reservation_sid": r.sid},
            tasks[r.task_sid],
        )
        for r in reservations
    ]
    agent_rows = (
        await session.exec(
            select(Worker)
            .join(ChannelAgent, col(ChannelAgent.worker_sid) == col(Worker.sid))
            .where(ChannelAgent.channel_sid == interaction.conversation_sid)
        )
    ).all()
    cipher = context.cipher
    agent_identities = {
        worker_identity(w.friendly_name, json.loads(cipher.decrypt(w.attributes_enc, "worker.attributes")))
        for w in agent_rows
    }
    members = (
        await session.exec(
            select(Member)
            .where(Member.channel_sid == interaction.conversation_sid)
            .order_by(col(Member.date_created), col(Member.sid))
        )
    ).all()
    customers = [
        InteractionParticipant(participant_sid(m.sid), "customer", None)
        for m in members
        if cipher.decrypt(m.identity_enc, "member.identity") not in agent_identities
    ]
    return customers + agents


PARTICIPANT_TYPES_JOINED = ("customer", "external")


async def add_participant(
    context: AppContext,
    session: AsyncSession,
    interaction: FlexInteraction,
    kind: str,
    media_properties: str,
    routing_properties: str | None,
) -> InteractionParticipant:
    """A customer or external participant by chat ``identity`` joins the conversation (through its
    channel workflow, as Conversations' participant create). An agent joins by accepting an
    invite's task; SMS and WhatsApp addresses are not served yet: both refused by name."""
    if kind not in PARTICIPANT_TYPES_JOINED:
        raise invalid("Type", f"{kind} participants join by accepting an invite's task: create an Invite")
    if routing_properties:
        raise invalid("RoutingProperties", "only agents have routing properties (they join through an Invite)")
    media = json_object(media_properties, "MediaProperties")
    if media.get("address") or media.get("proxy_address"):
        raise invalid(
            "MediaProperties.address", "SMS and WhatsApp participants are not supported yet: add a chat identity"
        )
    identity = media.get("identity")
    if not isinstance(identity, str) or not identity:
        raise invalid("MediaProperties.identity", "is required (the participant's chat identity)")
    conversation = await session.get(Channel, interaction.conversation_sid)
    if conversation is None:
        raise TwilioError(409, f"the conversation {interaction.conversation_sid} no longer exists", CONFLICT)
    try:
        view = await context.channels.add_member(
            await config_for_row(context, session, conversation), MemberSpec(identity)
        )
    except WorkflowUpdateFailedError as exc:
        raise update_failure(exc) from exc
    if view.existing:
        raise TwilioError(409, f"Participant {identity} already exists in {conversation.sid}", PARTICIPANT_EXISTS)
    return InteractionParticipant(participant_sid(view.sid), "customer", None)
