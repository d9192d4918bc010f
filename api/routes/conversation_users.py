"""Conversations v1 ``Users`` (``/v1/Users``, ``/v1/Services/{IS}/Users``) and a user's
conversations (``Users/{US}/Conversations``): the users of a chat service
(``switchboard.store.conversation_users``), made by the caller or implicitly when an identity
joins a channel; Chat v2 lists the same users (``api.routes.chat_links``). A user's conversation
is its identity's participant on a channel of the service: its read horizon is the participant's,
its notification level the user's own setting, and deleting it leaves the conversation."""

# No ``from __future__ import annotations``: the routes are closures, and FastAPI resolves their
# annotations (``Depends(scope_of)``) where they are defined.

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Response
from pydantic import Field
from sqlalchemy import delete
from sqlmodel import col, select

from api.conversation_lifecycle import render_timers, state_of
from api.deps import CallDep, PagingDep, RestCall, SessionDep, require_account
from api.routes.chat import MemberEdit, edit_member, json_text, load_channel
from api.routes.conversation_roles import ScopeOf, ServiceScope, check_role, default_service_scope, named_service_scope
from api.schemas import conversation_users as schemas
from api.schemas.resources import REST_CALL_ERRORS, error_responses
from api.twilio_shape import TwilioError, TwilioForm, iso, not_found, parse_date
from switchboard.store.conversation_users import USER_PREFIX, ensure_default_roles, new_user, user_by_identity
from switchboard.store.models import Channel, ConversationUser, Member, UserConversationSetting, utcnow
from workflows import sids

# Twilio's code: a user with this identity exists.
USER_EXISTS = 50201
NotificationLevel = Literal["default", "muted"]


def render_user(call: RestCall, scope: ServiceScope, user: ConversationUser) -> dict[str, Any]:
    cipher = call.context.cipher
    url = call.url(f"{scope.path}/Users/{user.sid}")
    return {
        "sid": user.sid,
        "account_sid": call.account_sid,
        "chat_service_sid": user.service_sid,
        "role_sid": user.role_sid,
        "identity": cipher.decrypt(user.identity_enc, "conversation_user.identity"),
        "friendly_name": cipher.decrypt_optional(user.friendly_name_enc, "conversation_user.friendly_name"),
        "attributes": cipher.decrypt(user.attributes_enc, "conversation_user.attributes"),
        "is_online": None,
        "is_notifiable": None,
        "date_created": iso(user.date_created),
        "date_updated": iso(user.date_updated),
        "url": url,
        "links": {"user_conversations": f"{url}/Conversations"},
    }


def render_chat_user(call: RestCall, user: ConversationUser, joined: int) -> dict[str, Any]:
    """The same user in Chat v2's words."""
    cipher = call.context.cipher
    url = call.url(f"/v2/Services/{user.service_sid}/Users/{user.sid}")
    return {
        "sid": user.sid,
        "account_sid": call.account_sid,
        "service_sid": user.service_sid,
        "attributes": cipher.decrypt(user.attributes_enc, "conversation_user.attributes"),
        "friendly_name": cipher.decrypt_optional(user.friendly_name_enc, "conversation_user.friendly_name"),
        "role_sid": user.role_sid,
        "identity": cipher.decrypt(user.identity_enc, "conversation_user.identity"),
        "is_online": None,
        "is_notifiable": None,
        "date_created": iso(user.date_created),
        "date_updated": iso(user.date_updated),
        "joined_channels_count": joined,
        "links": {"user_channels": f"{url}/Channels", "user_bindings": f"{url}/Bindings"},
        "url": url,
    }


async def chat_users_page(call: RestCall, session: SessionDep, service_sid: str, paging: Any) -> dict[str, Any]:
    """Chat v2's ``Users`` list of the service: the users Conversations keeps."""
    query = select(ConversationUser).where(ConversationUser.service_sid == service_sid)
    query = query.order_by(col(ConversationUser.date_created), col(ConversationUser.sid))
    rows = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
    items = []
    for user in rows[: paging.page_size]:
        joined = select(Member.sid).where(Member.service_sid == service_sid, Member.identity_hash == user.identity_hash)
        items.append(render_chat_user(call, user, len((await session.exec(joined)).all())))
    return call.page("users", items, paging, None, len(rows) > paging.page_size)


async def load_user(call: RestCall, session: SessionDep, service_sid: str, user_sid: str) -> ConversationUser:
    """The service's user by SID or by identity."""
    if sids.is_sid(user_sid, USER_PREFIX):
        user = await session.get(ConversationUser, user_sid)
    else:
        user = await user_by_identity(session, call.context.hasher, service_sid, user_sid)
    if user is None or user.service_sid != service_sid:
        raise not_found("User", user_sid)
    return user


class UserUpdateForm(TwilioForm):
    friendly_name: str | None = Field(None, alias="FriendlyName", max_length=256)
    attributes: str | None = Field(None, alias="Attributes", max_length=16384)
    role_sid: str | None = Field(None, alias="RoleSid", max_length=34)


