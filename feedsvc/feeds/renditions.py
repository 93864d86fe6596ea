"""One build per change, shared by every worker and instance: a feed or page representation is
looked up in the database by its scope's current version before it is built, and stored after.

The version is read before the build and checked again before storing, so a stored rendition
always shows its scope exactly at that version (a change committed meanwhile: not stored).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

import feedsvc
from feedsvc.config import Config
from feedsvc.storage import renditions as stored
from feedsvc.storage import scopes
from feedsvc.storage.db import Database

log = logging.getLogger("feedsvc.feeds.renditions")

HTML_FORMAT = "html"  # the format of HTML pages (lists and post pages)
POST_SCOPE = scopes.POSTS  # the kind of a post's own page


@dataclass(frozen=True)
class Encoded:
    """One content coding of a representation ("identity", "gzip", "br")."""

    encoding: str
    body: bytes
    etag: str


@dataclass(frozen=True)
class Rendered:
    content_type: str
    last_modified: datetime
    variants: tuple[Encoded, ...]


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A digest of the package's code and templates: renditions of other code are not served."""
    root = Path(feedsvc.__file__).parent
    digest = hashlib.sha256(feedsvc.__version__.encode())
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".html", ".css") and "migrations" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build_id(cfg: Config) -> str:
    """What a rendition's bytes depend on besides the posts: the code and the site/feed config."""
    text = f"{code_fingerprint()}\n{cfg.site!r}\n{cfg.feeds!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class RenditionStore:
    """Looks renditions up by scope version and stores what it builds; counts its builds."""

    def __init__(self, db: Database, cfg: Config) -> None:
        self.db = db
        self.build = build_id(cfg)
        self.builds = 0  # representations this process built (tests and /metrics)
        self._lock = threading.Lock()

    def get_or_build(
        self,
        kind: str | None,
        slug: str | None,
        fmt: str,
        page: int,
        build: Callable[[], Rendered | None],
    ) -> Rendered | None:
        """The stored rendition of this page at its scope's current version, else build() once
        and store it; None (an unknown scope, a page out of range) is not stored."""
        scope = scopes.scope_of(kind, slug)
        with self.db.read() as session:
            version = scopes.stats(session, scope).version
            rows = stored.load(session, scope, fmt, page, version, self.build)
            if rows:
                variants = tuple(Encoded(r.encoding, r.body, r.etag) for r in rows)
                return Rendered(rows[0].content_type, rows[0].last_modified, variants)
        with self._lock:
            self.builds += 1
        rendered = build()
        if rendered is not None:
            self._store(scope, fmt, page, version, rendered)
        return rendered

    def _store(
        self, scope: scopes.Scope, fmt: str, page: int, version: int, rendered: Rendered
    ) -> None:
        variants = [(v.encoding, v.body, v.etag) for v in rendered.variants]
        try:
            with self.db.write() as session:
                if scopes.stats(session, scope).version != version:
                    return  # the scope changed while this was built: it may show either
                stored.save(
                    session,
                    scope,
                    fmt,
                    page,
                    version,
                    self.build,
                    rendered.content_type,
                    rendered.last_modified,
                    variants,
                )
        except SQLAlchemyError:
            # serving what was built matters more than sharing it
            log.warning("rendition not stored", exc_info=True, extra={"url": f"{scope}/{fmt}"})
