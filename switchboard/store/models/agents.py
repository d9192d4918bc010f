"""What the agent desk reads: which agents work on which channel, and each agent's feed of events
(reservations, messages of their channels, typing, read horizons) in sequence order."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class ChannelAgent(SQLModel, table=True):
    """An agent (worker) who joined a channel by accepting its task."""

    __tablename__ = "channel_agent"

    channel_sid: str = Field(primary_key=True, max_length=34)
    worker_sid: str = Field(primary_key=True, max_length=34, index=True)
    date_created: datetime = Field(default_factory=utcnow)


class AgentFeedItem(SQLModel, table=True):
    """One event for one agent. ``id`` is the sequence an agent's socket resumes from: a client
    that reconnects with the last ``id`` it saw gets exactly the items after it."""

    __tablename__ = "agent_feed"

    id: int | None = Field(default=None, primary_key=True)
    worker_sid: str = Field(index=True, max_length=34)
    kind: str
    channel_sid: str | None = None
    # JSON of the event's data: message bodies, customer names, so encrypted.
    payload_enc: str
    date_created: datetime = Field(default_factory=utcnow)
