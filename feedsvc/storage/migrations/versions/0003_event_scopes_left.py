"""events.scopes_left: the category, tag and author feeds a post left with this change;
deliveries of kind "hub-ping" for the publish pings to external hubs (they were "websub")

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


deliveries = sa.table(
    "deliveries",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("subscription_id", sa.Integer),
    sa.column("body", sa.LargeBinary),
)
PING_BODY = b"hub.mode=publish&"  # a ping's form body; a distribution's is a feed document


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes_left", sa.JSON(), nullable=True))
    # A queued ping must not be taken for a distribution whose subscription has gone (those are
    # cancelled now): the two differ by their body, since both have no subscription_id.
    conn = op.get_bind()
    unsubscribed = sa.select(deliveries.c.id, deliveries.c.body).where(
        deliveries.c.kind == "websub", deliveries.c.subscription_id.is_(None)
    )
    pings = [row.id for row in conn.execute(unsubscribed) if bytes(row.body).startswith(PING_BODY)]
    if pings:
        conn.execute(
            sa.update(deliveries).where(deliveries.c.id.in_(pings)).values(kind="hub-ping")
        )


def downgrade() -> None:
    op.execute(sa.update(deliveries).where(deliveries.c.kind == "hub-ping").values(kind="websub"))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("scopes_left")
