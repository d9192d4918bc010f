"""Chat v2 resources as ``api.routes.chat`` answers them (Twilio's Programmable Chat shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class ServiceLimits(Resource):
    channel_members: int
    user_channels: int


class ServiceMedia(Resource):
    size_limit_mb: int
    compatibility_message: str


class ServiceLinks(Resource):
    channels: str
    users: str
    roles: str
    bindings: str


class ServiceResource(Resource):
    sid: str
    account_sid: str
    friendly_name: str
    # Switchboard's: days messages are kept (0: for good; null: the deployment's default).
    retention_days: int | None
    date_created: str
    date_updated: str
    default_service_role_sid: str | None
    default_channel_role_sid: str | None
    default_channel_creator_role_sid: str | None
    read_status_enabled: bool
    reachability_enabled: bool
    typing_indicator_timeout: int
    consumption_report_interval: int
    limits: ServiceLimits
    pre_webhook_url: str | None
    post_webhook_url: str | None
    webhook_method: str
    webhook_filters: list[str]
    pre_webhook_retry_count: int
    post_webhook_retry_count: int
    notifications: dict[str, Any]
    media: ServiceMedia
    url: str
    links: ServiceLinks


class ServicePage(Resource):
    services: list[ServiceResource]
    meta: PageMeta


class ChannelLinks(Resource):
    members: str
    messages: str
    invites: str
    webhooks: str
    # The channel's latest message (null before the first).
    last_message: str | None


class ChannelResource(Resource):
    sid: str
    account_sid: str
    service_sid: str
    friendly_name: str | None
    unique_name: str | None
    # JSON text, as on Twilio's wire.
    attributes: str
    type: str
    date_created: str
    date_updated: str
    created_by: str
    members_count: int
    messages_count: int
    url: str
    links: ChannelLinks


class ChannelPage(Resource):
    channels: list[ChannelResource]
    meta: PageMeta


class MemberResource(Resource):
    sid: str
    account_sid: str
    channel_sid: str
    service_sid: str
    identity: str
    date_created: str
    date_updated: str
    role_sid: str | None
    last_consumed_message_index: int | None
    last_consumption_timestamp: str | None
    url: str
    # JSON text.
    attributes: str


class MemberPage(Resource):
    members: list[MemberResource]
    meta: PageMeta


class MessageResource(Resource):
    model_config = ConfigDict(populate_by_name=True)

    sid: str
    account_sid: str
    # JSON text.
    attributes: str
    service_sid: str
    to: str
    channel_sid: str
    date_created: str
    date_updated: str
    last_updated_by: str | None
    was_edited: bool
    from_: str = Field(alias="from")
    body: str | None
    index: int
    type: str
    # Each attachment's content_type and url, with sid, filename and size for uploaded media.
    media: list[dict[str, Any]] | None
    url: str


class MessagePage(Resource):
    messages: list[MessageResource]
    meta: PageMeta


class UploadedMedia(Resource):
    """An image or file uploaded to a channel (``POST /v1/Media``)."""

    sid: str
    channel_sid: str
    content_type: str
    filename: str
    size: int
    url: str


class ChannelWebhookResource(Resource):
    """A channel's webhook (``studio``, ``webhook`` or ``trigger``)."""

    sid: str
    account_sid: str
    service_sid: str
    channel_sid: str
    type: str
    url: str
    # The keys set of url, method, filters, triggers, flow_sid and retry_count.
    configuration: dict[str, Any]
    date_created: str
    date_updated: str


class ChannelWebhookPage(Resource):
    webhooks: list[ChannelWebhookResource]
    meta: PageMeta


class InvitePage(Resource):
    """A channel's invites: Switchboard sends none, so the list is empty."""

    invites: list[dict[str, Any]]
    meta: PageMeta


class UserPage(Resource):
    """A service's Chat users: the users Conversations keeps (``schemas.conversation_users``),
    in Chat v2's words."""

    users: list[dict[str, Any]]
    meta: PageMeta


class RolePage(Resource):
    """A service's Chat roles: the roles Conversations keeps, in Chat v2's words."""

    roles: list[dict[str, Any]]
    meta: PageMeta


class BindingPage(Resource):
    """A service's push bindings: Switchboard keeps none, so the list is empty."""

    bindings: list[dict[str, Any]]
    meta: PageMeta
