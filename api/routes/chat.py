"""Chat v2: Services, Channels, Members and Messages. Reads come from the store; every change to a
channel goes through its workflow."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Header, Query, Response
from pydantic import Field
from sqlalchemy import delete
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError

from api.channels import config_for_new_channel, config_for_row, update_failure
from api.conversations import ConversationRefused, Writer, media_view, post_message
from api.deps import CallDep, ChannelsDep, PagingDep, RestCall, SessionDep, require_account
from api.schemas.chat import (
    ChannelPage,
    ChannelResource,
    MemberPage,
    MemberResource,
    MessagePage,
    MessageResource,
    ServicePage,
    ServiceResource,
)
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import (
    UNIQUE_NAME_TAKEN,
    PageRequest,
    TwilioError,
    TwilioForm,
    check_message_body,
    invalid,
    iso,
    not_found,
)
from switchboard.store.bindings import release_channel, remove_receipts
from switchboard.store.contacts import identity_hash, retire_contact_channel
from switchboard.store.conversation_users import CONVERSATION_ADMIN, CONVERSATION_USER, SERVICE_USER, default_role_sid
from switchboard.store.models import (
    Channel,
    ChannelAgent,
    MediaObject,
    Member,
    Message,
    MessageDelivery,
    Service,
    utcnow,
)
from workflows import sids
from workflows.messages import ChannelChange, InboundMessage, MediaRef, MemberSpec

router = APIRouter(
    prefix="/v2/Services",
    tags=["chat"],
    dependencies=[Depends(require_account)],
    responses=REST_CALL_ERRORS,
)
# A message addressed by index: digits that fit the database's 64-bit integers.
INDEX_DIGITS = 18


def json_text(value: str | None, parameter: str) -> str:
    """Attributes are JSON text on Twilio's wire; refuse what is not JSON."""
    if value is None or value == "":
        return "{}"
    try:
        json.loads(value)
    except ValueError as exc:
        raise invalid(parameter, f"must be valid JSON ({exc})") from exc
    return value


# --- services ---------------------------------------------------------------------------------


class ServiceForm(TwilioForm):
    friendly_name: str = Field(alias="FriendlyName", min_length=1, max_length=256)
    # Switchboard's: messages older than this many days are deleted (0: kept; unset: the default).
    retention_days: int | None = Field(None, alias="RetentionDays", ge=0, le=36500)


class ServiceUpdateForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", min_length=1, max_length=256)
    retention_days: int | None = Field(None, alias="RetentionDays", ge=0, le=36500)


def render_service(call: RestCall, service: Service) -> dict[str, Any]:
    url = f"{call.url('')}/v2/Services/{service.sid}"
    return {
        "sid": service.sid,
        "account_sid": call.account_sid,
        "friendly_name": service.friendly_name,
        "retention_days": service.retention_days,
        "date_created": iso(service.date_created),
        "date_updated": iso(service.date_updated),
        # The service's default roles, as Conversations shows them (``store.conversation_users``).
        "default_service_role_sid": default_role_sid(service.sid, SERVICE_USER),
        "default_channel_role_sid": default_role_sid(service.sid, CONVERSATION_USER),
        "default_channel_creator_role_sid": default_role_sid(service.sid, CONVERSATION_ADMIN),
        "read_status_enabled": True,
        "reachability_enabled": False,
        "typing_indicator_timeout": 5,
        "consumption_report_interval": 10,
        "limits": {"channel_members": 100, "user_channels": 250},
        "pre_webhook_url": None,
        "post_webhook_url": None,
        "webhook_method": "POST",
        "webhook_filters": [],
        "pre_webhook_retry_count": 0,
        "post_webhook_retry_count": 0,
        "notifications": {},
        "media": {"size_limit_mb": 150, "compatibility_message": "Media messages are not supported"},
        "url": url,
        "links": {
            "channels": f"{url}/Channels",
            "users": f"{url}/Users",
            "roles": f"{url}/Roles",
            "bindings": f"{url}/Bindings",
        },
    }


async def load_service(session: SessionDep, service_sid: str) -> Service:
    service = await session.get(Service, service_sid)
    if service is None:
        raise not_found("Service", service_sid)
    return service


@router.post("", status_code=201, response_model=ServiceResource)
async def create_service(
    call: CallDep,
    session: SessionDep,
    form: Annotated[ServiceForm, Form()],
) -> dict[str, Any]:
    return render_service(call, await new_service(session, form.friendly_name, form.retention_days))


