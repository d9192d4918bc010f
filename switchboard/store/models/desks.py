"""Open agent desks: one row per agent socket, on whichever API replica holds it, so "has this
agent still a desk open?" is answered the same from every replica. A socket renews its row's lease
while it is open and ends it when it closes; a replica that dies without closing leaves a lease
that simply runs out. The workspace router reads these rows (``store.desks``) to move agents
whose last desk has been gone for the grace period."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class DeskConnection(SQLModel, table=True):
    __tablename__ = "desk_connection"

    id: str = Field(primary_key=True, max_length=32)
    workspace_sid: str = Field(index=True, max_length=34)
    worker_sid: str = Field(max_length=34)
    # Open: when its lease runs out unless renewed. Closed: when it closed.
    live_until: datetime
