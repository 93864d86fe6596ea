"""The value every source hands to the post service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Part of every content hash: the hash is of what a post means, not of how feedsvc renders it
# (a new renderer re-renders stored posts without an event, see posts.rerender). It was the
# render version until that changed to "2"; kept at "1" so that stored hashes stay valid.
HASH_VERSION = "1"


@dataclass(frozen=True)
class Shown:
    """What the post service derives from an item's HTML, worked out ahead of the write (in an
    ingest worker process): the HTML without a leading title heading, and the summary made from
    it (the explicit one, else an excerpt with the site's summary settings)."""

    html: str
    summary: str


@dataclass(frozen=True)
class SourceItem:
    """One post as a source sees it, before it is stored.

    ``content_html`` is already sanitised; text fields are already free of control characters.
    ``published``/``updated`` are aware UTC datetimes, or None when the source does not know
    (the post service then uses the time the item was first seen). ``slug`` is an explicit
    slug (front matter, API); ``default_slug`` the base to derive one from when there is none
    (a file name), else the title is.
    """

    external_key: str
    title: str
    content_html: str
    content_hash: str
    slug: str | None = None
    default_slug: str | None = None
    markdown: str | None = None
    summary: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author: str | None = None
    url: str | None = None
    image: str | None = None  # cover image: an absolute, publishable URL
    draft: bool = False
    language: str | None = None
    # the renderer's version for HTML rendered from Markdown (None: HTML from upstream)
    render_version: str | None = None
    # markdown files: the stat seen when read, for stat-first incremental passes
    file_mtime_ns: int | None = None
    file_size: int | None = None
    # set by posts.store.prepare: the title heading dropped and the summary made (else at write)
    shown: Shown | None = None
