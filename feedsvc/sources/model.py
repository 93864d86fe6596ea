"""Values that sources hand to the ingest service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SourceItem:
    """One post as a source sees it, before it is stored.

    ``content_html`` is already sanitised; text fields are already free of control characters.
    ``published``/``updated`` are aware UTC datetimes, or None when the source does not know
    (the ingest service then uses the time the item was first seen).
    """

    external_key: str
    title: str
    content_html: str
    content_hash: str
    slug: str | None = None
    markdown: str | None = None
    summary: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author: str | None = None
    url: str | None = None
    draft: bool = False
    language: str | None = None
    # markdown files: the stat seen when read, for stat-first incremental passes
    file_mtime_ns: int | None = None
    file_size: int | None = None


@dataclass(frozen=True)
class ItemError:
    """A per-item failure: names the source, the item and the reason."""

    source: str
    item: str
    reason: str


@dataclass
class SourceScan:
    """What one pass over a source produced."""

    items: list[SourceItem] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    # keys the source still knows but did not re-read (unchanged, stat-first): not removed
    unchanged_keys: set[str] = field(default_factory=set)
    # True when the scan saw the whole source, so absent keys mean "removed" (markdown dir);
    # False for windows such as upstream feeds, where absence means nothing
    complete: bool = True
