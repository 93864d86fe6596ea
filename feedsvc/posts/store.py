"""Storing a post for every source: insert or update, the slug rule, removal, publishing when
due. Each change writes its outbox event and the change signal in the caller's transaction."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedsvc.config import Config
from feedsvc.content.summary import is_cjk_language, placeholders_for, summarize
from feedsvc.content.text import slugify, strip_control_chars
from feedsvc.content.title import without_title_heading
from feedsvc.kinds import EventType, Outcome
from feedsvc.posts.errors import InvalidPost, ItemFailed, PostError, SlugTaken
from feedsvc.posts.model import Shown, SourceItem
from feedsvc.storage import content_state, events, posts, scopes
from feedsvc.storage.db import Database
from feedsvc.storage.models import Post

log = logging.getLogger("feedsvc.posts")


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

    def __call__(self, item: SourceItem, html: str | None = None) -> str:
        """The explicit summary, else an excerpt of ``html`` (default: the item's content)."""
        if item.summary:
            return strip_control_chars(item.summary)
        return self.of_html(item.content_html if html is None else html)

    def of_html(self, html: str) -> str:
        length, formula, code, cjk = self.length, self.formula, self.code, self.cjk
        return summarize(html, length=length, formula=formula, code=code, cjk=cjk)


def shown_of(item: SourceItem, summarize_: Summarizer) -> Shown:
    """The HTML a post shows (without a leading title heading) and its summary."""
    if item.shown is not None:
        return item.shown
    html = without_title_heading(item.content_html, strip_control_chars(item.title))
    return Shown(html, summarize_(item, html))


def prepare(item: SourceItem, summarize_: Summarizer) -> SourceItem:
    """``item`` with what the write derives from its HTML worked out now (pure, no database),
    so that an ingest worker process does it and the write does not; the result is the same."""
    return replace(item, shown=shown_of(item, summarize_))


def is_visible(post: Post, now: datetime) -> bool:
    return not post.draft and not post.removed and post.published <= now


def claim_slug(
    session: Session,
    key: str,
    title: str,
    post: Post | None,
    *,
    explicit: str | None = None,
    default: str | None = None,
) -> str:
    """The one slug rule, for every source.

    An explicit slug is the post's, or a SlugTaken naming the live post that has it. Without
    one a post keeps the slug it has (its URL is stable), and a new post takes the first free of
    ``base``, ``base-2``, ``base-3``… (base: the source's default, else from the title): a new
    post never fails because another has the same title. A removed post gives its slug up.
    """
    if explicit:
        holder = posts.get_by_slug(session, explicit)
        if holder is None or holder is post or _give_up(session, holder):
            return explicit
        raise SlugTaken(
            f"slug {explicit!r} is already used by {holder.source}:{holder.external_key}",
            holder={"key": holder.id, "id": holder.guid},
        )
    if post is not None and not post.removed and post.slug:
        return post.slug
    base = default or slugify(title) or "post-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    number = 1
    while True:
        candidate = base if number == 1 else f"{base}-{number}"
        holder = posts.get_by_slug(session, candidate)
        if holder is None or holder is post or _give_up(session, holder):
            return candidate
        number += 1


def _give_up(session: Session, holder: Post) -> bool:
    """A removed post gives its slug up (its id and history stay); True when it did."""
    if not holder.removed:
        return False
    holder.slug = f"{holder.slug}~removed-{holder.id}"
    session.flush()
    return True


def apply_item(
    session: Session, cfg: Config, source: str, item: SourceItem, now: datetime
) -> Outcome:
    """Insert or update one post and record the events it causes; returns the outcome.

    The stored post is read with a row lock: a concurrent pass of the same source waits, then
    finds this change already made (UNCHANGED), so one change is one event.
    """
    post = posts.get_by_key(session, source, item.external_key, lock=True)
    return apply_found(session, cfg, source, item, now, post)


def apply_found(
    session: Session,
    cfg: Config,
    source: str,
    item: SourceItem,
    now: datetime,
    post: Post | None,
    *,
    pending: scopes.Pending | None = None,
    terms: posts.Terms | None = None,
) -> Outcome:
    """apply_item over the stored ``post`` the caller has read with a row lock (None: none).

    A batch passes ``pending`` (scope values and the change signal written once, at its end:
    the caller then bumps the signal when ``pending`` holds anything) and ``terms`` (the
    batch's categories and tags, loaded at once).
    """
    if post is not None and not post.removed and post.content_hash == item.content_hash:
        post.file_mtime_ns, post.file_size = item.file_mtime_ns, item.file_size
        if item.render_version is not None and post.render_version != item.render_version:
            refresh_render(session, cfg, post, item.content_html, item.render_version, pending)
        return Outcome.UNCHANGED
    slug = claim_slug(
        session,
        item.external_key,
        item.title,
        post,
        explicit=item.slug,
        default=item.default_slug,
    )
    was_visible = post is not None and post.visible
    scopes_before = events.scopes_of(post) if post is not None and was_visible else set()
    outcome = Outcome.UPDATED if post is not None and not post.removed else Outcome.NEW
    if post is None:
        post = Post(
            source=source,
            external_key=item.external_key,
            guid=posts.tag_uri(cfg.site.base_url, now, source, item.external_key),
            first_seen=now,
        )
        session.add(post)
    _fill(post, item, slug, now, Summarizer.from_config(cfg))
    posts.set_taxonomy(session, post, item.categories, item.tags, terms)
    post.visible = is_visible(post, now)
    session.flush()
    record_change(session, cfg, post, was_visible, now, scopes_before, pending)
    return outcome


def refresh_render(
    session: Session,
    cfg: Config,
    post: Post,
    html: str,
    version: str,
    pending: scopes.Pending | None = None,
) -> None:
    """HTML from a newer renderer for a post whose meaning (and hash) is unchanged: the feeds
    change (the change signal is bumped), its ``updated`` date and its events do not."""
    post.content_html = html = without_title_heading(html, post.title)
    if post.summary_explicit is None:
        post.summary = Summarizer.from_config(cfg).of_html(html)
    post.render_version = version
    session.flush()
    if post.visible:
        scopes.sync(session, post, pending)  # its scopes' stored renditions are built again
        if pending is None:
            content_state.bump(session)


def _fill(post: Post, item: SourceItem, slug: str, now: datetime, summarize_: Summarizer) -> None:
    post.slug = slug
    post.title = strip_control_chars(item.title)
    post.author = item.author
    post.author_slug = slugify(item.author) if item.author else None
    post.url = item.url
    post.image = item.image
    post.language = item.language
    post.markdown = item.markdown
    shown = shown_of(item, summarize_)
    # a body starting with the title as a heading would show it twice: page, feeds, summary
    post.content_html, post.summary = shown.html, shown.summary
    post.summary_explicit = item.summary
    post.content_hash = item.content_hash
    post.render_version = item.render_version
    post.published = item.published or post.first_seen
    previous = post.updated
    post.updated = item.updated or (now if previous is not None else post.published)
    if post.updated < post.published:
        post.updated = post.published
    post.draft = item.draft
    post.removed = False
    post.file_mtime_ns, post.file_size = item.file_mtime_ns, item.file_size


def record_change(
    session: Session,
    cfg: Config,
    post: Post,
    was_visible: bool,
    now: datetime,
    scopes_before: Iterable[events.Scope] = (),
    pending: scopes.Pending | None = None,
) -> None:
    """Scope values, outbox and change signal in the caller's transaction (nothing is lost);
    with ``pending``, scope values and signal are the caller's to write before it commits."""
    scopes.sync(session, post, pending)
    if post.visible:
        kind = EventType.UPDATED if was_visible else EventType.PUBLISHED
    elif was_visible:
        kind = EventType.DELETED
    else:
        return
    events.record(session, kind, post, cfg.site.base_url, now, left=scopes_before)
    if pending is None:
        content_state.bump(session)


def remove_post(session: Session, cfg: Config, post: Post, now: datetime) -> None:
    """Take a post out of the feeds (its id is kept should it come back)."""
    was_visible = post.visible
    post.removed = True
    post.visible = False
    post.updated = max(post.updated, now)
    session.flush()
    record_change(session, cfg, post, was_visible, now)


def remove_by_key(db: Database, cfg: Config, source: str, key: str, now: datetime) -> bool:
    """Remove a source's post in its own transaction; False when there was none to remove."""
    with db.write() as session:
        post = posts.get_by_key(session, source, key, lock=True)
        if post is None or post.removed:
            return False
        remove_post(session, cfg, post, now)
        return True


def publish_due(db: Database, cfg: Config, now: datetime) -> int:
    """Make future-dated posts visible once their date has come; returns how many."""
    with db.read() as session:
        due = posts.due_ids(session, now)
    for post_id in due:
        with db.write() as session:
            post = posts.get_by_id(session, post_id, lock=True)
            if post is None or post.visible or not is_visible(post, now):
                continue
            post.visible = True
            session.flush()
            record_change(session, cfg, post, False, now)
    return len(due)


def apply_one(db: Database, cfg: Config, source: str, item: SourceItem, now: datetime) -> Outcome:
    """apply_item in its own write transaction; any failure is an ItemFailed with the reason.

    A unique-key race (on PostgreSQL, another pass of the same source — a manual run next to the
    scheduled one — stored the same new item first) is applied again over the row it stored.
    Anything else that goes wrong with one item is reported and logged; the pass goes on.
    """
    try:
        try:
            return _apply_in_transaction(db, cfg, source, item, now)
        except IntegrityError:
            return _apply_in_transaction(db, cfg, source, item, now)  # now over the stored row
    except Exception as exc:
        raise item_failure(exc, source, item.external_key) from exc


def item_failure(exc: Exception, source: str, key: str) -> ItemFailed:
    """The ItemFailed that reports ``exc`` for one item (unexpected ones are logged too)."""
    if isinstance(exc, InvalidPost):
        return ItemFailed("; ".join(f"{k}: {v}" for k, v in exc.fields.items()))
    if isinstance(exc, PostError):
        return ItemFailed(str(exc))
    if isinstance(exc, IntegrityError):
        return ItemFailed(f"could not be stored: {exc.orig}")
    log.error("item failed", exc_info=exc, extra={"source": source, "item": key})
    return ItemFailed(f"could not be stored: {type(exc).__name__}: {exc}")


def _apply_in_transaction(
    db: Database, cfg: Config, source: str, item: SourceItem, now: datetime
) -> Outcome:
    with db.write() as session:
        return apply_item(session, cfg, source, item, now)
