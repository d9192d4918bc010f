"""Open agent desks (one row per agent socket, with a lease), for the router's desk presence.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_connection",
        sa.Column("id", AutoString(length=32), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("worker_sid", AutoString(length=34), nullable=False),
        sa.Column("live_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desk_connection", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_connection_workspace_sid"), ["workspace_sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("desk_connection", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_connection_workspace_sid"))
    op.drop_table("desk_connection")
