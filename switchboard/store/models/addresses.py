"""Conversations' address configurations: an address of the business (an SMS number, a WhatsApp
sender, a Messenger page) whose new customers' messages auto-create a conversation, handed to a
Studio flow, a webhook or nothing. The Conversations-era counterpart of a Flex Flow."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class AddressConfiguration(SQLModel, table=True):
    __tablename__ = "address_configuration"

    sid: str = Field(primary_key=True, max_length=34)
    # sms, whatsapp or messenger (Twilio's address types Switchboard has a provider for).
    type: str
    # The business's address, as Twilio writes it (``+1555…``, ``whatsapp:+1555…``,
    # ``messenger:PAGE_ID``): public, so stored in clear and matched directly; one configuration
    # per address.
    address: str = Field(unique=True, max_length=256)
    friendly_name: str | None = None
    address_country: str | None = None
    # ``auto_creation`` as Twilio renders it (JSON object: enabled, type, conversation_service_sid,
    # webhook_url, webhook_method, webhook_filters, studio_flow_sid, studio_retry_count).
    auto_creation_json: str = "{}"
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)
