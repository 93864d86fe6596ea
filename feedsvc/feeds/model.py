"""Values a feed document is built from; the builder turns them into Atom, RSS or JSON bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Term:
    """A category or a tag: slug (Atom term), label (shown) and an optional scheme URI."""

    slug: str
    label: str
    scheme: str | None = None


@dataclass(frozen=True)
class FeedItem:
    """One post as a feed entry; ``id`` is its stable id (a tag URI, not necessarily a URL)."""

    id: str
    url: str  # alternate (HTML) link
    title: str
    summary: str  # plain text
    content_html: str | None  # full HTML; None when full content is off
    published: datetime  # aware
    updated: datetime  # aware, >= published
    authors: tuple[str, ...] = ()
    categories: tuple[Term, ...] = ()
    tags: tuple[Term, ...] = ()
    language: str | None = None
    image: str | None = None  # cover image, absolute URL


@dataclass(frozen=True)
class FeedDoc:
    """One feed document (one page of one feed), with every URL it names already absolute."""

    id: str
    title: str
    description: str
    language: str | None
    home_url: str  # the HTML page this feed mirrors
    self_url: str  # the exact URL this document is served at (page and format included)
    author: str | None
    updated: datetime  # newest item.updated; a fixed datetime for an empty feed
    items: tuple[FeedItem, ...]  # newest first; the builder keeps this order
    first_url: str | None = None
    last_url: str | None = None
    next_url: str | None = None
    previous_url: str | None = None
    hub_url: str | None = None  # WebSub hub
    stylesheet_url: str | None = None  # XSLT that shows Atom/RSS as a page in a browser
    ttl: int | None = None  # RSS <ttl>: minutes a reader may cache the feed (the max-age)