async def new_service(session: SessionDep, friendly_name: str, retention_days: int | None = None) -> Service:
    """A new chat service (Chat v2's and Conversations' alike)."""
    service = Service(sid=sids.new_sid(sids.SERVICE), friendly_name=friendly_name, retention_days=retention_days)
    session.add(service)
    await session.commit()
    return service


@router.get("", response_model=ServicePage)
async def list_services(call: CallDep, session: SessionDep, paging: PagingDep) -> dict[str, Any]:
    query = select(Service).order_by(col(Service.date_created), col(Service.sid))
    return await call.offset_page(session, query, paging, "services", render_service)


@router.get("/{service_sid}", response_model=ServiceResource, responses=error_responses(404))
async def fetch_service(call: CallDep, session: SessionDep, service_sid: str) -> dict[str, Any]:
    return render_service(call, await load_service(session, service_sid))


@router.post("/{service_sid}", response_model=ServiceResource, responses=error_responses(404))
async def update_service(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    form: Annotated[ServiceUpdateForm, Form()],
) -> dict[str, Any]:
    service = await load_service(session, service_sid)
    if form.friendly_name is not None:
        service.friendly_name = form.friendly_name
    if form.retention_days is not None:
        service.retention_days = form.retention_days
    service.date_updated = utcnow()
    session.add(service)
    await session.commit()
    return render_service(call, service)


# --- channels ---------------------------------------------------------------------------------


class ChannelForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", max_length=256)
    unique_name: str | None = Field(None, alias="UniqueName", max_length=256)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)
    type: Literal["public", "private"] = Field("private", alias="Type")
    created_by: str = Field("system", alias="CreatedBy", max_length=256)


def render_channel(call: RestCall, channel: Channel) -> dict[str, Any]:
    cipher = call.context.cipher
    url = f"{call.url('')}/v2/Services/{channel.service_sid}/Channels/{channel.sid}"
    return {
        "sid": channel.sid,
        "account_sid": call.account_sid,
        "service_sid": channel.service_sid,
        "friendly_name": cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name"),
        "unique_name": channel.unique_name,
        "attributes": cipher.decrypt(channel.attributes_enc, "channel.attributes"),
        "type": channel.type,
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
        "created_by": channel.created_by,
        "members_count": channel.members_count,
        "messages_count": channel.messages_count,
        "url": url,
        "links": {
            "members": f"{url}/Members",
            "messages": f"{url}/Messages",
            "invites": f"{url}/Invites",
            "webhooks": f"{url}/Webhooks",
            "last_message": f"{url}/Messages/{channel.last_message_index}"
            if channel.last_message_index is not None
            else None,
        },
    }


async def load_channel(session: SessionDep, service_sid: str, channel_sid: str, resource: str = "Channel") -> Channel:
    """A channel by SID or, as Twilio allows, by unique name (``resource``: what a 404 calls it)."""
    if sids.is_sid(channel_sid, sids.CHANNEL):
        channel = await session.get(Channel, channel_sid)
    else:
        query = select(Channel).where(Channel.service_sid == service_sid, Channel.unique_name == channel_sid)
        channel = (await session.exec(query)).first()
    if channel is None or channel.service_sid != service_sid:
        raise not_found(resource, channel_sid)
    return channel


async def unique_name_holder(session: SessionDep, service_sid: str, unique_name: str) -> str | None:
    """The SID of the service's channel named ``unique_name``, if one is."""
    taken = select(Channel.sid).where(Channel.service_sid == service_sid, Channel.unique_name == unique_name)
    return (await session.exec(taken)).first()


def unique_name_taken(unique_name: str) -> TwilioError:
    return TwilioError(409, f"Channel with provided unique name {unique_name} already exists", UNIQUE_NAME_TAKEN)


@router.post(
    "/{service_sid}/Channels",
    status_code=201,
    response_model=ChannelResource,
    responses=error_responses(404, 409),
)
async def create_channel(
    call: CallDep,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    form: Annotated[ChannelForm, Form()],
) -> dict[str, Any]:
    await load_service(session, service_sid)
    channel = await open_chat_channel(
        call,
        session,
        channels,
        service_sid,
        NewChannel(form.friendly_name, form.unique_name, json_text(form.attributes, "Attributes"), form.type),
        form.created_by,
        unique_name_taken,
    )
    return render_channel(call, channel)


