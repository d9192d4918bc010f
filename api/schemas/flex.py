"""Flex v1 resources as ``api.routes.flex_flows``, ``flex_channels`` and ``flex_web_channels``
answer them (Twilio's Flex API shapes)."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class FlexFlowResource(Resource):
    account_sid: str
    date_created: str
    date_updated: str
    sid: str
    friendly_name: str
    chat_service_sid: str
    channel_type: str
    contact_identity: str | None
    enabled: bool
    integration_type: str | None
    # The integration type's fields (flow_sid, url, workspace_sid, ...), with their defaults.
    integration: dict[str, Any]
    long_lived: bool
    janitor_enabled: bool
    url: str


class FlexFlowPage(Resource):
    flex_flows: list[FlexFlowResource]
    meta: PageMeta


class IntegrationFailureResource(Resource):
    """Switchboard's own: a message an ``external`` integration could not deliver."""

    account_sid: str
    flex_flow_sid: str | None
    channel_sid: str
    message_sid: str
    url: str
    attempts: int
    error: str
    date_created: str


class IntegrationFailurePage(Resource):
    integration_failures: list[IntegrationFailureResource]
    meta: PageMeta


class FlexChannelResource(Resource):
    account_sid: str
    flex_flow_sid: str
    sid: str
    user_sid: str | None
    # The task of the channel's current interaction, if it has one.
    task_sid: str | None
    url: str
    date_created: str
    date_updated: str


class FlexChannelPage(Resource):
    flex_chat_channels: list[FlexChannelResource]
    meta: PageMeta


class WebChannelResource(Resource):
    account_sid: str
    flex_flow_sid: str
    sid: str
    url: str
    date_created: str
    date_updated: str


class WebChannelPage(Resource):
    flex_chat_channels: list[WebChannelResource]
    meta: PageMeta
