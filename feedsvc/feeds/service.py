"""Feeds from the database: which feed a URL names, its FeedDoc and its bytes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy.orm import Session

from feedsvc import urls
from feedsvc.config import Config
from feedsvc.content.messages import messages_for
from feedsvc.content.text import slugify
from feedsvc.feeds import builder
from feedsvc.feeds.model import FeedDoc, FeedItem, Term
from feedsvc.kinds import ScopeKind
from feedsvc.storage import posts
from feedsvc.storage import scopes as scope_store
from feedsvc.storage.db import Database
from feedsvc.storage.models import Post
from feedsvc.storage.posts import PageRow

# Feed ids are minted with a fixed year: they must never change (RFC 4287 §4.2.6, RFC 4151).
FEED_ID_YEAR = 2026
EMPTY_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedKey:
    """One feed: a format and the site (kind None) or a category/tag/author slug."""

    fmt: str
    kind: str | None = None
    slug: str | None = None


@dataclass(frozen=True)
class BuiltFeed:
    body: bytes
    content_type: str
    last_modified: datetime
    doc: FeedDoc | None = None  # what the body was built from (feed deltas filter its items)


def parse_feed_path(path: str) -> FeedKey | None:
    """The FeedKey a feed URL or path names (query ignored), or None when it names none."""
    parts = urlsplit(path).path.split("/")
    if len(parts) == 2 and parts[0] == "":
        kind, slug, name = None, None, parts[1]
    elif len(parts) == 4 and parts[0] == "" and parts[1] in urls.FEED_KINDS and parts[2]:
        kind, slug, name = parts[1], unquote(parts[2]), parts[3]
    else:
        return None
    stem, _, fmt = name.partition(".")
    if stem != "feed" or fmt not in urls.FORMATS:
        return None
    return FeedKey(fmt, kind, slug)


def feed_url(cfg: Config, key: FeedKey) -> str:
    """The absolute URL of a feed's first page."""
    return urls.absolute(cfg.site.base_url, urls.feed_path(key.fmt, key.kind, key.slug))


def topic_for(cfg: Config, key: FeedKey, page: int = 1) -> str:
    """The absolute URL a feed page is served at: its rel="self" and its WebSub topic."""
    return urls.with_page(feed_url(cfg, key), page)


def hub_url(cfg: Config) -> str:
    return urls.absolute(cfg.site.base_url, urls.hub_path())


def feed_keys_for_post(post: Post | Mapping[str, Any]) -> list[FeedKey]:
    """Every feed a post appears in (site, its categories, tags and author), in all formats."""
    if isinstance(post, Mapping):
        cats = [slugify(name) for name in post.get("categories") or ()]
        tags = [slugify(name) for name in post.get("tags") or ()]
        author = slugify(post["author"]) if post.get("author") else None
    else:
        cats = [c.slug for c in post.categories]
        tags = [t.slug for t in post.tags]
        author = post.author_slug
    scopes: list[tuple[str | None, str | None]] = [(None, None)]
    scopes += [(ScopeKind.CATEGORIES, s) for s in cats if s]
    scopes += [(ScopeKind.TAGS, s) for s in tags if s]
    if author:
        scopes.append((ScopeKind.AUTHORS, author))
    return feed_keys_for_scopes(scopes)


def feed_keys_for_scopes(scopes: Iterable[Sequence[str | None]]) -> list[FeedKey]:
    """The feeds of each (kind, slug) scope, in all formats; (None, None) is the site's."""
    unique = dict.fromkeys((kind, slug) for kind, slug in scopes)
    return [FeedKey(fmt, kind, slug) for kind, slug in unique for fmt in urls.FORMATS]


def last_page(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))


def feed_exists(db: Database, key: FeedKey) -> bool:
    """Whether page 1 of ``key`` is a feed here, without building it (one indexed lookup): the
    site's feed always is, a category/tag/author feed when that term exists."""
    if key.fmt not in urls.FORMATS:
        return False
    if key.kind is None:
        return True
    with db.read() as session:
        return posts.term_name(session, key.kind, key.slug or "") is not None


