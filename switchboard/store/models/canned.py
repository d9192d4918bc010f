"""Canned responses: a workspace's ready answers that agents pick in the desk's composer by a
``/shortcut`` (Switchboard's own resource; Twilio has none). The body is a Liquid template of
the business's own words (``{{customer.name}}``, ``{{agent.name}}``), not a customer's data,
so it is stored as written."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from switchboard.store.models.base import utcnow


class CannedResponse(SQLModel, table=True):
    __tablename__ = "canned_response"

    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(foreign_key="workspace.sid", index=True, max_length=34)
    # Only for agents of this queue when set; for the whole workspace otherwise.
    task_queue_sid: str | None = Field(default=None, max_length=34)
    friendly_name: str = Field(max_length=64)
    shortcut: str = Field(max_length=32)
    body: str
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("workspace_sid", "shortcut"),)
