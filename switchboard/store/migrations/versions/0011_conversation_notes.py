"""Internal notes on conversations (encrypted like message bodies), and an index on the contact
hash of channels, so a contact's earlier conversations are found by its keyed hash.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_note",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("channel_sid", AutoString(length=34), nullable=False),
        sa.Column("service_sid", AutoString(length=34), nullable=False),
        sa.Column("worker_sid", AutoString(length=34), nullable=True),
        sa.Column("author_enc", AutoString(), nullable=False),
        sa.Column("body_enc", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["channel_sid"], ["channel.sid"]),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("conversation_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversation_note_channel_sid"), ["channel_sid"], unique=False)
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_contact_hash"), ["contact_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_contact_hash"))
    with op.batch_alter_table("conversation_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_note_channel_sid"))
    op.drop_table("conversation_note")
