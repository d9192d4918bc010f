"""Conversations' pre-event and post-event webhooks: the account's (``/v1/Configuration/Webhooks``,
scope ``account``) and each conversation service's (``/v1/Services/{IS}/Configuration/Webhooks``,
scope the service SID). Conversation-scoped webhooks are the channel's own (``Channel.webhooks_json``,
shared with Chat v2's channel webhooks)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow

ACCOUNT_SCOPE = "account"


class ConversationHookConfig(SQLModel, table=True):
    __tablename__ = "conversation_hook_config"

    # ``account``, or a chat service's SID.
    scope: str = Field(primary_key=True, max_length=34)
    method: str = Field(default="POST", max_length=8)
    # JSON list of event names (onMessageAdd, onMessageAdded, ...).
    filters_json: str = "[]"
    pre_webhook_url: str | None = None
    post_webhook_url: str | None = None
    # The account's ``Target``: webhook or flex.
    target: str = Field(default="webhook", max_length=16)
    date_updated: datetime = Field(default_factory=utcnow)
