"""Business hours: a workspace's schedule (time zone, weekly hours, holidays, away message).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "business_hours",
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("time_zone", AutoString(), nullable=False),
        sa.Column("weekly_hours_json", AutoString(), nullable=False),
        sa.Column("holidays_json", AutoString(), nullable=False),
        sa.Column("away_message", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_sid"], ["workspace.sid"]),
        sa.PrimaryKeyConstraint("workspace_sid"),
    )


def downgrade() -> None:
    op.drop_table("business_hours")
