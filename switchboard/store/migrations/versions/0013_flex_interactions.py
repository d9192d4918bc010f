"""Flex v1 Interactions: interactions (with their one channel) and their invites.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flex_interaction",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_type", AutoString(length=16), nullable=False),
        sa.Column("channel_status", AutoString(length=16), nullable=False),
        sa.Column("initiated_by", AutoString(length=16), nullable=False),
        sa.Column("conversation_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_enc", AutoString(), nullable=False),
        sa.Column("interaction_context_sid", AutoString(length=34), nullable=True),
        sa.Column("webhook_ttid", AutoString(length=256), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("flex_interaction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flex_interaction_channel_sid"), ["channel_sid"], unique=True)
        batch_op.create_index(batch_op.f("ix_flex_interaction_conversation_sid"), ["conversation_sid"], unique=False)
    op.create_table(
        "flex_interaction_invite",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("interaction_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("task_sid", AutoString(length=34), nullable=False),
        sa.Column("workspace_sid", AutoString(length=34), nullable=False),
        sa.Column("routing_enc", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("flex_interaction_invite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flex_interaction_invite_channel_sid"), ["channel_sid"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flex_interaction_invite_interaction_sid"), ["interaction_sid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_flex_interaction_invite_task_sid"), ["task_sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flex_interaction_invite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flex_interaction_invite_task_sid"))
        batch_op.drop_index(batch_op.f("ix_flex_interaction_invite_interaction_sid"))
        batch_op.drop_index(batch_op.f("ix_flex_interaction_invite_channel_sid"))
    op.drop_table("flex_interaction_invite")
    with op.batch_alter_table("flex_interaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flex_interaction_conversation_sid"))
        batch_op.drop_index(batch_op.f("ix_flex_interaction_channel_sid"))
    op.drop_table("flex_interaction")
