"""Post-chat ratings: what a web chat customer thought of one conversation (a task of their
channel), 1 to 5 with an optional comment. One per task, so a resent rating is stored once. The
comment is the customer's own text: encrypted at rest, and emptied when the channel is erased (the
number stays for the statistics)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class ChatRating(SQLModel, table=True):
    __tablename__ = "chat_rating"

    task_sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(index=True, max_length=34)
    workspace_sid: str = Field(index=True, max_length=34)
    rating: int
    comment_enc: str | None = None
    date_created: datetime = Field(default_factory=utcnow, index=True)
