"""Flex v1 Interactions (``/v1/Interactions``): an interaction on a conversation with a routing
step into TaskRouter, its one channel (``UO``), the channel's invites (``KG``: a task each) and
participants (``UT``). The rules are ``api.interactions``'; this module parses and renders.

Access: the account's credentials, an API key or an admin token (``require_account``); agent,
supervisor and customer tokens are refused (403)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form
from pydantic import Field
from sqlmodel import col, select

from api import interactions as rules
from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.schemas import interactions as schemas
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioForm, invalid, not_found
from switchboard.store.models import (
    FlexInteraction,
    FlexInteractionInvite,
    RoutingWorkflow,
    Task,
    TaskChannel,
    TaskQueue,
)
from workflows import sids

router = APIRouter(
    prefix="/v1/Interactions",
    tags=["flex"],
    dependencies=[Depends(require_account)],
    responses=REST_CALL_ERRORS,
)
CHANNEL_PATH = "/{interaction_sid}/Channels/{channel_sid}"


def epoch(value: datetime | None) -> int | None:
    if value is None:
        return None
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


async def task_routing(call: RestCall, session: SessionDep, invite: FlexInteractionInvite) -> dict[str, Any]:
    """An invite's ``routing``: its task as TaskRouter has it now (Twilio's shape: epoch dates)."""
    task = await session.get(Task, invite.task_sid)
    if task is None:
        given = json.loads(call.context.cipher.decrypt(invite.routing_enc, "flex_interaction_invite.routing"))
        return {"reservation": None, "properties": given.get("properties", {})}
    workflow = await session.get(RoutingWorkflow, task.workflow_sid)
    queue = await session.get(TaskQueue, task.task_queue_sid) if task.task_queue_sid else None
    channel = (
        await session.exec(
            select(TaskChannel).where(
                TaskChannel.workspace_sid == task.workspace_sid,
                TaskChannel.unique_name == task.task_channel_unique_name,
            )
        )
    ).first()
    now = datetime.now(UTC)
    created = epoch(task.date_created) or 0
    entered = epoch(task.task_queue_entered_date)
    return {
        "reservation": None,
        "properties": {
            "sid": task.sid,
            "account_sid": call.account_sid,
            "workspace_sid": task.workspace_sid,
            "workflow_sid": task.workflow_sid,
            "workflow_name": workflow.friendly_name if workflow else None,
            "queue_sid": task.task_queue_sid,
            "queue_name": queue.friendly_name if queue else None,
            "task_channel_sid": channel.sid if channel else None,
            "task_channel_unique_name": task.task_channel_unique_name,
            "attributes": call.context.cipher.decrypt(task.attributes_enc, "task.attributes"),
            "assignment_status": task.assignment_status,
            "priority": task.priority,
            "timeout": task.timeout,
            "reason": task.reason,
            "age": max(0, int(now.timestamp()) - created),
            "age_in_queue": max(0, int(now.timestamp()) - (entered or created)),
            "date_created": created,
            "date_updated": epoch(task.date_updated),
            "task_queue_entered_date": entered,
            "assignmentCounter": 0,
            "routing_target": None,
            "addons": "{}",
        },
    }


def interaction_url(call: RestCall, sid: str) -> str:
    return call.url(f"/v1/Interactions/{sid}")


def channel_url(call: RestCall, interaction: FlexInteraction) -> str:
    return f"{interaction_url(call, interaction.sid)}/Channels/{interaction.channel_sid}"


async def first_invite(session: SessionDep, interaction: FlexInteraction) -> FlexInteractionInvite | None:
    query = (
        select(FlexInteractionInvite)
        .where(FlexInteractionInvite.interaction_sid == interaction.sid)
        .order_by(col(FlexInteractionInvite.date_created))
        .limit(1)
    )
    return (await session.exec(query)).first()


async def render_interaction(call: RestCall, session: SessionDep, interaction: FlexInteraction) -> dict[str, Any]:
    given = json.loads(call.context.cipher.decrypt(interaction.channel_enc, "flex_interaction.channel"))
    invite = await first_invite(session, interaction)
    url = interaction_url(call, interaction.sid)
    return {
        "sid": interaction.sid,
        "channel": {
            "type": interaction.channel_type,
            "sid": interaction.channel_sid,
            "initiated_by": interaction.initiated_by,
            "properties": {**(given.get("properties") or {}), "media_channel_sid": interaction.conversation_sid},
        },
        "routing": None if invite is None else await task_routing(call, session, invite),
        "interaction_context_sid": interaction.interaction_context_sid,
        "webhook_ttid": interaction.webhook_ttid,
        "url": url,
        "links": {"channels": f"{url}/Channels"},
    }


def render_channel(call: RestCall, interaction: FlexInteraction) -> dict[str, Any]:
    url = channel_url(call, interaction)
    return {
        "sid": interaction.channel_sid,
        "interaction_sid": interaction.sid,
        "type": interaction.channel_type,
        "status": interaction.channel_status,
        "error_code": None,
        "error_message": None,
        "url": url,
        "links": {"participants": f"{url}/Participants", "invites": f"{url}/Invites", "transfers": f"{url}/Transfers"},
    }


async def render_invite(
    call: RestCall, session: SessionDep, interaction: FlexInteraction, invite: FlexInteractionInvite
) -> dict[str, Any]:
    return {
        "sid": invite.sid,
        "interaction_sid": interaction.sid,
        "channel_sid": interaction.channel_sid,
        "routing": await task_routing(call, session, invite),
        "url": f"{channel_url(call, interaction)}/Invites/{invite.sid}",
    }


def render_participant(
    call: RestCall, interaction: FlexInteraction, participant: rules.InteractionParticipant
) -> dict[str, Any]:
    return {
        "sid": participant.sid,
        "type": participant.type,
        "interaction_sid": interaction.sid,
        "channel_sid": interaction.channel_sid,
        "url": f"{channel_url(call, interaction)}/Participants/{participant.sid}",
        "routing_properties": participant.routing_properties,
    }


async def load_interaction(session: SessionDep, interaction_sid: str) -> FlexInteraction:
    interaction = await session.get(FlexInteraction, interaction_sid)
    if interaction is None:
        raise not_found("Interaction", interaction_sid)
    return interaction


async def load_channel(session: SessionDep, interaction_sid: str, channel_sid: str) -> FlexInteraction:
    interaction = await load_interaction(session, interaction_sid)
    if interaction.channel_sid != channel_sid:
        raise not_found("InteractionChannel", channel_sid)
    return interaction


def window(items: list[dict[str, Any]], call: RestCall, key: str, paging: Any) -> dict[str, Any]:
    page = items[paging.offset : paging.offset + paging.page_size]
    return call.page(key, page, paging, None, len(items) > paging.offset + paging.page_size)


# --- interactions ---------------------------------------------------------------------------------


class InteractionForm(TwilioForm):
    channel: str = Field(alias="Channel", max_length=16384)
    routing: str | None = Field(None, alias="Routing", max_length=32768)
    interaction_context_sid: str | None = Field(None, alias="InteractionContextSid", max_length=34)
    webhook_ttid: str | None = Field(None, alias="WebhookTtid", max_length=256)


class InteractionUpdateForm(TwilioForm):
    webhook_ttid: str | None = Field(None, alias="WebhookTtid", max_length=256)


@router.post("", response_model=schemas.Interaction, responses=error_responses(400, 404, 409, 503))
async def create_interaction(
    call: CallDep, session: SessionDep, form: Annotated[InteractionForm, Form()]
) -> dict[str, Any]:
    """An interaction on an existing conversation, its task created through the workspace's
    router (Twilio answers 200)."""
    if form.interaction_context_sid:
        raise invalid("InteractionContextSid", "interaction contexts (HQ) are not supported")
    if form.webhook_ttid:
        raise invalid("WebhookTtid", "interaction webhooks are not supported")
    channel = await rules.channel_request(session, form.channel)
    routing = await rules.routing_request(session, form.routing)
    interaction = await rules.open_interaction(call.context, session, channel, routing)
    return await render_interaction(call, session, interaction)


@router.get("/{interaction_sid}", response_model=schemas.Interaction, responses=error_responses(404))
async def fetch_interaction(call: CallDep, session: SessionDep, interaction_sid: str) -> dict[str, Any]:
    return await render_interaction(call, session, await load_interaction(session, interaction_sid))


@router.post("/{interaction_sid}", response_model=schemas.Interaction, responses=error_responses(404))
async def update_interaction(
    call: CallDep, session: SessionDep, interaction_sid: str, form: Annotated[InteractionUpdateForm, Form()]
) -> dict[str, Any]:
    interaction = await load_interaction(session, interaction_sid)
    if form.webhook_ttid:
        raise invalid("WebhookTtid", "interaction webhooks are not supported")
    return await render_interaction(call, session, interaction)


# --- channels ---------------------------------------------------------------------------------------


class ChannelUpdateForm(TwilioForm):
    status: Literal["closed", "inactive"] = Field(alias="Status")
    routing: str | None = Field(None, alias="Routing", max_length=4096)


@router.get(
    "/{interaction_sid}/Channels", response_model=schemas.InteractionChannelPage, responses=error_responses(404)
)
async def list_channels(call: CallDep, session: SessionDep, interaction_sid: str, paging: PagingDep) -> dict[str, Any]:
    interaction = await load_interaction(session, interaction_sid)
    return window([render_channel(call, interaction)], call, "channels", paging)


@router.get(CHANNEL_PATH, response_model=schemas.InteractionChannel, responses=error_responses(404))
async def fetch_channel(call: CallDep, session: SessionDep, interaction_sid: str, channel_sid: str) -> dict[str, Any]:
    return render_channel(call, await load_channel(session, interaction_sid, channel_sid))


@router.post(CHANNEL_PATH, response_model=schemas.InteractionChannel, responses=error_responses(404, 409, 503))
async def update_channel(
    call: CallDep,
    session: SessionDep,
    interaction_sid: str,
    channel_sid: str,
    form: Annotated[ChannelUpdateForm, Form()],
) -> dict[str, Any]:
    """``closed``: the channel's tasks wrap up (or complete with ``Routing={"status": "closed"}``);
    ``inactive``: parked, the tasks complete (``Routing`` required)."""
    interaction = await load_channel(session, interaction_sid, channel_sid)
    routing_status: str | None = None
    if form.routing:
        routing = rules.json_object(form.routing, "Routing")
        extra = sorted(set(routing) - {"status"})
        if extra:
            raise invalid(f"Routing.{extra[0]}", "is not supported (only Routing.status is)")
        routing_status = routing.get("status")
        if routing_status != "closed":
            raise invalid("Routing.status", "must be closed")
    await rules.close_channel(call.context, session, interaction, form.status, routing_status)
    return render_channel(call, await load_channel(session, interaction_sid, channel_sid))


# --- invites ------------------------------------------------------------------------------------------


class InviteForm(TwilioForm):
    routing: str = Field(alias="Routing", max_length=32768)


@router.post(
    f"{CHANNEL_PATH}/Invites",
    response_model=schemas.InteractionChannelInvite,
    responses=error_responses(400, 404, 409, 503),
)
async def create_invite(
    call: CallDep,
    session: SessionDep,
    interaction_sid: str,
    channel_sid: str,
    form: Annotated[InviteForm, Form()],
) -> dict[str, Any]:
    """A new task on the interaction channel (a transfer, another agent, a parked interaction
    picked up again). As at Twilio, the first task's attributes are not carried over."""
    interaction = await load_channel(session, interaction_sid, channel_sid)
    routing = await rules.routing_request(session, form.routing)
    invite = await rules.invite(call.context, session, interaction, routing)
    return await render_invite(call, session, interaction, invite)