class UserForm(UserUpdateForm):
    identity: str = Field(alias="Identity", min_length=1, max_length=256)


class UserConversationForm(TwilioForm):
    notification_level: NotificationLevel | None = Field(None, alias="NotificationLevel")
    last_read_message_index: int | None = Field(None, alias="LastReadMessageIndex", ge=0)
    last_read_timestamp: str | None = Field(None, alias="LastReadTimestamp", max_length=64)


def users_router(prefix: str, scope_of: ScopeOf) -> APIRouter:
    router = APIRouter(
        prefix=prefix, tags=["conversations"], dependencies=[Depends(require_account)], responses=REST_CALL_ERRORS
    )
    one = "/{user_sid}"
    conversation_path = "/{user_sid}/Conversations/{conversation_sid}"

    @router.post("", status_code=201, response_model=schemas.User, responses=error_responses(404, 409))
    async def create_user(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        form: Annotated[UserForm, Form()],
    ) -> dict[str, Any]:
        """Its role defaults to the service's default user role (``service user``)."""
        context = call.context
        if await user_by_identity(session, context.hasher, scope.service_sid, form.identity) is not None:
            raise TwilioError(409, f"User with identity {form.identity} already exists", USER_EXISTS)
        role_sid = await check_role(session, scope.service_sid, form.role_sid, "service")
        await ensure_default_roles(session, scope.service_sid)
        user = new_user(
            context.cipher,
            context.hasher,
            scope.service_sid,
            form.identity,
            friendly_name=form.friendly_name or None,
            attributes=json_text(form.attributes, "Attributes"),
            role_sid=role_sid,
        )
        session.add(user)
        await session.commit()
        return render_user(call, scope, user)

    @router.get("", response_model=schemas.UserPage, responses=error_responses(404))
    async def list_users(
        call: CallDep, session: SessionDep, scope: Annotated[ServiceScope, Depends(scope_of)], paging: PagingDep
    ) -> dict[str, Any]:
        query = select(ConversationUser).where(ConversationUser.service_sid == scope.service_sid)
        query = query.order_by(col(ConversationUser.date_created), col(ConversationUser.sid))
        return await call.offset_page(session, query, paging, "users", lambda c, row: render_user(c, scope, row))

    @router.get(one, response_model=schemas.User, responses=error_responses(404))
    async def fetch_user(
        call: CallDep, session: SessionDep, scope: Annotated[ServiceScope, Depends(scope_of)], user_sid: str
    ) -> dict[str, Any]:
        """By SID or by identity."""
        return render_user(call, scope, await load_user(call, session, scope.service_sid, user_sid))

    @router.post(one, response_model=schemas.User, responses=error_responses(404))
    async def update_user(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        user_sid: str,
        form: Annotated[UserUpdateForm, Form()],
    ) -> dict[str, Any]:
        user = await load_user(call, session, scope.service_sid, user_sid)
        cipher = call.context.cipher
        if form.role_sid is not None:
            user.role_sid = await check_role(session, scope.service_sid, form.role_sid, "service") or user.role_sid
        if form.friendly_name is not None:
            user.friendly_name_enc = cipher.encrypt_optional(
                form.friendly_name or None, "conversation_user.friendly_name"
            )
        if form.attributes is not None:
            user.attributes_enc = cipher.encrypt(
                json_text(form.attributes, "Attributes"), "conversation_user.attributes"
            )
        user.date_updated = utcnow()
        session.add(user)
        await session.commit()
        return render_user(call, scope, user)

    @router.delete(one, status_code=204, responses=error_responses(404))
    async def delete_user(
        call: CallDep, session: SessionDep, scope: Annotated[ServiceScope, Depends(scope_of)], user_sid: str
    ) -> Response:
        """The user and its settings go; its identity's participants stay in their conversations."""
        user = await load_user(call, session, scope.service_sid, user_sid)
        await session.exec(delete(UserConversationSetting).where(col(UserConversationSetting.user_sid) == user.sid))
        await session.delete(user)
        await session.commit()
        return Response(status_code=204)

    # --- the user's conversations ---

    async def level_of(session: SessionDep, user: ConversationUser, channel_sid: str) -> str:
        setting = await session.get(UserConversationSetting, (user.sid, channel_sid))
        return setting.notification_level if setting is not None else "default"

    def render(
        call: RestCall, scope: ServiceScope, user: ConversationUser, member: Member, channel: Channel, level: str
    ) -> dict[str, Any]:
        cipher = call.context.cipher
        read = member.last_consumed_message_index
        last = channel.last_message_index
        conversation_url = call.url(f"{scope.path}/Conversations/{channel.sid}")
        return {
            "account_sid": call.account_sid,
            "chat_service_sid": channel.service_sid,
            "conversation_sid": channel.sid,
            "unread_messages_count": None if read is None else max(0, (last if last is not None else -1) - read),
            "last_read_message_index": read,
            "participant_sid": member.sid,
            "user_sid": user.sid,
            "friendly_name": cipher.decrypt_optional(channel.friendly_name_enc, "channel.friendly_name"),
            "conversation_state": state_of(channel),
            "timers": render_timers(channel),
            "attributes": cipher.decrypt(channel.attributes_enc, "channel.attributes"),
            "date_created": iso(channel.date_created),
            "date_updated": iso(channel.date_updated),
            "created_by": channel.created_by,
            "notification_level": level,
            "unique_name": channel.unique_name,
            "url": call.url(f"{scope.path}/Users/{user.sid}/Conversations/{channel.sid}"),
            "links": {"participant": f"{conversation_url}/Participants/{member.sid}", "conversation": conversation_url},
        }

    async def membership(
        call: RestCall, session: SessionDep, scope: ServiceScope, user_sid: str, conversation_sid: str
    ) -> tuple[ConversationUser, Member, Channel]:
        user = await load_user(call, session, scope.service_sid, user_sid)
        channel = await load_channel(session, scope.service_sid, conversation_sid, "Conversation")
        query = select(Member).where(Member.channel_sid == channel.sid, Member.identity_hash == user.identity_hash)
        member = (await session.exec(query)).first()
        if member is None:
            raise not_found("UserConversation", f"{user.sid}/{channel.sid}")
        return user, member, channel

    @router.get(
        "/{user_sid}/Conversations", response_model=schemas.UserConversationPage, responses=error_responses(404)
    )
    async def list_user_conversations(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        user_sid: str,
        paging: PagingDep,
    ) -> dict[str, Any]:
        """The conversations of the service its identity is a participant of, oldest join first."""
        user = await load_user(call, session, scope.service_sid, user_sid)
        query = (
            select(Member)
            .where(Member.service_sid == scope.service_sid, Member.identity_hash == user.identity_hash)
            .order_by(col(Member.date_created), col(Member.sid))
        )
        rows = (await session.exec(query.offset(paging.offset).limit(paging.page_size + 1))).all()
        items = []
        for member in rows[: paging.page_size]:
            channel = await session.get(Channel, member.channel_sid)
            if channel is not None:
                level = await level_of(session, user, channel.sid)
                items.append(render(call, scope, user, member, channel, level))
        return call.page("conversations", items, paging, None, len(rows) > paging.page_size)

    @router.get(conversation_path, response_model=schemas.UserConversation, responses=error_responses(404))
    async def fetch_user_conversation(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        user_sid: str,
        conversation_sid: str,
    ) -> dict[str, Any]:
        user, member, channel = await membership(call, session, scope, user_sid, conversation_sid)
        return render(call, scope, user, member, channel, await level_of(session, user, channel.sid))

    @router.post(conversation_path, response_model=schemas.UserConversation, responses=error_responses(404))
    async def update_user_conversation(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        user_sid: str,
        conversation_sid: str,
        form: Annotated[UserConversationForm, Form()],
    ) -> dict[str, Any]:
        """The notification level (kept, not acted on: Switchboard sends no push notifications)
        and the participant's read horizon."""
        user, member, channel = await membership(call, session, scope, user_sid, conversation_sid)
        if form.notification_level is not None:
            setting = await session.get(UserConversationSetting, (user.sid, channel.sid))
            setting = setting or UserConversationSetting(user_sid=user.sid, channel_sid=channel.sid)
            setting.notification_level = form.notification_level
            session.add(setting)
            await session.commit()
        read_at = parse_date(form.last_read_timestamp, "LastReadTimestamp")
        if form.last_read_message_index is not None or read_at is not None:
            await edit_member(
                call, session, member, MemberEdit(last_read_index=form.last_read_message_index, read_at=read_at)
            )
        await session.refresh(channel)
        return render(call, scope, user, member, channel, await level_of(session, user, channel.sid))

    @router.delete(conversation_path, status_code=204, responses=error_responses(404))
    async def delete_user_conversation(
        call: CallDep,
        session: SessionDep,
        scope: Annotated[ServiceScope, Depends(scope_of)],
        user_sid: str,
        conversation_sid: str,
    ) -> Response:
        """The user leaves the conversation: its participant goes, as a participant delete."""
        user, member, channel = await membership(call, session, scope, user_sid, conversation_sid)
        await session.delete(member)
        if channel.members_count > 0:
            channel.members_count -= 1
            session.add(channel)
        await session.exec(
            delete(UserConversationSetting).where(
                col(UserConversationSetting.user_sid) == user.sid,
                col(UserConversationSetting.channel_sid) == channel.sid,
            )
        )
        await session.commit()
        return Response(status_code=204)

    return router


router = users_router("/v1/Users", default_service_scope)
service_router = users_router("/v1/Services/{chat_service_sid}/Users", named_service_scope)
