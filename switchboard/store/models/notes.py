"""Internal notes: what agents and supervisors write on a conversation for each other. A note is
not a chat message: it has its own table, so nothing that carries messages (the customer's
socket, provider deliveries, channel webhooks, Studio, the Chat REST API) ever reads one."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class ConversationNote(SQLModel, table=True):
    __tablename__ = "conversation_note"

    sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(foreign_key="channel.sid", index=True, max_length=34)
    service_sid: str = Field(max_length=34)
    # The worker who wrote it (None for an operator's admin token without a worker).
    worker_sid: str | None = Field(default=None, max_length=34)
    author_enc: str
    body_enc: str
    date_created: datetime = Field(default_factory=utcnow)
