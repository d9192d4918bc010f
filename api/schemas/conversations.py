"""Conversations v1 resources as ``api.routes.conversations_v1`` answers them (Twilio's
``conversations_v1`` shapes): a conversation is a chat channel, a participant its member."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class ConversationLinks(Resource):
    participants: str
    messages: str
    webhooks: str


class Conversation(Resource):
    sid: str
    account_sid: str
    chat_service_sid: str
    # Switchboard sends no SMS through a Messaging Service for a conversation (yet): null.
    messaging_service_sid: str | None
    friendly_name: str | None
    unique_name: str | None
    # JSON text, as on Twilio's wire.
    attributes: str
    # active, inactive or closed (Twilio's enum; initializing is never shown).
    state: str
    date_created: str
    date_updated: str
    # date_inactive (while active) / date_closed (until closed) when the conversation's timers are
    # set; {} when none is ahead.
    timers: dict[str, str]
    # Email bindings are not kept: null.
    bindings: dict[str, Any] | None
    url: str
    links: ConversationLinks


class ConversationPage(Resource):
    conversations: list[Conversation]
    meta: PageMeta


class Participant(Resource):
    account_sid: str
    conversation_sid: str
    sid: str
    identity: str | None
    # JSON text.
    attributes: str
    # An SMS or WhatsApp participant's {type, address, proxy_address}; null for chat participants.
    messaging_binding: dict[str, Any] | None
    role_sid: str | None
    date_created: str
    date_updated: str
    url: str
    last_read_message_index: int | None
    last_read_timestamp: str | None


class ParticipantPage(Resource):
    participants: list[Participant]
    meta: PageMeta


class ConversationMessageLinks(Resource):
    delivery_receipts: str
    channel_metadata: str


class ConversationMessage(Resource):
    sid: str
    account_sid: str
    conversation_sid: str
    body: str | None
    # Each attachment's content_type and url, with sid, filename and size for uploaded media.
    media: list[dict[str, Any]] | None
    author: str
    # The participant whose identity wrote it; null for system and other authors.
    participant_sid: str | None
    # JSON text.
    attributes: str
    date_created: str
    date_updated: str
    index: int
    # The summary of its receipts from SMS and WhatsApp participants: {total, sent, delivered, read,
    # failed, undelivered} (all, some or none); null when it was sent to none.
    delivery: dict[str, Any] | None
    content_sid: str | None
    url: str
    links: ConversationMessageLinks


class ConversationMessagePage(Resource):
    messages: list[ConversationMessage]
    meta: PageMeta


class ConversationServiceLinks(Resource):
    conversations: str
    users: str
    roles: str
    bindings: str
    configuration: str
    participant_conversations: str
    conversation_with_participants: str


class ConversationService(Resource):
    sid: str
    account_sid: str
    friendly_name: str
    date_created: str
    date_updated: str
    url: str
    links: ConversationServiceLinks


class ConversationServicePage(Resource):
    services: list[ConversationService]
    meta: PageMeta


class ConfigurationLinks(Resource):
    service: str
    webhooks: str


class Configuration(Resource):
    """The account's Conversations configuration: which service ``/v1/Conversations`` uses."""

    account_sid: str
    default_chat_service_sid: str
    default_messaging_service_sid: str | None
    # ISO 8601 durations; the deployment's channel inactivity period for the first, null for the
    # second (a chat conversation is never closed by a timer).
    default_inactive_timer: str | None
    default_closed_timer: str | None
    url: str
    links: ConfigurationLinks


class ServiceConfigurationLinks(Resource):
    notifications: str
    webhooks: str


class ServiceConfiguration(Resource):
    chat_service_sid: str
    default_conversation_creator_role_sid: str | None
    default_conversation_role_sid: str | None
    default_chat_service_role_sid: str | None
    reachability_enabled: bool
    url: str
    links: ServiceConfigurationLinks
