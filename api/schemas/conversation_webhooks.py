"""Conversations v1 webhooks as ``api.routes.conversation_webhooks`` answers them (Twilio's
``conversations_v1`` shapes): a conversation's own webhooks (the channel's, which Chat v2 lists
too), and the account's and each service's pre-event and post-event configuration."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class ConversationScopedWebhook(Resource):
    sid: str
    account_sid: str
    conversation_sid: str
    # webhook, trigger or studio.
    target: str
    url: str
    # The keys set of url, method (get or post), filters, triggers, flow_sid.
    configuration: dict[str, Any]
    date_created: str
    date_updated: str


class ServiceConversationScopedWebhook(ConversationScopedWebhook):
    chat_service_sid: str


class ConversationScopedWebhookPage(Resource):
    webhooks: list[ConversationScopedWebhook]
    meta: PageMeta


class ServiceConversationScopedWebhookPage(Resource):
    webhooks: list[ServiceConversationScopedWebhook]
    meta: PageMeta


class ConfigurationWebhook(Resource):
    """The account's pre-event and post-event webhooks (``/v1/Configuration/Webhooks``)."""

    account_sid: str
    # GET or POST.
    method: str
    filters: list[str]
    pre_webhook_url: str | None
    post_webhook_url: str | None
    # webhook or flex.
    target: str
    url: str


class ServiceWebhookConfiguration(Resource):
    """A service's pre-event and post-event webhooks."""

    account_sid: str
    chat_service_sid: str
    pre_webhook_url: str | None
    post_webhook_url: str | None
    filters: list[str]
    method: str
    url: str
