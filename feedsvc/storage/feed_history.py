"""Feed versions: what each recent version of a feed page held, looked up by its ETags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from feedsvc.storage.models import FeedVersion


@dataclass(frozen=True)
class Version:
    """One stored version: the ETag of each encoding it was sent in and its (id, updated)s."""

    etags: dict[str | None, str]  # content coding (None = identity) -> quoted ETag
    entries: list[tuple[str, str]]
    created_at: datetime


def record(
    session: Session,
    url: str,
    etags: dict[str | None, str],
    entries: Sequence[tuple[str, str]],
    now: datetime,
    keep: int,
    max_age: float,
) -> bool:
    """Store a version unless it is known; then keep the newest ``keep`` within ``max_age``.

    Returns True when a row was added. Work is bounded by ``keep``, not by the corpus.
    """
    known = session.scalar(
        select(FeedVersion.id).where(FeedVersion.url == url, FeedVersion.etag == etags[None])
    )
    if known is None:
        session.add(
            FeedVersion(
                url=url,
                etag=etags[None],
                gzip_etag=etags["gzip"],
                br_etag=etags.get("br"),
                entries=[list(pair) for pair in entries],
                created_at=now,
            )
        )
        session.flush()
    cutoff = now - timedelta(seconds=max_age)
    newest = select(FeedVersion.id).where(FeedVersion.url == url)
    newest = newest.order_by(FeedVersion.created_at.desc(), FeedVersion.id.desc()).limit(keep)
    stale = or_(FeedVersion.created_at < cutoff, FeedVersion.id.not_in(newest.scalar_subquery()))
    session.execute(
        delete(FeedVersion)
        .where(FeedVersion.url == url, stale)
        .execution_options(synchronize_session=False)
    )
    return known is None


def find(session: Session, url: str, etag: str, since: datetime) -> Version | None:
    """The version of ``url`` sent with ``etag`` (any encoding) stored at or after ``since``."""
    row = session.scalar(
        select(FeedVersion).where(
            FeedVersion.url == url,
            FeedVersion.created_at >= since,
            or_(
                FeedVersion.etag == etag,
                FeedVersion.gzip_etag == etag,
                FeedVersion.br_etag == etag,
            ),
        )
    )
    if row is None:
        return None
    etags: dict[str | None, str] = {None: row.etag, "gzip": row.gzip_etag}
    if row.br_etag:
        etags["br"] = row.br_etag
    return Version(etags, [(str(i), str(u)) for i, u in row.entries], row.created_at)
