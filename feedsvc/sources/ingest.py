"""The ingest service: apply what a source yields to storage, one transaction per post."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedsvc.clock import Clock
from feedsvc.config import Config, SourceConfig
from feedsvc.content.summary import is_cjk_language, placeholders_for, summarize
from feedsvc.content.text import strip_control_chars
from feedsvc.sources import markdown
from feedsvc.sources.model import ItemError, SourceItem
from feedsvc.storage import content_state, events, posts
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.storage.models import IngestError, IngestRun, Post

log = logging.getLogger("feedsvc.ingest")

NEW, UPDATED, UNCHANGED, REMOVED = "new", "updated", "unchanged", "removed"


class SlugTaken(Exception):
    """The slug already belongs to another live post."""


@dataclass
class IngestReport:
    source: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    errors: list[ItemError] = field(default_factory=list)
    duration: float = 0.0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def fail(self, error: ItemError) -> None:
        self.failed += 1
        self.errors.append(error)
        log.warning(
            "ingest item failed",
            extra={"source": error.source, "item": error.item, "reason": error.reason},
        )

    def counts(self) -> dict[str, int]:
        keys = ("new", "updated", "unchanged", "removed", "failed")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class Summarizer:
    """Summaries as the site config wants them (length, placeholders, CJK cutting)."""

    length: int
    formula: str
    code: str
    cjk: bool

    @classmethod
    def from_config(cls, cfg: Config) -> Summarizer:
        formula, code = placeholders_for(cfg.site.language)
        return cls(
            length=cfg.feeds.summary_length,
            formula=cfg.feeds.formula_placeholder or formula,
            code=cfg.feeds.code_placeholder or code,
            cjk=is_cjk_language(cfg.site.language),
        )

    def __call__(self, item: SourceItem) -> str:
        if item.summary:
            return strip_control_chars(item.summary)
        return summarize(
            item.content_html,
            length=self.length,
            formula=self.formula,
            code=self.code,
            cjk=self.cjk,
        )


def _is_visible(post: Post, now: datetime) -> bool:
    return not post.draft and not post.removed and post.published <= now


def apply_item(session: Session, cfg: Config, source: str, item: SourceItem, now: datetime) -> str:
    """Insert or update one post and record the events it causes; returns the outcome."""
    post = posts.get_by_key(session, source, item.external_key)
    if post is not None and not post.removed and post.content_hash == item.content_hash:
        post.file_mtime_ns, post.file_size = item.file_mtime_ns, item.file_size
        return UNCHANGED
    slug = _claim_slug(session, item.slug or posts.slugify(item.title), post)
    was_visible = post is not None and post.visible
    scopes_before = events.scopes_of(post) if post is not None and was_visible else set()
    outcome = UPDATED if post is not None and not post.removed else NEW
    if post is None:
        post = Post(
            source=source,
            external_key=item.external_key,
            guid=posts.tag_uri(_host(cfg), now, source, item.external_key),
            first_seen=now,
        )
        session.add(post)
    _fill(post, item, slug, now, Summarizer.from_config(cfg))
    posts.set_taxonomy(session, post, item.categories, item.tags)
    post.visible = _is_visible(post, now)
    session.flush()
    _record_change(session, cfg, post, was_visible, now, scopes_before)
    return outcome


def _fill(post: Post, item: SourceItem, slug: str, now: datetime, summarize_: Summarizer) -> None:
    post.slug = slug
    post.title = strip_control_chars(item.title)
    post.author = item.author
    post.author_slug = posts.slugify(item.author) if item.author else None
    post.url = item.url
    post.language = item.language
    post.markdown = item.markdown
    post.content_html = item.content_html
    post.summary = summarize_(item)
    post.summary_explicit = item.summary
    post.content_hash = item.content_hash
    post.published = item.published or post.first_seen
    previous = post.updated
    post.updated = item.updated or (now if previous is not None else post.published)
    if post.updated < post.published:
        post.updated = post.published
    post.draft = item.draft
    post.removed = False
    post.file_mtime_ns, post.file_size = item.file_mtime_ns, item.file_size


def _record_change(
    session: Session,
    cfg: Config,
    post: Post,
    was_visible: bool,
    now: datetime,
    scopes_before: Iterable[events.Scope] = (),
) -> None:
    """Outbox + change signal in the caller's transaction (nothing is lost)."""
    if post.visible:
        kind = events.UPDATED if was_visible else events.PUBLISHED
    elif was_visible:
        kind = events.DELETED
    else:
        return
    events.record(session, kind, post, cfg.site.base_url, now, left=scopes_before)
    content_state.bump(session)


def _claim_slug(session: Session, slug: str, post: Post | None) -> str:
    holder = posts.get_by_slug(session, slug)
    if holder is None or holder is post:
        return slug
    if holder.removed:
        # A removed post gives its slug up; its id (guid) and history stay.
        holder.slug = f"{holder.slug}~removed-{holder.id}"
        session.flush()
        return slug
    raise SlugTaken(f"slug {slug!r} is already used by {holder.source}:{holder.external_key}")


def remove_post(session: Session, cfg: Config, post: Post, now: datetime) -> None:
    """Take a post out of the feeds (its id is kept should it come back)."""
    was_visible = post.visible
    post.removed = True
    post.visible = False
    post.updated = max(post.updated, now)
    session.flush()
    _record_change(session, cfg, post, was_visible, now)


def _host(cfg: Config) -> str:
    return urlsplit(cfg.site.base_url).hostname or "localhost"