def build_feed(db: Database, cfg: Config, key: FeedKey, page: int) -> BuiltFeed | None:
    """The bytes of one feed page; None for an unknown scope or a page out of range (404)."""
    if key.fmt not in urls.FORMATS or page < 1:
        return None
    with db.read() as session:
        name = None
        if key.kind is not None:
            name = posts.term_name(session, key.kind, key.slug or "")
            if name is None:
                return None
        rows, stats = posts.page_of(session, key.kind, key.slug, page, cfg.feeds.page_size)
    last = last_page(stats.count, cfg.feeds.page_size)
    if page > last:
        return None
    doc = _doc(cfg, key, name, page, last, [feed_item(cfg, p) for p in rows])
    changed = stats.last_change or EMPTY_UPDATED
    body = builder.build(key.fmt, doc)
    return BuiltFeed(body, builder.CONTENT_TYPES[key.fmt], max(doc.updated, changed), doc)


def feed_id(cfg: Config, kind: str | None, slug: str | None) -> str:
    """RFC 4151 tag URI of a feed, fixed forever."""
    specific = "feed" if kind is None else f"{kind}/{quote(slug or '', safe='')}"
    return urls.tag_uri(urls.host_of(cfg.site.base_url), str(FEED_ID_YEAR), specific)


def _doc(
    cfg: Config, key: FeedKey, name: str | None, page: int, last: int, items: list[FeedItem]
) -> FeedDoc:
    site = cfg.site
    return FeedDoc(
        id=feed_id(cfg, key.kind, key.slug),
        title=site.title if name is None else f"{site.title} - {name}",
        description=site.description or messages_for(site.language).latest_updates,
        language=site.language,
        home_url=urls.absolute(site.base_url, urls.list_path(key.kind, key.slug)),
        self_url=topic_for(cfg, key, page),
        author=site.author,
        updated=max((i.updated for i in items), default=EMPTY_UPDATED),
        items=tuple(items),
        # RFC 5005 §3: paged feeds; "next" leads to older entries, "previous" to newer
        first_url=topic_for(cfg, key, 1),
        last_url=topic_for(cfg, key, last),
        next_url=topic_for(cfg, key, page + 1) if page < last else None,
        previous_url=topic_for(cfg, key, page - 1) if page > 1 else None,
        hub_url=hub_url(cfg),
        stylesheet_url=urls.absolute(site.base_url, urls.FEED_STYLESHEET_PATH),
        ttl=ttl_minutes(cfg.feeds.cache_max_age),
    )


def ttl_minutes(max_age: int) -> int | None:
    """RSS <ttl> for a Cache-Control max-age: whole minutes, rounded up; None for 0."""
    return math.ceil(max_age / 60) if max_age > 0 else None


def feed_item(cfg: Config, post: PageRow) -> FeedItem:
    """A stored post as a feed entry (its id is the guid fixed at first sight)."""
    base = cfg.site.base_url
    return FeedItem(
        id=post.guid,
        url=posts.post_url(post, base),
        title=post.title,
        summary=post.summary,
        content_html=post.content_html if cfg.feeds.full_content else None,
        published=post.published,
        updated=post.updated,
        authors=(post.author or cfg.site.author,),
        categories=tuple(
            Term(c.slug, c.name, urls.absolute(base, f"/{ScopeKind.CATEGORIES}/"))
            for c in post.categories
        ),
        tags=tuple(
            Term(t.slug, t.name, urls.absolute(base, f"/{ScopeKind.TAGS}/")) for t in post.tags
        ),
        language=post.language,
        image=post.image,
    )


def last_change(session: Session, kind: str | None, slug: str | None) -> datetime:
    """When the scope last changed (the Last-Modified): kept with every change that touches
    it — a post joining, leaving, changing or being removed — so it never goes back."""
    scope = scope_store.scope_of(kind, slug)
    return scope_store.stats(session, scope).last_change or EMPTY_UPDATED
