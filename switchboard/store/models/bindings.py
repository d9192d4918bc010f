"""SMS and WhatsApp participants of conversations (Conversations v1 ``MessagingBinding``) and the
delivery receipts of the messages sent to them.

A binding ties a participant (a member row, whose identity is the address) to the business's proxy
address: the pair routes the customer's inbound messages to the conversation, so it is held by one
live conversation at a time (the unique pair; a binding left by a closed or deleted conversation
is released when the pair is bound again). The address is kept as the store keeps contacts'
addresses: encrypted, found by its keyed hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class ConversationBinding(SQLModel, table=True):
    __tablename__ = "conversation_binding"

    participant_sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(index=True, max_length=34)
    # Twilio's binding type: sms or whatsapp.
    binding_type: str
    address_enc: str
    address_hash: str = Field(max_length=64)
    # The business's own number (a Flex Flow's contact identity), as the operator configured it.
    proxy_address: str
    date_created: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("address_hash", "proxy_address"),)


class DeliveryReceipt(SQLModel, table=True):
    """One message sent to one bound participant (Twilio's ``DY`` receipt): ``provider_sid`` is
    recorded once the provider took it, so a retried send never sends it twice; the provider's
    status callbacks move ``status`` forward."""

    __tablename__ = "delivery_receipt"

    sid: str = Field(primary_key=True, max_length=34)
    message_sid: str = Field(index=True, max_length=34)
    channel_sid: str = Field(index=True, max_length=34)
    participant_sid: str = Field(max_length=34)
    provider_sid: str | None = Field(default=None, unique=True, index=True)
    # pending until the provider answers, then Twilio's MessageStatus.
    status: str = "pending"
    error_code: int | None = None
    error_message: str | None = None
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)
