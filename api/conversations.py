"""A customer's conversation as Flex runs it: opening a contact's channel on a Flex Flow (Flex v1
Channels, WebChannels and the web chat widget all do), the routing task a channel is with, and
ending the conversation (the customer leaving the web chat, or ``ChatStatus=inactive``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError

from api.channels import contact_config, on_contact_channel
from api.deps import AppContext
from api.routes.chat import update_failure
from api.routes.taskrouter.routing_calls import routed
from api.twilio_shape import invalid
from store.feed import add_for_channel
from store.models import Channel, FlexFlow, Reservation, Task
from workflows.messages import ChannelState
from workflows.routing.messages import TaskChange

# Tasks an agent may still be offered or be working on.
LIVE_TASK_STATUSES = ("pending", "reserved", "assigned", "wrapping")


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
            change = TaskChange(task.sid, "canceled", reason=f"the {by} ended the chat")
        elif task.assignment_status == "assigned":
            change = TaskChange(task.sid, "wrapping", reason=f"the {by} ended the chat")
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
