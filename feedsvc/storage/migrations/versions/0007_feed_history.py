"""feed_versions: the recent versions of each feed page, for RFC 3229 feed deltas

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.storage.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("etag", sa.String(length=100), nullable=False),
        sa.Column("gzip_etag", sa.String(length=100), nullable=False),
        sa.Column("br_etag", sa.String(length=100), nullable=True),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("created_at", feedsvc.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url", "etag"),
    )
    with op.batch_alter_table("feed_versions", schema=None) as batch_op:
        batch_op.create_index("ix_feed_versions_url", ["url"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_versions_url")
    op.drop_table("feed_versions")
