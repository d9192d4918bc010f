"""Conversations v1 (and Chat v2) users and roles. A user is an identity of a chat service: made
by a REST caller or implicitly when the identity joins a channel; its identity is encrypted and
found by its keyed hash, as a member's is. Roles are a service's named permission lists; each
service has Twilio's four defaults (``switchboard.store.conversation_users``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class ConversationUser(SQLModel, table=True):
    __tablename__ = "conversation_user"

    sid: str = Field(primary_key=True, max_length=34)
    service_sid: str = Field(foreign_key="service.sid", max_length=34)
    identity_enc: str
    identity_hash: str
    friendly_name_enc: str | None = None
    attributes_enc: str
    role_sid: str | None = Field(default=None, max_length=34)
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)

    __table_args__ = (UniqueConstraint("service_sid", "identity_hash"),)


class ConversationRole(SQLModel, table=True):
    __tablename__ = "conversation_role"

    sid: str = Field(primary_key=True, max_length=34)
    service_sid: str = Field(foreign_key="service.sid", index=True, max_length=34)
    friendly_name: str = Field(max_length=64)
    # conversation | service (Conversations' words; Chat v2 says channel | deployment).
    type: str = Field(max_length=16)
    # JSON list of permission names.
    permissions_json: str
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class UserConversationSetting(SQLModel, table=True):
    """A user's own setting on one of its conversations (Twilio's ``NotificationLevel``)."""

    __tablename__ = "user_conversation_setting"

    user_sid: str = Field(primary_key=True, max_length=34)
    channel_sid: str = Field(primary_key=True, max_length=34)
    notification_level: str = Field(default="default", max_length=16)
