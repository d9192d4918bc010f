"""Flex tables: Flex Flows (how an address maps to a chat service and an integration) and contacts
(which channel a customer address currently talks on)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class FlexFlow(SQLModel, table=True):
    __tablename__ = "flex_flow"

    sid: str = Field(primary_key=True, max_length=34)
    friendly_name: str
    chat_service_sid: str = Field(foreign_key="service.sid", index=True)
    channel_type: str
    # The business address customers write to (a Twilio number, a WhatsApp sender, a page id):
    # public, so stored in clear and matched directly.
    contact_identity: str | None = Field(default=None, index=True)
    enabled: bool = True
    integration_type: str | None = None
    integration_json: str = "{}"
    long_lived: bool = False
    janitor_enabled: bool = False
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class Contact(SQLModel, table=True):
    """Which channel a customer address currently talks on, per Flex Flow.

    ``sequence`` counts the contact's channels; channel SIDs of contacts are derived from it, so
    concurrent webhooks for a new contact agree on one channel without a lock.
    """

    flex_flow_sid: str = Field(primary_key=True, max_length=34)
    address_hash: str = Field(primary_key=True, max_length=64)
    address_enc: str
    current_channel_sid: str
    sequence: int = 0
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class IntegrationFailure(SQLModel, table=True):
    """A message an ``external`` integration could not deliver after all its retries."""

    __tablename__ = "integration_failure"

    id: int | None = Field(default=None, primary_key=True)
    flex_flow_sid: str | None = Field(default=None, index=True)
    channel_sid: str
    message_sid: str
    url: str
    attempts: int
    error: str
    date_created: datetime = Field(default_factory=utcnow)
