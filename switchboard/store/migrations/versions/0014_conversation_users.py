"""Conversations users and roles: a service's users (identity encrypted, found by its keyed hash),
its roles, and a user's notification level on a conversation.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_user",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("service_sid", AutoString(length=34), nullable=False),
        sa.Column("identity_enc", AutoString(), nullable=False),
        sa.Column("identity_hash", AutoString(), nullable=False),
        sa.Column("friendly_name_enc", AutoString(), nullable=True),
        sa.Column("attributes_enc", AutoString(), nullable=False),
        sa.Column("role_sid", AutoString(length=34), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["service_sid"], ["service.sid"]),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("service_sid", "identity_hash"),
    )
    op.create_table(
        "conversation_role",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("service_sid", AutoString(length=34), nullable=False),
        sa.Column("friendly_name", AutoString(length=64), nullable=False),
        sa.Column("type", AutoString(length=16), nullable=False),
        sa.Column("permissions_json", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["service_sid"], ["service.sid"]),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_conversation_role_service_sid"), "conversation_role", ["service_sid"], unique=False)
    op.create_table(
        "user_conversation_setting",
        sa.Column("user_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("notification_level", AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint("user_sid", "channel_sid"),
    )


def downgrade() -> None:
    op.drop_table("user_conversation_setting")
    op.drop_index(op.f("ix_conversation_role_service_sid"), table_name="conversation_role")
    op.drop_table("conversation_role")
    op.drop_table("conversation_user")
