"""Conversations' own timers on a channel (``Timers.Inactive``, ``Timers.Closed``) and when they
count from; a channel's status may now also be ``CLOSED`` (a plain string column, no change).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timer_inactive", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("timer_closed", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("timers_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel", schema=None) as batch_op:
        batch_op.drop_column("timers_from")
        batch_op.drop_column("timer_closed")
        batch_op.drop_column("timer_inactive")