@router.get(
    f"{CHANNEL_PATH}/Invites",
    response_model=schemas.InteractionChannelInvitePage,
    responses=error_responses(404),
)
async def list_invites(
    call: CallDep, session: SessionDep, interaction_sid: str, channel_sid: str, paging: PagingDep
) -> dict[str, Any]:
    interaction = await load_channel(session, interaction_sid, channel_sid)
    query = (
        select(FlexInteractionInvite)
        .where(FlexInteractionInvite.channel_sid == interaction.channel_sid)
        .order_by(col(FlexInteractionInvite.date_created), col(FlexInteractionInvite.sid))
        .offset(paging.offset)
        .limit(paging.page_size + 1)
    )
    rows = (await session.exec(query)).all()
    items = [await render_invite(call, session, interaction, row) for row in rows[: paging.page_size]]
    return call.page("invites", items, paging, None, len(rows) > paging.page_size)


# --- participants -----------------------------------------------------------------------------------


class ParticipantForm(TwilioForm):
    type: Literal["supervisor", "customer", "external", "agent", "unknown"] = Field(alias="Type")
    media_properties: str = Field(alias="MediaProperties", max_length=16384)
    routing_properties: str | None = Field(None, alias="RoutingProperties", max_length=16384)


class ParticipantUpdateForm(TwilioForm):
    status: Literal["closed", "wrapup"] = Field(alias="Status")


