"""Conversations' address configurations as ``api.routes.address_configurations`` answers them
(Twilio's ``conversations.v1.configuration_address``)."""

from __future__ import annotations

from typing import Any

from api.schemas.resources import Resource
from api.twilio_shape import PageMeta


class AddressConfiguration(Resource):
    sid: str
    account_sid: str
    # sms, whatsapp or messenger.
    type: str
    address: str
    friendly_name: str | None
    # enabled and type; conversation_service_sid; for webhook webhook_url, webhook_method,
    # webhook_filters; for studio studio_flow_sid, studio_retry_count (as Twilio renders it).
    auto_creation: dict[str, Any]
    date_created: str
    date_updated: str
    url: str
    address_country: str | None


class AddressConfigurationPage(Resource):
    address_configurations: list[AddressConfiguration]
    meta: PageMeta
