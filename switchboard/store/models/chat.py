"""Programmable Chat tables: services, channels, members and messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class Service(SQLModel, table=True):
    sid: str = Field(primary_key=True, max_length=34)
    friendly_name: str
    # Messages (and their media and deliveries) older than this many days are deleted; None: the
    # deployment's default (SWITCHBOARD_RETENTION_DAYS), 0: kept forever.
    retention_days: int | None = None
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class Channel(SQLModel, table=True):
    sid: str = Field(primary_key=True, max_length=34)
    service_sid: str = Field(foreign_key="service.sid", index=True)
    friendly_name_enc: str | None = None
    unique_name: str | None = None
    attributes_enc: str
    type: str = "private"
    created_by: str = "system"
    flex_flow_sid: str | None = Field(default=None, index=True)
    channel_type: str = "chat"
    status: str = "ACTIVE"
    long_lived: bool = False
    # Keyed hash of the customer's address for channels a contact opened.
    contact_hash: str | None = Field(default=None, index=True)
    members_count: int = 0
    messages_count: int = 0
    last_message_index: int | None = None
    # The channel's webhooks (JSON list) once a caller changed them; None: those of its Flex Flow.
    webhooks_json: str | None = None
    # Whether a caller wrote the attributes (they then outlive a contact channel's close and reopen).
    attributes_written: bool = False
    # Conversations' own timers (seconds after the last activity; None: not set), and when they
    # count from (the last message, state change or timers set).
    timer_inactive: float | None = None
    timer_closed: float | None = None
    timers_from: datetime | None = None
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("service_sid", "unique_name"),)


class Member(SQLModel, table=True):
    sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(foreign_key="channel.sid")
    service_sid: str
    identity_enc: str
    identity_hash: str
    role_sid: str | None = None
    attributes_enc: str
    last_consumed_message_index: int | None = None
    last_consumption_timestamp: datetime | None = None
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("channel_sid", "identity_hash"),)


class Message(SQLModel, table=True):
    sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(foreign_key="channel.sid")
    service_sid: str
    index: int
    # Idempotency key: the provider's message id, the REST caller's idempotency token, or a key
    # minted where the message entered. Unique per service, so a retried webhook is stored once
    # even when it lands on a later channel of the same contact.
    message_key: str
    author_enc: str
    body_enc: str | None = None
    attributes_enc: str
    media_enc: str | None = None
    type: str = "text"
    # Its body or attributes were changed after it was sent (Chat v2 message update).
    was_edited: bool = False
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (
        UniqueConstraint("channel_sid", "index"),
        UniqueConstraint("service_sid", "message_key"),
    )