@router.get(
    f"{CHANNEL_PATH}/Participants",
    response_model=schemas.InteractionChannelParticipantPage,
    responses=error_responses(404),
)
async def list_participants(
    call: CallDep, session: SessionDep, interaction_sid: str, channel_sid: str, paging: PagingDep
) -> dict[str, Any]:
    """The conversation's customers, then the agents who accepted the channel's tasks."""
    interaction = await load_channel(session, interaction_sid, channel_sid)
    found = await rules.interaction_participants(call.context, session, interaction)
    return window([render_participant(call, interaction, p) for p in found], call, "participants", paging)


@router.post(
    f"{CHANNEL_PATH}/Participants",
    response_model=schemas.InteractionChannelParticipant,
    responses=error_responses(400, 404, 409),
)
async def create_participant(
    call: CallDep,
    session: SessionDep,
    interaction_sid: str,
    channel_sid: str,
    form: Annotated[ParticipantForm, Form()],
) -> dict[str, Any]:
    """A customer or external participant by chat ``identity`` (``MediaProperties``) joins the
    conversation; an agent joins by accepting an invite's task."""
    interaction = await load_channel(session, interaction_sid, channel_sid)
    participant = await rules.add_participant(
        call.context, session, interaction, form.type, form.media_properties, form.routing_properties
    )
    return render_participant(call, interaction, participant)


@router.post(
    f"{CHANNEL_PATH}/Participants/{{participant_sid}}",
    response_model=schemas.InteractionChannelParticipant,
    responses=error_responses(400, 404, 409, 503),
)
async def update_participant(
    call: CallDep,
    session: SessionDep,
    interaction_sid: str,
    channel_sid: str,
    participant_sid: str,
    form: Annotated[ParticipantUpdateForm, Form()],
) -> dict[str, Any]:
    """An agent's ``Status``: ``wrapup`` wraps its task up, ``closed`` completes it."""
    interaction = await load_channel(session, interaction_sid, channel_sid)
    found = {p.sid: p for p in await rules.interaction_participants(call.context, session, interaction)}
    participant = found.get(participant_sid)
    if participant is None or not sids.is_sid(participant_sid, sids.INTERACTION_PARTICIPANT):
        raise not_found("InteractionChannelParticipant", participant_sid)
    if participant.task is None:
        raise invalid(
            "Status",
            "only an agent participant's status changes here: a customer leaves through Conversations' "
            "participant delete",
        )
    await rules.change_agent_task(call.context, session, participant.task, form.status)
    return render_participant(call, interaction, participant)