@dataclass(frozen=True)
class NewChannel:
    """What a caller names a new channel (a conversation) with; ``attributes`` is checked JSON."""

    friendly_name: str | None
    unique_name: str | None
    attributes: str
    type: str = "private"


async def open_chat_channel(
    call: RestCall,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    new: NewChannel,
    created_by: str,
    name_taken: Callable[[str], TwilioError],
) -> Channel:
    """A new chat channel of the service, opened by its workflow (Chat v2's channels and
    Conversations alike); ``name_taken`` is the refusal of a unique name in use."""
    if new.unique_name and await unique_name_holder(session, service_sid, new.unique_name):
        raise name_taken(new.unique_name)
    config = config_for_new_channel(
        call.context,
        sids.new_sid(sids.CHANNEL),
        service_sid,
        friendly_name=new.friendly_name,
        unique_name=new.unique_name,
        attributes=new.attributes,
        type=new.type,
        created_by=created_by,
    )
    try:
        await channels.open(config)
    except WorkflowUpdateFailedError as exc:
        # A concurrent caller took the name between the check and the insert: the new channel's
        # workflow fails to store its row (the database's unique constraint decides).
        if new.unique_name and await unique_name_holder(session, service_sid, new.unique_name):
            raise name_taken(new.unique_name) from exc
        raise update_failure(exc) from exc
    channel = await session.get(Channel, config.channel_sid)
    assert channel is not None, "the channel workflow answers only once its row exists"
    return channel


@router.get("/{service_sid}/Channels", response_model=ChannelPage, responses=error_responses(404))
async def list_channels(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    paging: PagingDep,
    types: Annotated[list[Literal["public", "private"]] | None, Query(alias="Type")] = None,
) -> dict[str, Any]:
    await load_service(session, service_sid)
    query = select(Channel).where(Channel.service_sid == service_sid)
    if types:
        query = query.where(col(Channel.type).in_(types))
    query = query.order_by(col(Channel.date_created), col(Channel.sid))
    return await call.offset_page(session, query, paging, "channels", render_channel)


@router.get("/{service_sid}/Channels/{channel_sid}", response_model=ChannelResource, responses=error_responses(404))
async def fetch_channel(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
) -> dict[str, Any]:
    return render_channel(call, await load_channel(session, service_sid, channel_sid))


class ChannelUpdateForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", max_length=256)
    unique_name: str | None = Field(None, alias="UniqueName", max_length=256)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)


@router.post(
    "/{service_sid}/Channels/{channel_sid}",
    response_model=ChannelResource,
    responses=error_responses(404, 409),
)
async def update_channel(
    call: CallDep,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    channel_sid: str,
    form: Annotated[ChannelUpdateForm, Form()],
) -> dict[str, Any]:
    """Functions write a task's SID into a channel's attributes here: the change goes through the
    channel's workflow, which shows the attributes from then on."""
    channel = await load_channel(session, service_sid, channel_sid)
    await check_new_unique_name(session, channel, form.unique_name, unique_name_taken)
    change = ChannelChange(
        friendly_name=form.friendly_name,
        unique_name=form.unique_name,
        attributes=None if form.attributes is None else json_text(form.attributes, "Attributes"),
    )
    await change_channel(call, session, channels, channel, change)
    return render_channel(call, channel)


async def check_new_unique_name(
    session: SessionDep, channel: Channel, name: str | None, name_taken: Callable[[str], TwilioError]
) -> None:
    """Refuses renaming ``channel`` to a unique name another channel of its service holds."""
    if name and name != channel.unique_name and await unique_name_holder(session, channel.service_sid, name):
        raise name_taken(name)


async def change_channel(
    call: RestCall, session: SessionDep, channels: ChannelsDep, channel: Channel, change: ChannelChange
) -> None:
    """Makes ``change`` through the channel's workflow; ``channel`` then shows it."""
    config = await config_for_row(call.context, session, channel)
    try:
        await channels.change(config, change)
    except WorkflowUpdateFailedError as exc:
        raise update_failure(exc) from exc
    await session.refresh(channel)