def publish_due(db: Database, cfg: Config, clock: Clock) -> int:
    """Make future-dated posts visible once their date has come; returns how many."""
    now = clock.now()
    with db.read() as session:
        due = session.scalars(
            select(Post.id).where(
                Post.visible.is_(False),
                Post.draft.is_(False),
                Post.removed.is_(False),
                Post.published <= now,
            )
        ).all()
    for post_id in due:
        with db.write() as session:
            post = session.get(Post, post_id)
            if post is None or post.visible or not _is_visible(post, now):
                continue
            post.visible = True
            session.flush()
            _record_change(session, cfg, post, False, now)
    return len(due)


Progress = Callable[[int, int | None], None]


def ingest_source(
    db: Database,
    cfg: Config,
    source: SourceConfig,
    clock: Clock,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """One pass over one source; per-item failures are reported, never raised."""
    started = time.monotonic()
    report = IngestReport(source=source.name)
    run_id = _start_run(db, source, clock.now())
    if source.kind == "markdown":
        _ingest_markdown(db, cfg, source, clock, report, progress)
    else:
        from feedsvc.sources.feed_ingest import ingest_feed

        ingest_feed(db, cfg, source, clock, report, apply_one)
    publish_due(db, cfg, clock)
    report.duration = time.monotonic() - started
    _finish_run(db, run_id, source, report, clock.now())
    return report


def apply_one(db: Database, cfg: Config, source: str, item: SourceItem, now: datetime) -> str:
    """apply_item in its own write transaction; a failure becomes an ItemError on this item.

    A unique-key race (on PostgreSQL, another pass of the same source — a manual run next to the
    scheduled one — stored the same new item first) is applied again over the row it stored.
    Anything else that goes wrong with one item is reported and logged; the pass goes on.
    """
    key = item.external_key
    try:
        try:
            return _apply_in_transaction(db, cfg, source, item, now)
        except IntegrityError:
            return _apply_in_transaction(db, cfg, source, item, now)  # now over the stored row
    except SlugTaken as exc:
        raise ItemFailed(ItemError(source, key, str(exc))) from exc
    except IntegrityError as exc:
        raise ItemFailed(ItemError(source, key, f"could not be stored: {exc.orig}")) from exc
    except Exception as exc:
        log.exception("item failed", extra={"source": source, "item": key})
        reason = f"could not be stored: {type(exc).__name__}: {exc}"
        raise ItemFailed(ItemError(source, key, reason)) from exc


def _apply_in_transaction(
    db: Database, cfg: Config, source: str, item: SourceItem, now: datetime
) -> str:
    with db.write() as session:
        return apply_item(session, cfg, source, item, now)


class ItemFailed(Exception):
    def __init__(self, error: ItemError) -> None:
        super().__init__(error.reason)
        self.error = error


def _ingest_markdown(
    db: Database,
    cfg: Config,
    source: SourceConfig,
    clock: Clock,
    report: IngestReport,
    progress: Progress | None,
) -> None:
    root = Path(source.path)
    with db.read() as session:
        known = posts.stamps_for_source(session, source.name)
    if not root.is_dir():
        report.fail(ItemError(source.name, str(root), "source directory does not exist"))
        return
    seen: set[str] = set()
    total = sum(1 for _ in markdown.iter_files(root)) if progress else None
    events_ = markdown.scan(
        source.name, root, known, base_url=cfg.site.base_url, max_bytes=source.max_file_bytes
    )
    for done, event in enumerate(events_, start=1):
        _apply_scan_event(db, cfg, source.name, event, clock.now(), report, seen)
        if progress:
            progress(done, total)
    _remove_missing(db, cfg, source.name, set(known) - seen, clock.now(), report)


def _apply_scan_event(
    db: Database,
    cfg: Config,
    source: str,
    event: markdown.ScanEvent,
    now: datetime,
    report: IngestReport,
    seen: set[str],
) -> None:
    if isinstance(event, markdown.Unchanged):
        seen.add(event.key)
        report.count(UNCHANGED)
    elif isinstance(event, ItemError):
        seen.add(event.item)  # a file that fails keeps its stored post: nothing is lost
        report.fail(event)
    else:
        seen.add(event.external_key)
        try:
            report.count(apply_one(db, cfg, source, event, now))
        except ItemFailed as exc:
            report.fail(exc.error)


def _remove_missing(
    db: Database, cfg: Config, source: str, gone: Iterable[str], now: datetime, report: IngestReport
) -> None:
    for key in sorted(gone):
        with db.write() as session:
            post = posts.get_by_key(session, source, key)
            if post is None or post.removed:
                continue
            remove_post(session, cfg, post, now)
        report.count(REMOVED)


def _start_run(db: Database, source: SourceConfig, now: datetime) -> int:
    with db.write() as session:
        source_store.get_state(session, source.name, source.kind)
        run = IngestRun(source=source.name, started_at=now)
        session.add(run)
        session.flush()
        return run.id


def _finish_run(
    db: Database, run_id: int, source: SourceConfig, report: IngestReport, now: datetime
) -> None:
    with db.write() as session:
        run = session.get(IngestRun, run_id)
        assert run is not None
        run.finished_at = now
        for key, value in report.counts().items():
            setattr(run, key, value)
        for err in report.errors:
            run.errors.append(IngestError(source=err.source, item=err.item, reason=err.reason))
        state = source_store.get_state(session, source.name, source.kind)
        state.last_run_at = now
        state.last_duration = report.duration
        state.last_counts = report.counts()
        state.last_error = report.errors[0].reason if report.errors else None
        if source.kind == "markdown":
            state.status = "error" if report.failed else "ok"


def ingest_all(
    db: Database, cfg: Config, clock: Clock, names: Iterable[str] | None = None
) -> list[IngestReport]:
    wanted = set(names) if names is not None else None
    return [
        ingest_source(db, cfg, src, clock)
        for src in cfg.sources
        if wanted is None or src.name in wanted
    ]
