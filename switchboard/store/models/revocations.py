"""Token revocations: "every session of this identity, or every session at all, that began before
``revoked_before`` is over". Kept in the store so every API replica sees a revocation from its
next request on. An identity is personal data: its row is keyed by a keyed hash of it
(``store.revocations``), never the identity itself. One row per scope, moved forward by each new
revocation, so the table stays as small as the number of identities ever revoked."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class TokenRevocation(SQLModel, table=True):
    __tablename__ = "token_revocation"

    # ``all``, or the keyed hash of an identity (64 hex digits, so never ``all``).
    scope: str = Field(primary_key=True, max_length=64)
    revoked_before: datetime
    date_updated: datetime = Field(default_factory=utcnow)
