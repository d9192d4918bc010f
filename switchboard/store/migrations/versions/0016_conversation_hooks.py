"""Conversations' pre-event and post-event webhooks, the account's and each service's.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_hook_config",
        sa.Column("scope", AutoString(length=34), nullable=False),
        sa.Column("method", AutoString(length=8), nullable=False),
        sa.Column("filters_json", AutoString(), nullable=False),
        sa.Column("pre_webhook_url", AutoString(), nullable=True),
        sa.Column("post_webhook_url", AutoString(), nullable=True),
        sa.Column("target", AutoString(length=16), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )


def downgrade() -> None:
    op.drop_table("conversation_hook_config")
