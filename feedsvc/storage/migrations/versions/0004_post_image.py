"""posts.image: a post's cover image (an absolute URL), from front matter, the push API or an
upstream entry

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 21:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("image")
