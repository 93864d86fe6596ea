"""SQLAlchemy 2.x typed models. Datetimes are stored as UTC and always handed out aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and returns them aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


post_categories = Table(
    "post_categories",
    Base.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
)
post_tags = Table(
    "post_tags",
    Base.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("source", "external_key", name="uq_posts_source_key"),
        Index("ix_posts_visible_published", "visible", "published", "id"),
        Index("ix_posts_author_slug", "author_slug"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(500), unique=True)  # fixed at first sight
    source: Mapped[str] = mapped_column(String(200))
    external_key: Mapped[str] = mapped_column(String(1000))
    slug: Mapped[str] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(300))
    author_slug: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)  # external URL, when the post has one
    image: Mapped[str | None] = mapped_column(Text)  # cover image, an absolute URL
    language: Mapped[str | None] = mapped_column(String(35))
    markdown: Mapped[str | None] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    summary_explicit: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    # RENDER_VERSION of the renderer that made content_html from markdown (None: not rendered)
    render_version: Mapped[str | None] = mapped_column(String(16))
    published: Mapped[datetime] = mapped_column(UTCDateTime())
    updated: Mapped[datetime] = mapped_column(UTCDateTime())
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    # visible = not draft, not removed, published <= now: kept as a column so feeds are one
    # indexed range scan; future posts flip when the scheduler reaches their date
    visible: Mapped[bool] = mapped_column(Boolean, default=False)
    # stat-first incremental reads of markdown files
    file_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)

    categories: Mapped[list[Category]] = relationship(
        secondary=post_categories, lazy="selectin", order_by=Category.slug
    )
    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, lazy="selectin", order_by=Tag.slug)


class SourceState(Base):
    __tablename__ = "sources"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="idle")  # idle, ok, error, backoff
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_duration: Mapped[float | None] = mapped_column(Float)
    last_counts: Mapped[dict[str, int] | None] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    http_etag: Mapped[str | None] = mapped_column(Text)
    http_last_modified: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IngestRun(Base):
    __tablename__ = "ingest_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[IngestError]] = relationship(
        back_populates="run", lazy="selectin", cascade="all, delete-orphan"
    )


class IngestError(Base):
    __tablename__ = "ingest_errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ingest_runs.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(200))
    item: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    run: Mapped[IngestRun] = relationship(back_populates="errors")


class ContentState(Base):
    """One row: a counter bumped by every transaction that changes what a feed shows."""

    __tablename__ = "content_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class Event(Base):
    """The outbox: one row per post change, written in the same transaction as the change."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # increasing: dispatch order
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)  # msg_…: the webhook-id
    type: Mapped[str] = mapped_column(String(40))
    post_id: Mapped[int | None] = mapped_column(Integer)
    # for webhook filters: the post's category slugs, and those it left with this change
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [kind, slug] of the category/tag/author feeds the post left (WebSub tells them too)
    scopes_left: Mapped[list[list[str]] | None] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class Lease(Base):
    """A named lock held until a time: gates jobs across workers and instances."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    until: Mapped[datetime] = mapped_column(UTCDateTime())


class Webhook(Base):
    """A webhook subscription (from config or the admin API)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)  # whsec_<base64>
    events: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # slugs; empty = all
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(20), default="api")  # "config" or "api"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSubSubscription(Base):
    """A WebSub subscriber's callback for one topic (a feed URL)."""

    __tablename__ = "websub_subscriptions"
    __table_args__ = (UniqueConstraint("topic", "callback", name="uq_websub_topic_callback"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    callback: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    lease_seconds: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One outbound POST (a webhook message or a WebSub content distribution) and its retries.

    ``msg_id`` is the Standard Webhooks ``webhook-id``: the same on every retry. Workers claim a
    row by setting ``claimed_by``/``claimed_until`` with a conditional UPDATE, so each delivery
    is sent by one of them at a time.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "webhook", "websub" or "hub-ping"
    msg_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    event_type: Mapped[str | None] = mapped_column(String(40))
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="SET NULL"), index=True
    )
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("websub_subscriptions.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # sent as they are
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # pending -> succeeded | dead | cancelled (a claimed row stays pending, with a claim)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSubPending(Base):
    """A WebSub (un)subscription request waiting for verification of intent (WebSub §5.3).

    The subscription itself changes only once the callback has echoed the challenge; until
    then the request waits here. ``next_attempt_at`` is also the claim: a worker moves it
    forward before it calls the callback, so one request is verified by one worker.
    """

    __tablename__ = "websub_pending"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(20))  # "subscribe" or "unsubscribe"
    topic: Mapped[str] = mapped_column(Text)  # as the subscriber gave it
    callback: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)
    lease_seconds: Mapped[int] = mapped_column(Integer)  # already clamped to the hub's policy
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScopePost(Base):
    """A visible post's membership of a scope (site, category, tag, author, its own page),
    kept with its ``published`` so a page of any scope is one range scan of the primary key."""

    __tablename__ = "scope_posts"
    __table_args__ = (Index("ix_scope_posts_post", "post_id"),)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # "" = the whole site
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    published: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )


class ScopeStat(Base):
    """Per scope, kept in the transaction of each post change: how many posts are visible,
    when the scope last changed (its Last-Modified) and a version bumped by every change."""

    __tablename__ = "scope_stats"
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    visible_count: Mapped[int] = mapped_column(Integer, default=0)
    last_change: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(BigInteger, default=1)


class Rendition(Base):
    """A built representation (one page of one scope in one format and content coding),
    shared by every worker and instance; valid while its scope is at ``version``."""

    __tablename__ = "renditions"
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    format: Mapped[str] = mapped_column(String(10), primary_key=True)  # atom, rss, json, html
    page: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    encoding: Mapped[str] = mapped_column(String(20), primary_key=True)  # identity, gzip, br
    build: Mapped[str] = mapped_column(String(64))  # code and config it was built with
    content_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(100))
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime())


class FeedVersion(Base):
    """One version of one feed page as served: its ETags and the entries it held (RFC 3229).

    ``entries`` is ``[[id, updated], …]`` (updated in RFC 3339); a delta against this version
    holds the current entries whose pair is not in it. Only the last few versions are kept.
    """

    __tablename__ = "feed_versions"
    __table_args__ = (UniqueConstraint("url", "etag"), Index("ix_feed_versions_url", "url"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))  # the feed page's path, "?page=N" included
    etag: Mapped[str] = mapped_column(String(100))  # identity variant
    gzip_etag: Mapped[str] = mapped_column(String(100))
    br_etag: Mapped[str | None] = mapped_column(String(100))
    entries: Mapped[list[list[str]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
