"""What the HTML pages show, as plain values read from storage (the web layer renders them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedsvc import urls
from feedsvc.config import Config
from feedsvc.feeds import service
from feedsvc.kinds import ScopeKind
from feedsvc.storage import posts
from feedsvc.storage.db import Database
from feedsvc.storage.posts import PageRow
from feedsvc.timefmt import local_time


@dataclass(frozen=True)
class Link:
    name: str
    href: str


@dataclass(frozen=True)
class Entry:
    """One post in a list page."""

    title: str
    href: str
    summary: str
    categories: list[Link]
    date: str  # YYYY-MM-DD
    datetime: str  # ISO 8601, for <time datetime>


@dataclass(frozen=True)
class ListView:
    """One page of a scope's list: its posts, how many pages there are, when it last changed."""

    name: str | None  # the category, tag or author; None for the whole site
    entries: list[Entry]
    last: int
    changed: datetime


@dataclass(frozen=True)
class PostView:
    title: str
    content_html: str  # sanitised at ingest
    categories: list[Link]
    tags: list[Link]
    author: str | None
    author_href: str | None
    published: datetime  # in the site's time zone
    updated: datetime
    href: str
    url: str | None  # the post's external link, if any
    image: str | None  # cover image (absolute URL): og:image


def term_links(cfg: Config, kind: str, terms: Sequence[Any]) -> list[Link]:
    base = cfg.site.base_url
    return [Link(t.name, urls.absolute(base, urls.list_path(kind, t.slug))) for t in terms]


def entry(cfg: Config, post: PageRow) -> Entry:
    published = local_time(post.published, cfg.site.zone())  # the site's calendar day
    return Entry(
        title=post.title,
        href=urls.absolute(cfg.site.base_url, urls.post_path(post.slug)),
        summary=post.summary,
        categories=term_links(cfg, ScopeKind.CATEGORIES, post.categories),
        date=f"{published:%Y-%m-%d}",
        datetime=published.isoformat(),
    )


def list_view(
    db: Database, cfg: Config, kind: str | None, slug: str | None, page: int
) -> ListView | None:
    """A page of the scope's visible posts, or None (unknown scope, page out of range)."""
    with db.read() as session:
        name = posts.term_name(session, kind, slug or "") if kind else None
        if kind and name is None:
            return None
        rows, stats = posts.page_of(session, kind, slug, page, cfg.feeds.page_size)
    last = service.last_page(stats.count, cfg.feeds.page_size)
    if page > last:
        return None
    entries = [entry(cfg, p) for p in rows]
    return ListView(name, entries, last, stats.last_change or service.EMPTY_UPDATED)


def post_view(db: Database, cfg: Config, slug: str) -> PostView | None:
    """The visible post with this slug, or None."""
    base = cfg.site.base_url
    with db.read() as session:
        post = posts.get_by_slug(session, slug)
        if post is None or not post.visible:
            return None
        author_href = (
            urls.absolute(base, urls.list_path(ScopeKind.AUTHORS, post.author_slug))
            if post.author_slug
            else None
        )
        return PostView(
            title=post.title,
            content_html=post.content_html,
            categories=term_links(cfg, ScopeKind.CATEGORIES, post.categories),
            tags=term_links(cfg, ScopeKind.TAGS, post.tags),
            author=post.author,
            author_href=author_href,
            published=local_time(post.published, cfg.site.zone()),
            updated=local_time(post.updated, cfg.site.zone()),
            href=urls.absolute(base, urls.post_path(post.slug)),
            url=post.url,
            image=post.image,
        )
