"""scope_posts, scope_stats and renditions: feed pages at a cost that does not grow with the
corpus, and built representations shared by every worker and instance; backfilled from posts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import feedsvc.storage.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_DT = feedsvc.storage.models.UTCDateTime

posts = sa.table(
    "posts",
    sa.column("id", sa.Integer),
    sa.column("slug", sa.String),
    sa.column("author_slug", sa.String),
    sa.column("published", sa.DateTime),
    sa.column("updated", sa.DateTime),
    sa.column("visible", sa.Boolean),
    sa.column("removed", sa.Boolean),
)
post_categories = sa.table("post_categories", sa.column("post_id"), sa.column("category_id"))
post_tags = sa.table("post_tags", sa.column("post_id"), sa.column("tag_id"))
categories = sa.table("categories", sa.column("id"), sa.column("slug"))
tags = sa.table("tags", sa.column("id"), sa.column("slug"))
scope_posts = sa.table(
    "scope_posts",
    sa.column("kind"),
    sa.column("key"),
    sa.column("published"),
    sa.column("post_id"),
)
scope_stats = sa.table(
    "scope_stats",
    sa.column("kind"),
    sa.column("key"),
    sa.column("visible_count"),
    sa.column("last_change"),
    sa.column("version"),
)


def upgrade() -> None:
    op.create_table(
        "scope_posts",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("published", UTC_DT(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("kind", "key", "published", "post_id"),
    )
    with op.batch_alter_table("scope_posts", schema=None) as batch_op:
        batch_op.create_index("ix_scope_posts_post", ["post_id"], unique=False)
    op.create_table(
        "scope_stats",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("visible_count", sa.Integer(), nullable=False),
        sa.Column("last_change", UTC_DT(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    op.create_table(
        "renditions",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("build", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("etag", sa.String(length=100), nullable=False),
        sa.Column("last_modified", UTC_DT(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "format", "page", "version", "encoding"),
    )
    backfill()


def _memberships() -> list[sa.Select[tuple[object, ...]]]:
    """(kind, key, post columns) for every scope of every post, as the models keep them."""
    cols = (posts.c.id, posts.c.published, posts.c.updated, posts.c.visible, posts.c.removed)
    site = sa.select(sa.literal("").label("kind"), sa.literal("").label("key"), *cols)
    own = sa.select(sa.literal("posts").label("kind"), posts.c.slug.label("key"), *cols)
    cats = sa.select(sa.literal("categories").label("kind"), categories.c.slug.label("key"), *cols)
    cats = cats.select_from(
        posts.join(post_categories, post_categories.c.post_id == posts.c.id).join(
            categories, categories.c.id == post_categories.c.category_id
        )
    )
    tgs = sa.select(sa.literal("tags").label("kind"), tags.c.slug.label("key"), *cols)
    tgs = tgs.select_from(
        posts.join(post_tags, post_tags.c.post_id == posts.c.id).join(
            tags, tags.c.id == post_tags.c.tag_id
        )
    )
    authors = sa.select(
        sa.literal("authors").label("kind"), posts.c.author_slug.label("key"), *cols
    )
    authors = authors.where(posts.c.author_slug.is_not(None))
    return [site, own.where(posts.c.visible), cats, tgs, authors]


def backfill() -> None:
    """Scope values of an existing database; Last-Modified as it was (visible or removed)."""
    conn = op.get_bind()
    for query in _memberships():
        member = query.subquery()
        conn.execute(
            sa.insert(scope_posts).from_select(
                ["kind", "key", "published", "post_id"],
                sa.select(member.c.kind, member.c.key, member.c.published, member.c.id).where(
                    member.c.visible
                ),
            )
        )
        counted = sa.select(
            member.c.kind,
            member.c.key,
            sa.func.sum(sa.case((member.c.visible, 1), else_=0)),
            sa.func.max(member.c.updated),
            sa.literal(1),
        ).where(sa.or_(member.c.visible, member.c.removed))
        conn.execute(
            sa.insert(scope_stats).from_select(
                ["kind", "key", "visible_count", "last_change", "version"],
                counted.group_by(member.c.kind, member.c.key),
            )
        )


def downgrade() -> None:
    op.drop_table("renditions")
    op.drop_table("scope_stats")
    with op.batch_alter_table("scope_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_scope_posts_post")
    op.drop_table("scope_posts")
