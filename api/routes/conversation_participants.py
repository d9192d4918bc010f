"""Conversations v1 across conversations: ``ParticipantConversations`` (the conversations an
identity is a participant of) and ``ConversationWithParticipants`` (a conversation and its chat
participants in one call), for the default service (``/v1/...``) and any (``/v1/Services/{IS}/...``).

SMS and WhatsApp participants (``Address``, ``messaging_binding``) are refused by name: Switchboard
does not keep messaging-binding participants yet."""

# No ``from __future__ import annotations``: the routes are closures, and FastAPI resolves their
# annotations (``Depends(scope_of)``) where they are defined.

import json
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from pydantic import Field
from sqlmodel import col, select

from api.conversation_lifecycle import apply_lifecycle, lifecycle_change, render_timers, state_of
from api.deps import CallDep, ChannelsDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import NewChannel, join_member, json_text, open_chat_channel
from api.routes.conversation_roles import ScopeOf, ServiceScope, check_role, default_service_scope, named_service_scope
from api.routes.conversations_v1 import (
    ConversationForm,
    Scope,
    conversation_name_taken,
    refuse_unsupported,
    render_conversation,
)
from api.schemas import conversation_users as schemas
from api.schemas import conversations as conversation_schemas
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import invalid, iso
from switchboard.store.contacts import identity_hash
from switchboard.store.conversation_users import user_by_identity
from switchboard.store.models import Channel, Member
from workflows.messages import MemberSpec

# Twilio takes this many participants in one ConversationWithParticipants call.
MAX_PARTICIPANTS = 50
PARTICIPANT_KEYS = ("identity", "attributes", "role_sid", "messaging_binding")


def render_participant_conversation(
    call: RestCall, scope: ServiceScope, member: Member, channel: Channel, user_sid: str | None
) -> dict[str, Any]:
    cipher = call.context.cipher
    conversation_url = call.url(f"{scope.path}/Conversations/{channel.sid}")
    return {
        "account_sid": call.account_sid,
        "chat_service_sid": channel.service_sid,
        "participant_sid": member.sid,
        "participant_user_sid": user_sid,
        "participant_identity": cipher.decrypt(member.identity_enc, "member.identity"),
        "participant_messaging_binding": None,
        "conversation_sid": channel.sid,
        "conversation_unique_name": channel.unique_name,
        "conversation_friendly_name": cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name"),
        "conversation_attributes": cipher.decrypt(channel.attributes_enc, "channel.attributes"),
        "conversation_date_created": iso(channel.date_created),
        "conversation_date_updated": iso(channel.date_updated),
        "conversation_created_by": channel.created_by,
        "conversation_state": state_of(channel),
        "conversation_timers": render_timers(channel),
        "links": {"participant": f"{conversation_url}/Participants/{member.sid}", "conversation": conversation_url},
    }


class ConversationWithParticipantsForm(ConversationForm):
    participant: list[str] = Field(default_factory=list, alias="Participant", max_length=MAX_PARTICIPANTS)
    date_created: str | None = Field(None, alias="DateCreated", max_length=64)
    date_updated: str | None = Field(None, alias="DateUpdated", max_length=64)


