"""Conversations v1 users, roles, a user's and an identity's conversations, as
``api.routes.conversation_users``, ``conversation_roles`` and ``conversation_participants``
answer them (Twilio's ``conversations_v1`` shapes)."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class Role(Resource):
    sid: str
    account_sid: str
    chat_service_sid: str
    friendly_name: str
    # conversation or service.
    type: str
    permissions: list[str]
    date_created: str
    date_updated: str
    url: str


class RolePage(Resource):
    roles: list[Role]
    meta: PageMeta


class UserLinks(Resource):
    user_conversations: str


class User(Resource):
    sid: str
    account_sid: str
    chat_service_sid: str
    role_sid: str | None
    identity: str
    friendly_name: str | None
    # JSON text.
    attributes: str
    # Reachability is not reported: null.
    is_online: bool | None
    is_notifiable: bool | None
    date_created: str
    date_updated: str
    url: str
    links: UserLinks


class UserPage(Resource):
    users: list[User]
    meta: PageMeta


class UserConversationLinks(Resource):
    participant: str
    conversation: str


class UserConversation(Resource):
    account_sid: str
    chat_service_sid: str
    conversation_sid: str
    # Messages after the read horizon; null while the user has none.
    unread_messages_count: int | None
    last_read_message_index: int | None
    participant_sid: str
    user_sid: str
    friendly_name: str | None
    conversation_state: str
    timers: dict[str, str]
    # The conversation's attributes (JSON text).
    attributes: str
    date_created: str
    date_updated: str
    created_by: str | None
    # default or muted.
    notification_level: str
    unique_name: str | None
    url: str
    links: UserConversationLinks


class UserConversationPage(Resource):
    conversations: list[UserConversation]
    meta: PageMeta


class ParticipantConversationLinks(Resource):
    participant: str
    conversation: str


class ParticipantConversation(Resource):
    account_sid: str
    chat_service_sid: str
    participant_sid: str
    participant_user_sid: str | None
    participant_identity: str | None
    # Chat participants have none: null.
    participant_messaging_binding: dict[str, Any] | None
    conversation_sid: str
    conversation_unique_name: str | None
    conversation_friendly_name: str | None
    conversation_attributes: str
    conversation_date_created: str
    conversation_date_updated: str
    conversation_created_by: str | None
    conversation_state: str
    conversation_timers: dict[str, str]
    links: ParticipantConversationLinks


class ParticipantConversationPage(Resource):
    conversations: list[ParticipantConversation]
    meta: PageMeta
