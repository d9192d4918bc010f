"""API keys: ``SK...`` SIDs with a secret, used like the account's credentials (HTTP Basic) on the
REST API. Only a keyed hash of the secret is stored (``store.api_keys``); deleting the row revokes
the key at once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    sid: str = Field(primary_key=True, max_length=34)
    friendly_name: str | None = Field(default=None, max_length=64)
    secret_hash: str = Field(max_length=64)
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)
