"""RFC 3229 feed deltas: remember what each served version of a feed page held, and build a
document of the same format with only the entries added or changed since a client's version."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from feedsvc import urls
from feedsvc.config import Config
from feedsvc.feeds import builder
from feedsvc.feeds.model import FeedDoc, FeedItem
from feedsvc.feeds.service import FeedKey
from feedsvc.storage import feed_history
from feedsvc.storage.db import Database
from feedsvc.storage.feed_history import Version
from feedsvc.timefmt import rfc3339

log = logging.getLogger("feedsvc.feeds.deltas")


def history_url(key: FeedKey, page: int) -> str:
    """The key a feed page's versions are kept under: its path, with ?page=N past page 1."""
    return urls.with_page(urls.feed_path(key.fmt, key.kind, key.slug), page)


def entry_pairs(doc: FeedDoc) -> list[tuple[str, str]]:
    """(id, updated) of each entry: an entry is new or changed when its pair is new."""
    return [_pair(item) for item in doc.items]


def _pair(item: FeedItem) -> tuple[str, str]:
    # to the second, as every format writes it: a sub-second change is no change to a reader
    return item.id, rfc3339(item.updated.replace(microsecond=0))


def enabled(cfg: Config) -> bool:
    return cfg.feeds.delta_history > 0


def record_version(
    db: Database,
    cfg: Config,
    key: FeedKey,
    page: int,
    etags: Mapping[str | None, str],
    doc: FeedDoc,
    now: datetime,
) -> None:
    """Remember the version just built; a failure only costs deltas, never the feed."""
    if not enabled(cfg):
        return
    url = history_url(key, page)
    try:
        with db.write() as session:
            feed_history.record(
                session,
                url,
                dict(etags),
                entry_pairs(doc),
                now,
                cfg.feeds.delta_history,
                cfg.feeds.delta_max_age,
            )
    except SQLAlchemyError as exc:
        # another worker stored the same version first (unique url+etag), or the database is
        # busy: this version simply cannot be answered with a delta from here
        log.info("feed history not recorded", extra={"url": url, "reason": str(exc)[:200]})


def find_version(
    db: Database, cfg: Config, key: FeedKey, page: int, etag: str, now: datetime
) -> Version | None:
    """The kept version of this page that was sent with ``etag``, or None (unknown/expired)."""
    if not enabled(cfg):
        return None
    since = now - timedelta(seconds=cfg.feeds.delta_max_age)
    try:
        with db.read() as session:
            return feed_history.find(session, history_url(key, page), etag, since)
    except SQLAlchemyError as exc:
        log.warning("feed history unreadable", extra={"url": history_url(key, page)}, exc_info=exc)
        return None


def delta_doc(doc: FeedDoc, old: Version) -> FeedDoc:
    """The document with only the entries whose (id, updated) the old version did not hold."""
    held = set(old.entries)
    items = tuple(item for item in doc.items if _pair(item) not in held)
    return replace(doc, items=items)


def build_delta(fmt: str, doc: FeedDoc, old: Version) -> tuple[bytes, int]:
    """The delta document's bytes in the feed's format and how many entries it holds."""
    delta = delta_doc(doc, old)
    return builder.build(fmt, delta), len(delta.items)