@router.delete("/{service_sid}/Channels/{channel_sid}", status_code=204, responses=error_responses(404))
async def delete_channel(
    call: CallDep,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    channel_sid: str,
) -> Response:
    """Ends the channel's workflow, then deletes the channel with its members, messages, their
    deliveries, its media and its agents. Tasks, Studio executions and agents' feeds keep their
    history (they name the channel by SID). A contact's next message opens a new channel: the
    contact moves on first, so webhooks from then on address the new one."""
    await remove_channel(call, session, channels, await load_channel(session, service_sid, channel_sid))
    return Response(status_code=204)


async def remove_channel(call: RestCall, session: SessionDep, channels: ChannelsDep, channel: Channel) -> None:
    """Ends the channel's workflow, then deletes the channel and what belongs to it (see
    ``delete_channel``)."""
    if channel.flex_flow_sid and channel.contact_hash:
        await retire_contact_channel(
            session, call.context.hasher, channel.flex_flow_sid, channel.contact_hash, channel.sid
        )
        await session.commit()
    await channels.end(channel.sid, "the channel was deleted")
    await session.exec(delete(MessageDelivery).where(col(MessageDelivery.channel_sid) == channel.sid))
    await release_channel(session, channel.sid)
    await session.exec(delete(MediaObject).where(col(MediaObject.channel_sid) == channel.sid))
    await session.exec(delete(Message).where(col(Message.channel_sid) == channel.sid))
    await session.exec(delete(Member).where(col(Member.channel_sid) == channel.sid))
    await session.exec(delete(ChannelAgent).where(col(ChannelAgent.channel_sid) == channel.sid))
    await session.delete(channel)
    await session.commit()


# --- members ----------------------------------------------------------------------------------


class MemberForm(TwilioForm):
    identity: str = Field(alias="Identity", min_length=1, max_length=256)
    role_sid: str | None = Field(None, alias="RoleSid")
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)


def render_member(call: RestCall, member: Member) -> dict[str, Any]:
    cipher = call.context.cipher
    base = call.url("")
    return {
        "sid": member.sid,
        "account_sid": call.account_sid,
        "channel_sid": member.channel_sid,
        "service_sid": member.service_sid,
        "identity": cipher.decrypt(member.identity_enc, "member.identity"),
        "date_created": iso(member.date_created),
        "date_updated": iso(member.date_updated),
        "role_sid": member.role_sid or default_role_sid(member.service_sid, CONVERSATION_USER),
        "last_consumed_message_index": member.last_consumed_message_index,
        "last_consumption_timestamp": iso(member.last_consumption_timestamp),
        "url": f"{base}/v2/Services/{member.service_sid}/Channels/{member.channel_sid}/Members/{member.sid}",
        "attributes": cipher.decrypt(member.attributes_enc, "member.attributes"),
    }


@router.post(
    "/{service_sid}/Channels/{channel_sid}/Members",
    status_code=201,
    response_model=MemberResource,
    responses=error_responses(404, 409),
)
async def create_member(
    call: CallDep,
    session: SessionDep,
    channels: ChannelsDep,
    service_sid: str,
    channel_sid: str,
    form: Annotated[MemberForm, Form()],
) -> dict[str, Any]:
    channel = await load_channel(session, service_sid, channel_sid)
    spec = MemberSpec(form.identity, form.role_sid, json_text(form.attributes, "Attributes"))
    member = await join_member(call, session, channels, channel, spec)
    if member is None:
        raise TwilioError(409, f"Member {form.identity} already exists in channel {channel.sid}", 50404)
    return render_member(call, member)


async def join_member(
    call: RestCall, session: SessionDep, channels: ChannelsDep, channel: Channel, spec: MemberSpec
) -> Member | None:
    """Adds a member through the channel's workflow; None when the identity is a member already."""
    try:
        view = await channels.add_member(await config_for_row(call.context, session, channel), spec)
    except WorkflowUpdateFailedError as exc:
        raise update_failure(exc) from exc
    if view.existing:
        return None
    member = await session.get(Member, view.sid)
    assert member is not None
    return member


@router.get("/{service_sid}/Channels/{channel_sid}/Members", response_model=MemberPage, responses=error_responses(404))
async def list_members(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
    paging: PagingDep,
    identities: Annotated[list[str] | None, Query(alias="Identity")] = None,
) -> dict[str, Any]:
    channel = await load_channel(session, service_sid, channel_sid)
    query = select(Member).where(Member.channel_sid == channel.sid)
    if identities:
        query = query.where(col(Member.identity_hash).in_([identity_hash(call.context.hasher, i) for i in identities]))
    query = query.order_by(col(Member.date_created), col(Member.sid))
    return await call.offset_page(session, query, paging, "members", render_member)


