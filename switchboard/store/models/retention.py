"""What retention and erasure did, kept for audits: no message text, no address (a keyed hash)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from switchboard.store.models.base import utcnow


class Erasure(SQLModel, table=True):
    """A request to erase one contact's data across channels, carried out by a workflow."""

    sid: str = Field(primary_key=True, max_length=34)
    # Keyed hash of the address whose data goes (the address itself is never kept).
    address_hash: str = Field(max_length=64)
    requested_by: str = Field(max_length=64)
    status: str = "in-progress"  # in-progress | completed | failed
    # JSON: how many rows of each kind went.
    counts: str = "{}"
    date_created: datetime = Field(default_factory=utcnow)
    date_updated: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """One retention sweep of a service, or one erasure."""

    __tablename__ = "audit_event"

    sid: str = Field(primary_key=True, max_length=34)
    event_type: str = Field(index=True)  # retention.swept | contact.erased
    actor: str = Field(max_length=64)
    # What it concerned: a service SID, or an address's keyed hash.
    subject: str = Field(max_length=64)
    # JSON: the cutoff and counts of a sweep, the counts of an erasure.
    details: str = "{}"
    date_created: datetime = Field(default_factory=utcnow, index=True)
