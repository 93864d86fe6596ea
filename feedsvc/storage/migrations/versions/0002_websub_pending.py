"""websub_pending: subscription requests awaiting verification of intent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 05:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.storage.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "websub_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("callback", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("lease_seconds", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", feedsvc.storage.models.UTCDateTime(), nullable=False),
        sa.Column("created_at", feedsvc.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("websub_pending", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_websub_pending_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("websub_pending", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_websub_pending_next_attempt_at"))
    op.drop_table("websub_pending")