@router.get(
    "/{service_sid}/Channels/{channel_sid}/Members/{member_sid}",
    response_model=MemberResource,
    responses=error_responses(404),
)
async def fetch_member(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
    member_sid: str,
) -> dict[str, Any]:
    return render_member(call, await load_member(call, session, service_sid, channel_sid, member_sid))


async def load_member(
    call: RestCall, session: SessionDep, service_sid: str, channel_sid: str, member_sid: str
) -> Member:
    """A channel's member by SID or, as Twilio allows, by identity."""
    return await member_of(call, session, await load_channel(session, service_sid, channel_sid), member_sid)


async def member_of(
    call: RestCall, session: SessionDep, channel: Channel, member_sid: str, resource: str = "Member"
) -> Member:
    """The channel's member by SID or by identity (``resource``: what a 404 calls it)."""
    if sids.is_sid(member_sid, sids.MEMBER):
        member = await session.get(Member, member_sid)
    else:
        query = select(Member).where(
            Member.channel_sid == channel.sid,
            Member.identity_hash == identity_hash(call.context.hasher, member_sid),
        )
        member = (await session.exec(query)).first()
    if member is None or member.channel_sid != channel.sid:
        raise not_found(resource, member_sid)
    return member


class MemberUpdateForm(TwilioForm):
    role_sid: str | None = Field(None, alias="RoleSid")
    last_consumed_message_index: int | None = Field(None, alias="LastConsumedMessageIndex", ge=0)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)


@router.post(
    "/{service_sid}/Channels/{channel_sid}/Members/{member_sid}",
    response_model=MemberResource,
    responses=error_responses(404),
)
async def update_member(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
    member_sid: str,
    form: Annotated[MemberUpdateForm, Form()],
) -> dict[str, Any]:
    """A member's read horizon (``LastConsumedMessageIndex``, stamped now) and attributes."""
    member = await load_member(call, session, service_sid, channel_sid, member_sid)
    edit = MemberEdit(form.role_sid, form.last_consumed_message_index, form.attributes)
    await edit_member(call, session, member, edit)
    return render_member(call, member)


@dataclass(frozen=True)
class MemberEdit:
    """A member's fields a caller changes (None: unchanged); ``read_at`` defaults to now."""

    role_sid: str | None = None
    last_read_index: int | None = None
    attributes: str | None = None
    read_at: datetime | None = None


async def edit_member(call: RestCall, session: SessionDep, member: Member, edit: MemberEdit) -> None:
    """A member's role, read horizon and attributes (Chat v2's members, Conversations' participants)."""
    now = utcnow()
    if edit.role_sid is not None:
        member.role_sid = edit.role_sid or None
    if edit.last_read_index is not None:
        member.last_consumed_message_index = edit.last_read_index
        member.last_consumption_timestamp = edit.read_at or now
    elif edit.read_at is not None:
        member.last_consumption_timestamp = edit.read_at
    if edit.attributes is not None:
        member.attributes_enc = call.context.cipher.encrypt(
            json_text(edit.attributes, "Attributes"), "member.attributes"
        )
    member.date_updated = now
    session.add(member)
    await session.commit()


# --- messages ---------------------------------------------------------------------------------


class MessageForm(TwilioForm):
    from_: str = Field("system", alias="From", min_length=1, max_length=256)
    body: str | None = Field(None, alias="Body", max_length=32768)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)
    media_sid: str | None = Field(None, alias="MediaSid", max_length=34)


def render_message(call: RestCall, message: Message) -> dict[str, Any]:
    cipher = call.context.cipher
    base = call.url("")
    media = cipher.decrypt_optional(message.media_enc, "message.media")
    return {
        "sid": message.sid,
        "account_sid": call.account_sid,
        "attributes": cipher.decrypt(message.attributes_enc, "message.attributes"),
        "service_sid": message.service_sid,
        "to": message.channel_sid,
        "channel_sid": message.channel_sid,
        "date_created": iso(message.date_created),
        "date_updated": iso(message.date_updated),
        "last_updated_by": None,
        "was_edited": message.was_edited,
        "from": cipher.decrypt(message.author_enc, "message.author"),
        "body": cipher.decrypt_optional(message.body_enc, "message.body"),
        "index": message.index,
        "type": message.type,
        "media": json.loads(media) if media else None,
        "url": f"{base}/v2/Services/{message.service_sid}/Channels/{message.channel_sid}/Messages/{message.sid}",
    }