async def participant_specs(session: SessionDep, service_sid: str, written: list[str]) -> list[MemberSpec]:
    """Each ``Participant`` (a JSON object: ``identity``, ``attributes``, ``role_sid``), all checked
    before anything is made."""
    specs: list[MemberSpec] = []
    for n, text in enumerate(written):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise invalid("Participant", f"item {n} is not JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise invalid("Participant", f"item {n} is not a JSON object")
        if value.get("messaging_binding") is not None:
            raise invalid(
                "Participant",
                f"item {n}: messaging_binding (SMS and WhatsApp participants) is not supported yet: "
                "add chat participants by identity",
            )
        unknown = sorted(set(value) - set(PARTICIPANT_KEYS))
        if unknown:
            raise invalid(
                "Participant", f"item {n}: {', '.join(unknown)} not supported (takes {', '.join(PARTICIPANT_KEYS)})"
            )
        identity = value.get("identity")
        if not isinstance(identity, str) or not identity or len(identity) > 256:
            raise invalid("Participant", f"item {n} needs an identity (1 to 256 characters)")
        if identity in {spec.identity for spec in specs}:
            raise invalid("Participant", f"identity {identity!r} is given twice")
        attributes = value.get("attributes")
        if isinstance(attributes, dict):
            attributes = json.dumps(attributes)
        if attributes is not None and not isinstance(attributes, str):
            raise invalid("Participant", f"item {n}: attributes must be JSON text")
        role = value.get("role_sid")
        if role is not None and not isinstance(role, str):
            raise invalid("Participant", f"item {n}: role_sid must be a string")
        role_sid = await check_role(session, service_sid, role, "conversation")
        specs.append(MemberSpec(identity, role_sid, json_text(attributes, "Participant.attributes")))
    return specs


def participants_router(prefix: str, scope_of: ScopeOf) -> APIRouter:
    router = APIRouter(
        prefix=prefix, tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
    )

    @router.get(
        "/ParticipantConversations",
        response_model=schemas.ParticipantConversationPage,
        responses=error_responses(404),
    )
    async def list_participant_conversations(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        paging: PagingDep,
        identity: Annotated[str | None, Query(alias="Identity", max_length=256)] = None,
        address: Annotated[str | None, Query(alias="Address", max_length=256)] = None,
    ) -> dict[str, Any]:
        """The service's conversations ``Identity`` is a chat participant of, oldest join first."""
        if address:
            raise invalid("Address", "SMS and WhatsApp participants are not kept yet: ask by Identity")
        if not identity:
            raise invalid("Identity", "Identity or Address is required")
        hasher = call.context.hasher
        query = (
            select(Member)
            .where(Member.service_sid == scope.service_sid, Member.identity_hash == identity_hash(hasher, identity))
            .order_by(col(Member.date_created), col(Member.sid))
        )
        rows = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
        user = await user_by_identity(session, hasher, scope.service_sid, identity)
        items = []
        for member in rows[: paging.page_size]:
            channel = await session.get(Channel, member.channel_sid)
            if channel is not None:
                items.append(render_participant_conversation(call, scope, member, channel, user.sid if user else None))
        return call.page("conversations", items, paging, None, len(rows) > paging.page_size)

    @router.post(
        "/ConversationWithParticipants",
        status_code=201,
        response_model=conversation_schemas.Conversation,
        responses=error_responses(404, 409),
    )
    async def create_conversation_with_participants(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        form: Annotated[ConversationWithParticipantsForm, Form()],
    ) -> dict[str, Any]:
        """The conversation is opened as ``POST Conversations`` opens one, then each participant
        joins through its workflow; every participant is checked before the conversation is made."""
        refuse_unsupported(form)
        lifecycle = lifecycle_change(None, form.state, form.timers_inactive, form.timers_closed)
        if lifecycle.state == "active":  # as created
            lifecycle = replace(lifecycle, state=None)
        specs = await participant_specs(session, scope.service_sid, form.participant)
        new = NewChannel(form.friendly_name, form.unique_name or None, json_text(form.attributes, "Attributes"))
        channel = await open_chat_channel(
            call, session, channels, scope.service_sid, new, "system", conversation_name_taken
        )
        await apply_lifecycle(call.context, session, channel, lifecycle)
        for spec in specs:
            await join_member(call, session, channels, channel, spec)
        await session.refresh(channel)
        return render_conversation(call, Scope(scope.service_sid, f"{scope.path}/Conversations"), channel)

    return router


router = participants_router("/v1", default_service_scope)
service_router = participants_router("/v1/Services/{chat_service_sid}", named_service_scope)
