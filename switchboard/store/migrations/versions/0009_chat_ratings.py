"""Post-chat ratings: one per task of a web chat, 1 to 5 with an encrypted comment.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_rating",
        sa.Column("task_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment_enc", AutoString(), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_sid"),
    )
    with op.batch_alter_table("chat_rating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_rating_channel_sid"), ["channel_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_rating_workspace_sid"), ["workspace_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_rating_date_created"), ["date_created"], unique=False)


def downgrade() -> None:
    op.drop_table("chat_rating")
