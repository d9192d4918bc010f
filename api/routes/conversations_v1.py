"""Conversations v1 over the chat channels: a conversation IS a chat channel (its ``CH`` SID, its
``IS`` service, the same rows and the same channel workflow), a participant is a member, and its
messages are the channel's messages, posted through the same path as Chat v2's
(``api.routes.chat``). ``/v1/Conversations`` addresses the default chat service (the Flex
defaults'); ``/v1/Services/{IS}/Conversations`` any service.

SMS and WhatsApp participants (messaging bindings): ``api.conversation_bindings``; a contact
channel's customer is shown as one (``api.address_configurations``, which also serves
``api.routes.address_configurations``). Webhooks are ``api.routes.conversation_webhooks``'s.
``State`` and ``Timers`` are ``api.conversation_lifecycle``'s (run by the channel's workflow).

Not served yet (see docs/conversations.md): group MMS and Content templates."""

# No ``from __future__ import annotations``: the routes are closures, and FastAPI resolves their
# annotations (``Depends(scope_of)``) where they are defined.

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Header, Query, Response
from pydantic import Field
from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.address_configurations import customer_binding
from api.conversation_bindings import join_bound, participant_bindings, render_binding, requested_binding
from api.conversation_hooks import announce, conversation_fields, participant_fields, rest_pre_event
from api.conversation_lifecycle import apply_lifecycle, check_not_closed, lifecycle_change, render_timers, state_of
from api.deps import CallDep, ChannelsDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import (
    MemberEdit,
    NewChannel,
    RestMessage,
    change_channel,
    check_new_unique_name,
    edit_member,
    edit_message,
    join_member,
    json_text,
    load_channel,
    load_service,
    member_of,
    message_of,
    message_page,
    new_service,
    open_chat_channel,
    post_rest_message,
    remove_channel,
    remove_message,
    uploaded_media,
)
from api.routes.conversation_roles import check_role
from api.schemas import conversations as schemas
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, invalid, iso, parse_date
from switchboard.store.bindings import delivery_summaries, release
from switchboard.store.contacts import identity_hash
from switchboard.store.conversation_users import (
    CONVERSATION_ADMIN,
    CONVERSATION_USER,
    SERVICE_USER,
    default_role_sid,
)
from switchboard.store.defaults import plan_flex_defaults
from switchboard.store.media_links import conversation_media
from switchboard.store.models import Channel, Member, Message, Service
from workflows.messages import ChannelChange, ChannelStatus, MemberSpec

# Twilio's codes: a unique name in use, a unique name shaped like a conversation SID, an identity
# already a participant.
CONVERSATION_NAME_TAKEN = 50353
NAME_LIKE_SID = 50390
PARTICIPANT_EXISTS = 50433
SID_PATTERN = re.compile(r"^CH[0-9a-fA-F]{32}$")
State = Literal["initializing", "inactive", "active", "closed"]


@dataclass(frozen=True)
class Scope:
    """The service a call addresses and the path its conversations' URLs start with."""

    service_sid: str
    path: str


async def default_scope(call: CallDep) -> Scope:
    """``/v1/Conversations``: the account's default conversation service, the Flex defaults' one."""
    return Scope(plan_flex_defaults(call.context.settings).defaults.chat_service_sid, "/v1/Conversations")


async def service_scope(session: SessionDep, chat_service_sid: str) -> Scope:
    """``/v1/Services/{IS}/Conversations``: that service, which must exist."""
    await load_service(session, chat_service_sid)
    return Scope(chat_service_sid, f"/v1/Services/{chat_service_sid}/Conversations")


def conversation_name_taken(unique_name: str) -> TwilioError:
    return TwilioError(
        409, f"Conversation with provided unique name {unique_name} already exists", CONVERSATION_NAME_TAKEN
    )


