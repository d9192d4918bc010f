"""Canned responses: a workspace's ready answers for the desk's composer (Switchboard's own).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "canned_response",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("task_queue_sid", AutoString(length=34), nullable=True),
        sa.Column("friendly_name", AutoString(length=64), nullable=False),
        sa.Column("shortcut", AutoString(length=32), nullable=False),
        sa.Column("body", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_sid"], ["workspace.sid"]),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("workspace_sid", "shortcut"),
    )
    op.create_index(op.f("ix_canned_response_workspace_sid"), "canned_response", ["workspace_sid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_canned_response_workspace_sid"), table_name="canned_response")
    op.drop_table("canned_response")