@router.post(
    "/{service_sid}/Channels/{channel_sid}/Messages",
    status_code=201,
    response_model=MessageResource,
    responses=error_responses(404, 409, 503),
)
async def create_message(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
    form: Annotated[MessageForm, Form()],
    idempotency_token: Annotated[str | None, Header(alias="I-Twilio-Idempotency-Token", max_length=128)] = None,
    webhook_enabled: Annotated[Literal["true", "false"], Header(alias="X-Twilio-Webhook-Enabled")] = "false",
) -> dict[str, Any]:
    """As in Programmable Chat, a REST-posted message reaches the channel's integration (its
    Studio flow, external URL or task creation) only with ``X-Twilio-Webhook-Enabled: true``."""
    if form.body is None and form.media_sid is None:
        raise invalid("Body", "a message needs a Body or a MediaSid")
    channel = await load_channel(session, service_sid, channel_sid)
    media = await uploaded_media(call, session, channel, form.media_sid)
    posted = RestMessage(form.from_, form.body, form.attributes, idempotency_token, webhook_enabled, media)
    row = await post_rest_message(call, session, channel, posted)
    return render_message(call, row)


async def uploaded_media(
    call: RestCall, session: SessionDep, channel: Channel, media_sid: str | None
) -> tuple[MediaRef, ...]:
    """``MediaSid``: media uploaded to this channel (``POST /v1/Media`` with its SID); refused,
    naming it, otherwise."""
    if not media_sid:
        return ()
    row = await session.get(MediaObject, media_sid)
    if row is None or row.channel_sid != channel.sid:
        raise invalid("MediaSid", f"media {media_sid} was not uploaded to channel {channel.sid} (POST /v1/Media)")
    return (media_view(row, call.context),)


@dataclass(frozen=True)
class RestMessage:
    """A message a REST caller posts (Chat v2's ``From``, Conversations' ``Author``)."""

    author: str
    body: str | None
    attributes: str | None
    idempotency_token: str | None = None
    webhook_enabled: str = "false"
    # Media uploaded to the channel (Conversations' ``MediaSid``).
    media: tuple[MediaRef, ...] = ()


async def post_rest_message(call: RestCall, session: SessionDep, channel: Channel, posted: RestMessage) -> Message:
    """Posts through the channel's workflow as every surface does (``api.conversations.post_message``)."""
    check_message_body(posted.body)
    token = posted.idempotency_token
    key = f"rest:{token}" if token else f"rest:{sids.new_sid(sids.MESSAGE)}"
    message = InboundMessage(
        key=key,
        author=posted.author,
        body=posted.body,
        attributes=json_text(posted.attributes, "Attributes"),
        runs_integration=posted.webhook_enabled == "true",
        media=list(posted.media),
    )
    # Give the connection back while the update runs: under load it waits on a busy channel, and
    # requests holding connections meanwhile would drain the pool.
    await session.close()
    try:
        stored = await post_message(call.context, channel.sid, Writer(posted.author), message, channel=channel)
    except ConversationRefused as exc:
        raise TwilioError(exc.status, exc.message, exc.code) from exc
    row = await session.get(Message, stored.sid)
    assert row is not None
    return row


@router.get(
    "/{service_sid}/Channels/{channel_sid}/Messages", response_model=MessagePage, responses=error_responses(404)
)
async def list_messages(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
    paging: PagingDep,
    order: Annotated[Literal["asc", "desc"], Query(alias="Order")] = "asc",
) -> dict[str, Any]:
    """Pages by index: the page token is the last index served, so a page never shifts when new
    messages arrive while a client walks the history."""
    channel = await load_channel(session, service_sid, channel_sid)
    page, token = await message_page(session, channel, paging, order)
    return call.page("messages", [render_message(call, m) for m in page], paging, token, token is not None)