def in_state(query: SelectOfScalar[Channel], state: str) -> SelectOfScalar[Channel]:
    if state == "active":
        return query.where(Channel.status == ChannelStatus.ACTIVE)
    if state == "inactive":
        return query.where(Channel.status == ChannelStatus.INACTIVE, col(Channel.long_lived).is_(True))
    if state == "closed":
        quiet_contact = and_(col(Channel.status) == ChannelStatus.INACTIVE, col(Channel.long_lived).is_(False))
        return query.where(or_(col(Channel.status) == ChannelStatus.CLOSED, quiet_contact))
    return query.where(col(Channel.sid).is_(None))  # nothing is initializing


def end_of(end: datetime, written: str) -> datetime:
    """An ``EndDate`` written as a date alone takes in that whole day."""
    if len(written) != len("2024-01-31") or end.date() == date.max:
        return end
    return end + timedelta(days=1) - timedelta(microseconds=1)


# --- rendering --------------------------------------------------------------------------------


def render_conversation(call: RestCall, scope: Scope, channel: Channel) -> dict[str, Any]:
    cipher = call.context.cipher
    url = f"{call.url(scope.path)}/{channel.sid}"
    return {
        "sid": channel.sid,
        "account_sid": call.account_sid,
        "chat_service_sid": channel.service_sid,
        "messaging_service_sid": None,
        "friendly_name": cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name"),
        "unique_name": channel.unique_name,
        "attributes": cipher.decrypt(channel.attributes_enc, "channel.attributes"),
        "state": state_of(channel),
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
        "timers": render_timers(channel),
        "bindings": None,
        "url": url,
        "links": {
            "participants": f"{url}/Participants",
            "messages": f"{url}/Messages",
            "webhooks": f"{url}/Webhooks",
        },
    }


