"""Flex v1 Interactions: an interaction binds one conversation (its single interaction channel,
``UO``) to TaskRouter. Each invite (``KG``) is one task on that channel (the interaction's first
one, a transfer, an agent re-invited to a parked interaction). Participants are not kept here:
customers are the conversation's participants, agents the reservations accepted on the invites'
tasks (``api.interactions``). No foreign key to the channel: deleting a conversation leaves its interactions readable, as Twilio's outlive theirs."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class FlexInteraction(SQLModel, table=True):
    __tablename__ = "flex_interaction"

    sid: str = Field(primary_key=True, max_length=34)
    # The interaction's one channel (Twilio serves a single channel per interaction).
    channel_sid: str = Field(index=True, unique=True, max_length=34)
    # sms, whatsapp, web, chat, messenger (the media type, not the task channel).
    channel_type: str = Field(max_length=16)
    # setup, active, failed, closed, inactive (Twilio's channel status enum).
    channel_status: str = Field(default="active", max_length=16)
    initiated_by: str = Field(default="customer", max_length=16)
    # The conversation (chat channel) the interaction channel is bound to.
    conversation_sid: str = Field(index=True, max_length=34)
    # The Channel object as the caller gave it (JSON, encrypted: it may hold addresses).
    channel_enc: str
    interaction_context_sid: str | None = Field(default=None, max_length=34)
    webhook_ttid: str | None = Field(default=None, max_length=256)
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class FlexInteractionInvite(SQLModel, table=True):
    __tablename__ = "flex_interaction_invite"

    sid: str = Field(primary_key=True, max_length=34)
    interaction_sid: str = Field(index=True, max_length=34)
    channel_sid: str = Field(index=True, max_length=34)
    # The invite's task (created in ``workspace_sid``'s router).
    task_sid: str = Field(index=True, max_length=34)
    workspace_sid: str = Field(max_length=34)
    # The Routing object as the caller gave it (JSON, encrypted: its attributes may hold PII).
    routing_enc: str
    date_created: datetime = Field(default_factory=utcnow)
