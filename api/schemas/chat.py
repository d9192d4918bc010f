"""Chat v2 resources as ``api.routes.chat`` answers them (Twilio's Programmable Chat shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.twilio_shape import PageMeta


class ServiceLimits(BaseModel):
    channel_members: int
    user_channels: int


class ServiceMedia(BaseModel):
    size_limit_mb: int
    compatibility_message: str


class ServiceLinks(BaseModel):
    channels: str
    users: str
    roles: str
    bindings: str


class ServiceResource(BaseModel):
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


class ServicePage(BaseModel):
    services: list[ServiceResource]
    meta: PageMeta


class ChannelLinks(BaseModel):
    members: str
    messages: str
    invites: str
    webhooks: str
    # The channel's latest message (null before the first).
    last_message: str | None


class ChannelResource(BaseModel):
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


class ChannelPage(BaseModel):
    channels: list[ChannelResource]
    meta: PageMeta


class MemberResource(BaseModel):
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


class MemberPage(BaseModel):
    members: list[MemberResource]
    meta: PageMeta


class MessageResource(BaseModel):
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


class MessagePage(BaseModel):
    messages: list[MessageResource]
    meta: PageMeta