def render_participant(
    call: RestCall, scope: Scope, member: Member, binding: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``binding``: an SMS or WhatsApp participant's, which has no identity."""
    cipher = call.context.cipher
    return {
        "account_sid": call.account_sid,
        "conversation_sid": member.channel_sid,
        "sid": member.sid,
        "identity": None if binding else cipher.decrypt(member.identity_enc, "member.identity"),
        "attributes": cipher.decrypt(member.attributes_enc, "member.attributes"),
        "messaging_binding": binding,
        # Without a role of its own, the service's default participant role.
        "role_sid": member.role_sid or default_role_sid(member.service_sid, CONVERSATION_USER),
        "date_created": iso(member.date_created),
        "date_updated": iso(member.date_updated),
        "url": f"{call.url(scope.path)}/{member.channel_sid}/Participants/{member.sid}",
        "last_read_message_index": member.last_consumed_message_index,
        "last_read_timestamp": iso(member.last_consumption_timestamp),
    }


async def bindings_of(call: RestCall, session: SessionDep, channel: Channel) -> dict[str, dict[str, Any]]:
    """Each participant's ``messaging_binding`` by participant SID: the SMS and WhatsApp
    participants added by address, and a contact channel's own customer (its Flex Flow's or
    address configuration's number)."""
    bindings = await participant_bindings(call.context, session, channel.sid)
    customer = await customer_binding(call.context, session, channel)
    if customer is not None:
        rows = await session.exec(
            select(Member.sid).where(
                Member.channel_sid == channel.sid, Member.identity_hash == customer.member_identity_hash
            )
        )
        for sid in rows:
            bindings.setdefault(sid, customer.binding)
    return bindings


async def rendered_participant(call: RestCall, session: SessionDep, scope: Scope, member: Member) -> dict[str, Any]:
    channel = await session.get(Channel, member.channel_sid)
    bindings = {} if channel is None else await bindings_of(call, session, channel)
    return render_participant(call, scope, member, bindings.get(member.sid))


def render_message(
    call: RestCall,
    scope: Scope,
    message: Message,
    participants: dict[str, str],
    delivery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``participants``: participant SIDs by identity (an SMS or WhatsApp participant's is its
    address), for the message's ``participant_sid``; ``delivery``: its summary to SMS and
    WhatsApp participants, if it was sent to any."""
    cipher = call.context.cipher
    author = cipher.decrypt(message.author_enc, "message.author")
    media = cipher.decrypt_optional(message.media_enc, "message.media")
    url = f"{call.url(scope.path)}/{message.channel_sid}/Messages/{message.sid}"
    return {
        "sid": message.sid,
        "account_sid": call.account_sid,
        "conversation_sid": message.channel_sid,
        "body": cipher.decrypt_optional(message.body_enc, "message.body"),
        "media": conversation_media(message.sid, json.loads(media)) if media else None,
        "author": author,
        "participant_sid": participants.get(author),
        "attributes": cipher.decrypt(message.attributes_enc, "message.attributes"),
        "date_created": iso(message.date_created),
        "date_updated": iso(message.date_updated),
        "index": message.index,
        "delivery": delivery,
        "content_sid": None,
        "url": url,
        "links": {"delivery_receipts": f"{url}/Receipts", "channel_metadata": f"{url}/ChannelMetadata"},
    }


async def participants_by_identity(
    call: RestCall, session: SessionDep, channel_sid: str, messages: Sequence[Message]
) -> dict[str, str]:
    """The participant SID of each message author who is a participant of the channel."""
    cipher, hasher = call.context.cipher, call.context.hasher
    authors = {identity_hash(hasher, a): a for a in {cipher.decrypt(m.author_enc, "message.author") for m in messages}}
    if not authors:
        return {}
    query = select(Member).where(Member.channel_sid == channel_sid, col(Member.identity_hash).in_(list(authors)))
    return {authors[m.identity_hash]: m.sid for m in (await session.exec(query)).all()}


async def rendered_message(call: RestCall, session: SessionDep, scope: Scope, message: Message) -> dict[str, Any]:
    participants = await participants_by_identity(call, session, message.channel_sid, [message])
    summaries = await delivery_summaries(session, [message.sid])
    return render_message(call, scope, message, participants, summaries.get(message.sid))


# --- forms and what they refuse ---------------------------------------------------------------


class ConversationUpdateForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", max_length=256)
    unique_name: str | None = Field(None, alias="UniqueName", max_length=256)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)
    state: State | None = Field(None, alias="State")
    messaging_service_sid: str | None = Field(None, alias="MessagingServiceSid", max_length=34)
    timers_inactive: str | None = Field(None, alias="Timers.Inactive", max_length=64)
    timers_closed: str | None = Field(None, alias="Timers.Closed", max_length=64)
    email_address: str | None = Field(None, alias="Bindings.Email.Address", max_length=256)
    email_name: str | None = Field(None, alias="Bindings.Email.Name", max_length=256)


class ConversationForm(ConversationUpdateForm):
    pass


def refuse_unsupported(form: ConversationUpdateForm) -> None:
    """What Switchboard does not do for a conversation yet is refused, naming the parameter,
    rather than silently dropped."""
    if form.messaging_service_sid:
        raise invalid(
            "MessagingServiceSid", "SMS and WhatsApp delivery through a Messaging Service is not supported yet"
        )
    if form.email_address or form.email_name:
        raise invalid("Bindings.Email.Address", "email bindings are not supported")
    if form.unique_name and SID_PATTERN.match(form.unique_name):
        raise TwilioError(400, "Invalid parameter UniqueName: must not look like a conversation SID", NAME_LIKE_SID)


class ParticipantBindingForm(TwilioForm):
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)
    role_sid: str | None = Field(None, alias="RoleSid", max_length=34)
    identity: str | None = Field(None, alias="Identity", max_length=256)
    proxy_address: str | None = Field(None, alias="MessagingBinding.ProxyAddress", max_length=256)
    projected_address: str | None = Field(None, alias="MessagingBinding.ProjectedAddress", max_length=256)


class ParticipantForm(ParticipantBindingForm):
    address: str | None = Field(None, alias="MessagingBinding.Address", max_length=256)


class ParticipantUpdateForm(ParticipantBindingForm):
    last_read_message_index: int | None = Field(None, alias="LastReadMessageIndex", ge=0)
    last_read_timestamp: str | None = Field(None, alias="LastReadTimestamp", max_length=64)


def refuse_binding(form: ParticipantUpdateForm) -> None:
    """A participant's binding does not change (remove the participant and add it again)."""
    if form.proxy_address or form.projected_address:
        parameter = "MessagingBinding.ProxyAddress" if form.proxy_address else "MessagingBinding.ProjectedAddress"
        raise invalid(parameter, "a participant's messaging binding does not change: remove it and add it again")


class MessageUpdateForm(TwilioForm):
    author: str | None = Field(None, alias="Author", min_length=1, max_length=256)
    body: str | None = Field(None, alias="Body", max_length=32768)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)
    subject: str | None = Field(None, alias="Subject", max_length=256)


class MessageForm(MessageUpdateForm):
    media_sid: str | None = Field(None, alias="MediaSid", max_length=34)
    content_sid: str | None = Field(None, alias="ContentSid", max_length=34)
    content_variables: str | None = Field(None, alias="ContentVariables", max_length=16384)


def refuse_message_extras(form: MessageUpdateForm) -> None:
    if form.subject:
        raise invalid("Subject", "subjects (for email participants) are not supported")
    if isinstance(form, MessageForm) and (form.content_sid or form.content_variables):
        raise invalid("ContentSid", "Content templates are not supported yet")


WebhookEnabled = Annotated[Literal["true", "false"], Header(alias="X-Twilio-Webhook-Enabled")]
IdempotencyToken = Annotated[str | None, Header(alias="I-Twilio-Idempotency-Token", max_length=128)]


# --- the routes, for /v1/Conversations and /v1/Services/{IS}/Conversations ---------------------


def conversation_router(prefix: str, scope_of: Callable[..., Awaitable[Scope]]) -> APIRouter:
    """The Conversations, Participants and Messages routes under ``prefix``, their service from
    ``scope_of``."""
    router = APIRouter(
        prefix=prefix, tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
    )
    participant_path = "/{conversation_sid}/Participants/{participant_sid}"
    message_path = "/{conversation_sid}/Messages/{message_sid}"

    async def conversation(session: SessionDep, scope: Scope, conversation_sid: str) -> Channel:
        return await load_channel(session, scope.service_sid, conversation_sid, "Conversation")

    @router.post("", status_code=201, response_model=schemas.Conversation, responses=error_responses(404, 409))
    async def create_conversation(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[Scope, Depends(scope_of)],
        form: Annotated[ConversationForm, Form()],
        webhook_enabled: WebhookEnabled = "false",
    ) -> dict[str, Any]:
        """With ``X-Twilio-Webhook-Enabled: true`` the pre-event webhooks (``onConversationAdd``)
        may refuse or change it and the post-event ones hear ``onConversationAdded``."""
        refuse_unsupported(form)
        lifecycle = lifecycle_change(None, form.state, form.timers_inactive, form.timers_closed)
        new = NewChannel(form.friendly_name, form.unique_name or None, json_text(form.attributes, "Attributes"))
        if webhook_enabled == "true":
            asked = {"FriendlyName": new.friendly_name or "", "UniqueName": new.unique_name or ""}
            changes = await rest_pre_event(
                call.context,
                scope.service_sid,
                None,
                "onConversationAdd",
                "Conversation",
                {**asked, "Attributes": new.attributes},
            )
            new = NewChannel(
                changes.get("friendly_name", new.friendly_name),
                changes.get("unique_name", new.unique_name) or None,
                json_text(changes.get("attributes", new.attributes), "Attributes"),
            )
        channel = await open_chat_channel(
            call, session, channels, scope.service_sid, new, "system", conversation_name_taken
        )
        if lifecycle.state == "active":  # as created
            lifecycle = replace(lifecycle, state=None)
        await apply_lifecycle(call.context, session, channel, lifecycle)
        if webhook_enabled == "true":
            state = lifecycle.state or "active"
            await announce(
                call.context, channel, "onConversationAdded", conversation_fields(call.context, channel, state)
            )
        return render_conversation(call, scope, channel)

    @router.get("", response_model=schemas.ConversationPage, responses=error_responses(404))
    async def list_conversations(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        paging: PagingDep,
        start_date: Annotated[str | None, Query(alias="StartDate", max_length=64)] = None,
        end_date: Annotated[str | None, Query(alias="EndDate", max_length=64)] = None,
        state: Annotated[State | None, Query(alias="State")] = None,
    ) -> dict[str, Any]:
        """Oldest first; ``StartDate`` and ``EndDate`` bound the creation date (a date alone as
        ``EndDate`` takes in that whole day)."""
        query = select(Channel).where(Channel.service_sid == scope.service_sid)
        if (start := parse_date(start_date, "StartDate")) is not None:
            query = query.where(Channel.date_created >= start)
        if (end := parse_date(end_date, "EndDate")) is not None:
            query = query.where(Channel.date_created <= end_of(end, end_date or ""))
        if state is not None:
            query = in_state(query, state)
        query = query.order_by(col(Channel.date_created), col(Channel.sid))
        return await call.offset_page(
            session, query, paging, "conversations", lambda c, row: render_conversation(c, scope, row)
        )

    @router.get("/{conversation_sid}", response_model=schemas.Conversation, responses=error_responses(404))
    async def fetch_conversation(
        call: CallDep, session: SessionDep, scope: Annotated[Scope, Depends(scope_of)], conversation_sid: str
    ) -> dict[str, Any]:
        """By SID or by unique name."""
        return render_conversation(call, scope, await conversation(session, scope, conversation_sid))

    @router.post("/{conversation_sid}", response_model=schemas.Conversation, responses=error_responses(404, 409))
    async def update_conversation(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        form: Annotated[ConversationUpdateForm, Form()],
    ) -> dict[str, Any]:
        """Names and attributes change through the channel's workflow, as Chat v2's do; then the
        state and timers (a closed conversation takes no change)."""
        channel = await conversation(session, scope, conversation_sid)
        refuse_unsupported(form)
        lifecycle = lifecycle_change(channel, form.state, form.timers_inactive, form.timers_closed)
        await check_new_unique_name(session, channel, form.unique_name, conversation_name_taken)
        change = ChannelChange(
            friendly_name=form.friendly_name,
            unique_name=form.unique_name,
            attributes=None if form.attributes is None else json_text(form.attributes, "Attributes"),
        )
        if change != ChannelChange():
            await change_channel(call, session, channels, channel, change)
        await apply_lifecycle(call.context, session, channel, lifecycle)
        return render_conversation(call, scope, channel)

    @router.delete("/{conversation_sid}", status_code=204, responses=error_responses(404))
    async def delete_conversation(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
    ) -> Response:
        """As Chat v2's channel delete: the workflow ends, the channel goes with its messages."""
        await remove_channel(call, session, channels, await conversation(session, scope, conversation_sid))
        return Response(status_code=204)

    # --- participants ---

    @router.post(
        "/{conversation_sid}/Participants",
        status_code=201,
        response_model=schemas.Participant,
        responses=error_responses(404, 409),
    )
    async def create_participant(
        call: CallDep,
        session: SessionDep,
        channels: ChannelsDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        form: Annotated[ParticipantForm, Form()],
        webhook_enabled: WebhookEnabled = "false",
    ) -> dict[str, Any]:
        """A chat participant by ``Identity``, or an SMS or WhatsApp one by
        ``MessagingBinding.Address`` and ``ProxyAddress`` (``api.conversation_bindings``), joined
        through the channel's workflow; with ``X-Twilio-Webhook-Enabled: true``,
        ``onParticipantAdd`` may refuse or change it and ``onParticipantAdded`` follows."""
        channel = await conversation(session, scope, conversation_sid)
        check_not_closed(channel)
        binding = await requested_binding(
            call.context,
            session,
            identity=form.identity,
            address=form.address,
            proxy_address=form.proxy_address,
            projected_address=form.projected_address,
        )
        identity = binding.address if binding is not None else form.identity
        if not identity:
            raise invalid("Identity", "is required for a chat participant")
        role_sid = await check_role(session, scope.service_sid, form.role_sid, "conversation")
        spec = MemberSpec(identity, role_sid, json_text(form.attributes, "Attributes"), binding)
        if webhook_enabled == "true":
            asked = {"ConversationSid": channel.sid, "Identity": form.identity or "", "RoleSid": role_sid or ""}
            if binding is not None:
                asked |= {
                    "MessagingBinding.Address": binding.address,
                    "MessagingBinding.ProxyAddress": binding.proxy_address,
                }
            changes = await rest_pre_event(
                call.context,
                scope.service_sid,
                channel,
                "onParticipantAdd",
                "Participant",
                {**asked, "Attributes": spec.attributes},
            )
            changed_role = changes.get("role_sid", role_sid) or None
            if changed_role != role_sid:
                changed_role = await check_role(session, scope.service_sid, changed_role, "conversation")
            attributes = json_text(changes.get("attributes", spec.attributes), "Attributes")
            spec = MemberSpec(identity, changed_role, attributes, binding)
        if binding is not None:
            bound = await join_bound(call.context, session, channels, channel, spec)
            if webhook_enabled == "true":
                await announce(call.context, channel, "onParticipantAdded", participant_fields(call.context, bound))
            return render_participant(call, scope, bound, render_binding(binding))
        member = await join_member(call, session, channels, channel, spec)
        if member is None:
            raise TwilioError(409, f"Participant {form.identity} already exists in {channel.sid}", PARTICIPANT_EXISTS)
        if webhook_enabled == "true":
            await announce(call.context, channel, "onParticipantAdded", participant_fields(call.context, member))
        return render_participant(call, scope, member)

    @router.get(
        "/{conversation_sid}/Participants", response_model=schemas.ParticipantPage, responses=error_responses(404)
    )
    async def list_participants(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        paging: PagingDep,
    ) -> dict[str, Any]:
        channel = await conversation(session, scope, conversation_sid)
        query = select(Member).where(Member.channel_sid == channel.sid)
        query = query.order_by(col(Member.date_created), col(Member.sid))
        bindings = await bindings_of(call, session, channel)
        return await call.offset_page(
            session,
            query,
            paging,
            "participants",
            lambda c, row: render_participant(c, scope, row, bindings.get(row.sid)),
        )

    async def participant(session: SessionDep, call: RestCall, scope: Scope, conversation_sid: str, sid: str) -> Member:
        channel = await conversation(session, scope, conversation_sid)
        return await member_of(call, session, channel, sid, "Participant")

    @router.get(participant_path, response_model=schemas.Participant, responses=error_responses(404))
    async def fetch_participant(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        participant_sid: str,
    ) -> dict[str, Any]:
        """By SID or by identity (an SMS or WhatsApp participant's address)."""
        member = await participant(session, call, scope, conversation_sid, participant_sid)
        return await rendered_participant(call, session, scope, member)

    @router.post(participant_path, response_model=schemas.Participant, responses=error_responses(404))
    async def update_participant(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        participant_sid: str,
        form: Annotated[ParticipantUpdateForm, Form()],
    ) -> dict[str, Any]:
        """Attributes, role and read horizon (``LastReadMessageIndex``, stamped now or at
        ``LastReadTimestamp``), as Chat v2's member update."""
        refuse_binding(form)
        member = await participant(session, call, scope, conversation_sid, participant_sid)
        identity = call.context.cipher.decrypt(member.identity_enc, "member.identity")
        if form.identity and form.identity != identity:
            raise invalid("Identity", "a chat participant's identity does not change: add the new identity instead")
        await check_role(session, scope.service_sid, form.role_sid, "conversation")
        read_at = parse_date(form.last_read_timestamp, "LastReadTimestamp")
        edit = MemberEdit(form.role_sid, form.last_read_message_index, form.attributes, read_at)
        await edit_member(call, session, member, edit)
        return await rendered_participant(call, session, scope, member)

    @router.delete(participant_path, status_code=204, responses=error_responses(404))
    async def delete_participant(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        participant_sid: str,
    ) -> Response:
        """The participant leaves: its row goes (an SMS or WhatsApp participant's binding with
        it: no more deliveries to it, its pair free), the conversation counts one member fewer."""
        member = await participant(session, call, scope, conversation_sid, participant_sid)
        await release(session, member.sid)
        await session.delete(member)
        channel = await session.get(Channel, member.channel_sid)
        if channel is not None and channel.members_count > 0:
            channel.members_count -= 1
            session.add(channel)
        await session.commit()
        return Response(status_code=204)

    # --- messages ---

    @router.post(
        "/{conversation_sid}/Messages",
        status_code=201,
        response_model=schemas.ConversationMessage,
        responses=error_responses(404, 409, 503),
    )
    async def create_message(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        form: Annotated[MessageForm, Form()],
        idempotency_token: IdempotencyToken = None,
        webhook_enabled: WebhookEnabled = "false",
    ) -> dict[str, Any]:
        """Posted through the channel's workflow exactly as Chat v2's message creation (the next
        index, the agents' and the customer's sockets, the provider delivery); the channel's
        integration runs only with ``X-Twilio-Webhook-Enabled: true``."""
        refuse_message_extras(form)
        if form.body is None and not form.media_sid:
            raise invalid("Body", "a message needs a Body or a MediaSid")
        channel = await conversation(session, scope, conversation_sid)
        author = form.author or "system"
        media = await uploaded_media(call, session, channel, form.media_sid)
        posted = RestMessage(author, form.body, form.attributes, idempotency_token, webhook_enabled, media)
        row = await post_rest_message(call, session, channel, posted)
        return await rendered_message(call, session, scope, row)

    @router.get(
        "/{conversation_sid}/Messages",
        response_model=schemas.ConversationMessagePage,
        responses=error_responses(404),
    )
    async def list_messages(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        paging: PagingDep,
        order: Annotated[Literal["asc", "desc"], Query(alias="Order")] = "asc",
    ) -> dict[str, Any]:
        """By index, paged by index as Chat v2's list."""
        channel = await conversation(session, scope, conversation_sid)
        page, token = await message_page(session, channel, paging, order)
        participants = await participants_by_identity(call, session, channel.sid, page)
        summaries = await delivery_summaries(session, [m.sid for m in page])
        items = [render_message(call, scope, m, participants, summaries.get(m.sid)) for m in page]
        return call.page("messages", items, paging, token, token is not None)

    async def message(session: SessionDep, scope: Scope, conversation_sid: str, sid: str) -> Message:
        return await message_of(session, await conversation(session, scope, conversation_sid), sid)

    @router.get(message_path, response_model=schemas.ConversationMessage, responses=error_responses(404))
    async def fetch_message(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        message_sid: str,
    ) -> dict[str, Any]:
        """By SID or by index."""
        row = await message(session, scope, conversation_sid, message_sid)
        return await rendered_message(call, session, scope, row)

    @router.post(message_path, response_model=schemas.ConversationMessage, responses=error_responses(404))
    async def update_message(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        message_sid: str,
        form: Annotated[MessageUpdateForm, Form()],
    ) -> dict[str, Any]:
        """A stored message's body, attributes or author (what was delivered stays delivered)."""
        refuse_message_extras(form)
        row = await message(session, scope, conversation_sid, message_sid)
        await edit_message(call, session, row, form.body, form.attributes, form.author)
        return await rendered_message(call, session, scope, row)

    @router.delete(message_path, status_code=204, responses=error_responses(404))
    async def delete_message(
        session: SessionDep,
        scope: Annotated[Scope, Depends(scope_of)],
        conversation_sid: str,
        message_sid: str,
    ) -> Response:
        """The conversation's other messages keep their indexes."""
        await remove_message(session, await message(session, scope, conversation_sid, message_sid))
        return Response(status_code=204)

    return router


router = conversation_router("/v1/Conversations", default_scope)
service_router = conversation_router("/v1/Services/{chat_service_sid}/Conversations", service_scope)


# --- services and configuration ---------------------------------------------------------------

services_router = APIRouter(
    prefix="/v1", tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
)


class ServiceForm(TwilioForm):
    friendly_name: str = Field(alias="FriendlyName", min_length=1, max_length=256)


def render_service(call: RestCall, service: Service) -> dict[str, Any]:
    url = call.url(f"/v1/Services/{service.sid}")
    return {
        "sid": service.sid,
        "account_sid": call.account_sid,
        "friendly_name": service.friendly_name,
        "date_created": iso(service.date_created),
        "date_updated": iso(service.date_updated),
        "url": url,
        "links": {
            "conversations": f"{url}/Conversations",
            "users": f"{url}/Users",
            "roles": f"{url}/Roles",
            "bindings": f"{url}/Bindings",
            "configuration": f"{url}/Configuration",
            "participant_conversations": f"{url}/ParticipantConversations",
            "conversation_with_participants": f"{url}/ConversationWithParticipants",
        },
    }


@services_router.post("/Services", status_code=201, response_model=schemas.ConversationService)
async def create_service(call: CallDep, session: SessionDep, form: Annotated[ServiceForm, Form()]) -> dict[str, Any]:
    """A conversation service is a chat service: Chat v2 sees it too."""
    return render_service(call, await new_service(session, form.friendly_name))


@services_router.get("/Services", response_model=schemas.ConversationServicePage)
async def list_services(call: CallDep, session: SessionDep, paging: PagingDep) -> dict[str, Any]:
    query = select(Service).order_by(col(Service.date_created), col(Service.sid))
    return await call.offset_page(session, query, paging, "services", render_service)


@services_router.get(
    "/Services/{chat_service_sid}", response_model=schemas.ConversationService, responses=error_responses(404)
)
async def fetch_service(call: CallDep, session: SessionDep, chat_service_sid: str) -> dict[str, Any]:
    return render_service(call, await load_service(session, chat_service_sid))


@services_router.get(
    "/Services/{chat_service_sid}/Configuration",
    response_model=schemas.ServiceConfiguration,
    responses=error_responses(404),
)
async def fetch_service_configuration(call: CallDep, session: SessionDep, chat_service_sid: str) -> dict[str, Any]:
    """The service's default roles (``api.routes.conversation_roles``); reachability is not reported."""
    service = await load_service(session, chat_service_sid)
    url = call.url(f"/v1/Services/{service.sid}/Configuration")
    return {
        "chat_service_sid": service.sid,
        "default_conversation_creator_role_sid": default_role_sid(service.sid, CONVERSATION_ADMIN),
        "default_conversation_role_sid": default_role_sid(service.sid, CONVERSATION_USER),
        "default_chat_service_role_sid": default_role_sid(service.sid, SERVICE_USER),
        "reachability_enabled": False,
        "url": url,
        "links": {"notifications": f"{url}/Notifications", "webhooks": f"{url}/Webhooks"},
    }


def iso_duration(seconds: float) -> str:
    """``PT…S`` (whole seconds, at least one)."""
    return f"PT{max(1, round(seconds))}S"


@services_router.get("/Configuration", response_model=schemas.Configuration)
async def fetch_configuration(call: CallDep) -> dict[str, Any]:
    """The default service ``/v1/Conversations`` addresses (the Flex defaults' chat service)."""
    service_sid = plan_flex_defaults(call.context.settings).defaults.chat_service_sid
    return {
        "account_sid": call.account_sid,
        "default_chat_service_sid": service_sid,
        "default_messaging_service_sid": None,
        "default_inactive_timer": iso_duration(call.context.settings.channel_inactivity_seconds),
        "default_closed_timer": None,
        "url": call.url("/v1/Configuration"),
        "links": {
            "service": call.url(f"/v1/Services/{service_sid}/Configuration"),
            "webhooks": call.url("/v1/Configuration/Webhooks"),
        },
    }
