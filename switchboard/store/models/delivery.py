"""Provider delivery of outbound messages: one row per message a provider was asked to carry."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class MessageDelivery(SQLModel, table=True):
    """Where an outbound message stands with its provider. ``provider_sid`` (Twilio's ``SM…``)
    is recorded once the provider took the message, so a retried activity never sends it twice;
    status callbacks find the row by it."""

    __tablename__ = "message_delivery"

    message_sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(index=True, max_length=34)
    provider: str
    provider_sid: str | None = Field(default=None, unique=True, index=True)
    # Twilio's MessageStatus: queued, sending, sent, delivered, read, failed, undelivered.
    status: str = "queued"
    error_code: int | None = None
    error_message: str | None = None
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)
