"""posts.render_version: the renderer version that made a post's HTML from its Markdown, so a new
renderer re-renders stored posts (posts.rerender) without touching their content hash or events

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for every stored post: rendered before versions were recorded, so rendered again.
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("render_version", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("render_version")
