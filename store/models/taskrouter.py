"""TaskRouter tables: the routing tasks flows and integrations create."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from store.models.base import utcnow


class Task(SQLModel, table=True):
    sid: str = Field(primary_key=True, max_length=34)
    workspace_sid: str = Field(index=True, max_length=34)
    workflow_sid: str = Field(max_length=34)
    task_channel_unique_name: str
    # JSON text: names, addresses and pre-engagement data live here, so it is encrypted.
    attributes_enc: str
    assignment_status: str = "pending"  # pending | reserved | assigned | wrapping | completed | canceled
    reason: str | None = None
    priority: int = 0
    timeout: int = 86400
    # The chat channel this task is about (Switchboard's link; Flex keeps it in the attributes).
    channel_sid: str | None = Field(default=None, index=True)
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)
