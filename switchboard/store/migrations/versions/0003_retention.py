"""Retention and erasure: services' RetentionDays, erasure requests and the audit trail.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("event_type", AutoString(), nullable=False),
        sa.Column("actor", AutoString(length=64), nullable=False),
        sa.Column("subject", AutoString(length=64), nullable=False),
        sa.Column("details", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_date_created"), ["date_created"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_event_type"), ["event_type"], unique=False)

    op.create_table(
        "erasure",
        sa.Column("sid", AutoString(length=34), nullable=False),
        sa.Column("address_hash", AutoString(length=64), nullable=False),
        sa.Column("requested_by", AutoString(length=64), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("counts", AutoString(), nullable=False),
        sa.Column("date_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("date_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_column("retention_days")

    op.drop_table("erasure")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_event_type"))
        batch_op.drop_index(batch_op.f("ix_audit_event_date_created"))

    op.drop_table("audit_event")
