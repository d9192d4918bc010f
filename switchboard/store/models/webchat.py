"""What the web chat's customers read and share: the customer's feed of a web channel, and
uploaded media (images and files sent in chats)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class CustomerFeedItem(SQLModel, table=True):
    """One event for the customer of a web channel. ``id`` is the sequence the customer's socket
    resumes from, as ``AgentFeedItem.id`` is for agents."""

    __tablename__ = "customer_feed"

    id: int | None = Field(default=None, primary_key=True)
    channel_sid: str = Field(index=True, max_length=34)
    kind: str
    payload_enc: str
    date_created: datetime = Field(default_factory=utcnow)


class MediaObject(SQLModel, table=True):
    """An uploaded image or file, encrypted, reachable by the channel's customer and agents."""

    __tablename__ = "media"

    sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(index=True, max_length=34)
    # Who uploaded it: a customer identity or a worker SID (encrypted: it may be a name).
    uploaded_by_enc: str
    content_type: str
    filename_enc: str
    size: int
    # The bytes, base64 then encrypted.
    content_enc: str
    date_created: datetime = Field(default_factory=utcnow)