async def message_page(
    session: SessionDep, channel: Channel, paging: PageRequest, order: str
) -> tuple[Sequence[Message], str | None]:
    """A page of the channel's messages by index (``asc`` or ``desc``), and the next page's token."""
    query = select(Message).where(Message.channel_sid == channel.sid)
    after: int | None = None
    if paging.page_token:
        try:
            after = int(paging.page_token.removeprefix("PI"))
        except ValueError as exc:
            raise invalid("PageToken", "is not a token this server issued") from exc
    if order == "asc":
        if after is not None:
            query = query.where(Message.index > after)
        query = query.order_by(col(Message.index))
    else:
        if after is not None:
            query = query.where(Message.index < after)
        query = query.order_by(col(Message.index).desc())
    if after is None:
        query = query.offset(paging.offset)
    rows = (await session.exec(query.limit(paging.page_size + 1))).all()
    page = rows[: paging.page_size]
    return page, f"PI{page[-1].index}" if len(rows) > paging.page_size else None


@router.get(
    "/{service_sid}/Channels/{channel_sid}/Messages/{message_sid}",
    response_model=MessageResource,
    responses=error_responses(404),
)
async def fetch_message(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
    message_sid: str,
) -> dict[str, Any]:
    return render_message(call, await load_message(session, service_sid, channel_sid, message_sid))


async def load_message(session: SessionDep, service_sid: str, channel_sid: str, message_sid: str) -> Message:
    """A channel's message by SID or by index (as the channel's ``last_message`` link has it)."""
    return await message_of(session, await load_channel(session, service_sid, channel_sid), message_sid)


async def message_of(session: SessionDep, channel: Channel, message_sid: str) -> Message:
    """The channel's message by SID or by index."""
    if message_sid.isascii() and message_sid.isdigit() and len(message_sid) <= INDEX_DIGITS:
        query = select(Message).where(Message.channel_sid == channel.sid, Message.index == int(message_sid))
        message = (await session.exec(query)).first()
    else:
        message = await session.get(Message, message_sid)
    if message is None or message.channel_sid != channel.sid:
        raise not_found("Message", message_sid)
    return message


class MessageUpdateForm(TwilioForm):
    body: str | None = Field(None, alias="Body", max_length=32768)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)


@router.post(
    "/{service_sid}/Channels/{channel_sid}/Messages/{message_sid}",
    response_model=MessageResource,
    responses=error_responses(404),
)
async def update_message(
    call: CallDep,
    session: SessionDep,
    service_sid: str,
    channel_sid: str,
    message_sid: str,
    form: Annotated[MessageUpdateForm, Form()],
) -> dict[str, Any]:
    """Edits a stored message's body or attributes (what was already delivered stays delivered)."""
    message = await load_message(session, service_sid, channel_sid, message_sid)
    await edit_message(call, session, message, form.body, form.attributes)
    return render_message(call, message)


async def edit_message(
    call: RestCall,
    session: SessionDep,
    message: Message,
    body: str | None,
    attributes: str | None,
    author: str | None = None,
) -> None:
    """Changes a stored message's body, attributes or author (None: unchanged)."""
    check_message_body(body)
    cipher = call.context.cipher
    if body is not None:
        message.body_enc = cipher.encrypt(body, "message.body")
        message.was_edited = True
    if attributes is not None:
        message.attributes_enc = cipher.encrypt(json_text(attributes, "Attributes"), "message.attributes")
    if author is not None:
        message.author_enc = cipher.encrypt(author, "message.author")
    message.date_updated = utcnow()
    session.add(message)
    await session.commit()


@router.delete(
    "/{service_sid}/Channels/{channel_sid}/Messages/{message_sid}",
    status_code=204,
    responses=error_responses(404),
)
async def delete_message(session: SessionDep, service_sid: str, channel_sid: str, message_sid: str) -> Response:
    """Deletes a message; the channel's other messages keep their indexes."""
    await remove_message(session, await load_message(session, service_sid, channel_sid, message_sid))
    return Response(status_code=204)


async def remove_message(session: SessionDep, message: Message) -> None:
    """Deletes a stored message and its deliveries; the channel counts one message fewer."""
    await session.exec(delete(MessageDelivery).where(col(MessageDelivery.message_sid) == message.sid))
    await remove_receipts(session, [message.sid])
    await session.delete(message)
    channel = await session.get(Channel, message.channel_sid)
    if channel is not None and channel.messages_count > 0:
        channel.messages_count -= 1
        session.add(channel)
    await session.commit()
