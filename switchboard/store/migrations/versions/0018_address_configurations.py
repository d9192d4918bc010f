"""Conversations' address configurations.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "address_configuration",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("type", AutoString(), nullable=False),
        sa.Column("address", AutoString(length=256), nullable=False),
        sa.Column("friendly_name", AutoString(), nullable=True),
        sa.Column("address_country", AutoString(), nullable=True),
        sa.Column("auto_creation_json", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("address"),
    )


def downgrade() -> None:
    op.drop_table("address_configuration")
