"""Conversations' SMS and WhatsApp participants (bindings) and their messages' delivery receipts.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_binding",
        sa.Column("participant_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("binding_type", AutoString(), nullable=False),
        sa.Column("address_enc", AutoString(), nullable=False),
        sa.Column("address_hash", AutoString(length=64), nullable=False),
        sa.Column("proxy_address", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("participant_sid"),
        sa.UniqueConstraint("address_hash", "proxy_address"),
    )
    op.create_index(op.f("ix_conversation_binding_channel_sid"), "conversation_binding", ["channel_sid"], unique=False)
    op.create_table(
        "delivery_receipt",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("message_sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("participant_sid", AutoString(length=34), nullable=False),
        sa.Column("provider_sid", AutoString(), nullable=True),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", AutoString(), nullable=True),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_delivery_receipt_message_sid"), "delivery_receipt", ["message_sid"], unique=False)
    op.create_index(op.f("ix_delivery_receipt_channel_sid"), "delivery_receipt", ["channel_sid"], unique=False)
    op.create_index(op.f("ix_delivery_receipt_provider_sid"), "delivery_receipt", ["provider_sid"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_receipt_provider_sid"), table_name="delivery_receipt")
    op.drop_index(op.f("ix_delivery_receipt_channel_sid"), table_name="delivery_receipt")
    op.drop_index(op.f("ix_delivery_receipt_message_sid"), table_name="delivery_receipt")
    op.drop_table("delivery_receipt")
    op.drop_index(op.f("ix_conversation_binding_channel_sid"), table_name="conversation_binding")
    op.drop_table("conversation_binding")
