"""Per-scope values kept in the transaction of every post change, so that what a feed page
needs (its rows, its total, its Last-Modified, its version) costs the same at any corpus size.

A scope is ``(kind, key)``: ``SITE`` for the whole site, ``("categories", slug)`` and the like,
and ``("posts", slug)`` for one post's own page. ``scope_posts`` holds the visible posts of
each scope with their ``published`` (a page is a range scan of its primary key); ``scope_stats``
holds the count, the last change and a version bumped by every change touching the scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from feedsvc.kinds import ScopeKind
from feedsvc.storage.models import Post, Rendition, ScopePost, ScopeStat

Scope = tuple[str, str]
SITE: Scope = ("", "")
POSTS = "posts"  # a post's own page: the scope ("posts", slug)


@dataclass(frozen=True)
class Stats:
    count: int
    last_change: datetime | None
    version: int


def scope_of(kind: str | None, slug: str | None) -> Scope:
    """The scope a feed or list URL names (kind None: the site)."""
    return SITE if kind is None else (str(kind), slug or "")


def memberships(post: Post) -> set[Scope]:
    """Every scope a visible post is in: the site, its terms, its author and its own page."""
    found = {SITE, (POSTS, post.slug)}
    found |= {(ScopeKind.CATEGORIES.value, c.slug) for c in post.categories}
    found |= {(ScopeKind.TAGS.value, t.slug) for t in post.tags}
    if post.author_slug:
        found.add((ScopeKind.AUTHORS.value, post.author_slug))
    return found


@dataclass
class Pending:
    """The scope changes of many posts written in one transaction (a batch of an ingest pass),
    kept here and written once per scope by :meth:`write` before the commit: each scope touched
    gets one new version for the transaction, its count moved by the sum of the posts' moves."""

    delta: dict[Scope, int] = field(default_factory=dict)
    when: dict[Scope, datetime] = field(default_factory=dict)

    def add(
        self, touched: set[Scope], before: set[Scope], after: set[Scope], when: datetime
    ) -> None:
        for scope in touched:
            self.delta[scope] = self.delta.get(scope, 0) + (scope in after) - (scope in before)
            self.when[scope] = max(self.when.get(scope, when), when)

    def merge(self, other: Pending) -> None:
        for scope, delta in other.delta.items():
            self.delta[scope] = self.delta.get(scope, 0) + delta
            when = other.when[scope]
            self.when[scope] = max(self.when.get(scope, when), when)

    def write(self, session: Session) -> None:
        """One select (row locks) for every scope touched, and one delete of their renditions."""
        if not self.delta:
            return
        touched = sorted(self.delta)
        found: dict[Scope, ScopeStat] = {}
        for chunk in _chunks(touched, 400):
            query = select(ScopeStat).where(tuple_(ScopeStat.kind, ScopeStat.key).in_(chunk))
            query = query.with_for_update().execution_options(populate_existing=True)
            found.update({(s.kind, s.key): s for s in session.scalars(query)})
        for kind, key in touched:
            when = self.when[(kind, key)]
            stat = found.get((kind, key))
            if stat is None:
                stat = ScopeStat(kind=kind, key=key, visible_count=0, last_change=when, version=0)
                session.add(stat)
            stat.visible_count = (stat.visible_count or 0) + self.delta[(kind, key)]
            stat.last_change = max(stat.last_change, when)
            stat.version = (stat.version or 0) + 1
        # every stored rendition of these scopes is of an older version: none is served again
        for chunk in _chunks(touched, 400):
            session.execute(
                delete(Rendition).where(tuple_(Rendition.kind, Rendition.key).in_(chunk))
            )
        session.flush()
        self.delta.clear()
        self.when.clear()


def _chunks(values: list[Scope], size: int) -> Iterable[list[Scope]]:
    return (values[i : i + size] for i in range(0, len(values), size))


def sync(session: Session, post: Post, pending: Pending | None = None) -> set[Scope]:
    """Bring the scopes in step with ``post`` as it is now (caller's transaction, after flush).

    Every scope the post was in or is in now gets a new version and a last change no earlier
    than ``post.updated``; counts move by the scopes it left or joined. Returns those scopes.
    With ``pending`` the scope values are written later, by ``pending.write`` (a batch).
    """
    rows = session.execute(
        select(ScopePost.kind, ScopePost.key, ScopePost.published).where(
            ScopePost.post_id == post.id
        )
    ).all()
    before = {(kind, key) for kind, key, _ in rows}
    after = memberships(post) if post.visible else set()
    moved = any(published != post.published for _, _, published in rows)
    if rows and (moved or before != after):
        session.execute(delete(ScopePost).where(ScopePost.post_id == post.id))
        before_kept: set[Scope] = set()
    else:
        before_kept = before
    session.add_all(
        ScopePost(kind=kind, key=key, published=post.published, post_id=post.id)
        for kind, key in sorted(after - before_kept)
    )
    touched = before | after
    if pending is not None:
        session.flush()
        pending.add(touched, before, after, post.updated)
    else:
        _bump(session, touched, before, after, post.updated)
    return touched


def _bump(
    session: Session, touched: set[Scope], before: set[Scope], after: set[Scope], when: datetime
) -> None:
    for kind, key in sorted(touched):
        stat = session.get(ScopeStat, (kind, key), with_for_update=True)
        if stat is None:
            stat = ScopeStat(kind=kind, key=key, visible_count=0, last_change=when, version=0)
            session.add(stat)
        delta = ((kind, key) in after) - ((kind, key) in before)
        stat.visible_count = (stat.visible_count or 0) + delta
        stat.last_change = max(stat.last_change, when)
        stat.version = (stat.version or 0) + 1
        # the scope's older renditions can never be served again
        session.execute(
            delete(Rendition).where(
                Rendition.kind == kind, Rendition.key == key, Rendition.version < stat.version
            )
        )
    session.flush()


def stats(session: Session, scope: Scope) -> Stats:
    """The scope's count, last change and version (a scope never changed: 0, None, 0)."""
    kind, key = scope
    row = session.execute(
        select(ScopeStat.visible_count, ScopeStat.last_change, ScopeStat.version).where(
            ScopeStat.kind == kind, ScopeStat.key == key
        )
    ).first()
    return Stats(0, None, 0) if row is None else Stats(*row)


def versions(session: Session, scopes: Iterable[Scope]) -> dict[Scope, int]:
    """The current version of each scope (0 when it never changed)."""
    return {scope: stats(session, scope).version for scope in scopes}


def page_ids(session: Session, scope: Scope, page: int, page_size: int) -> list[int]:
    """The post ids of one page of the scope, newest first (an index range scan)."""
    kind, key = scope
    query = (
        select(ScopePost.post_id)
        .where(ScopePost.kind == kind, ScopePost.key == key)
        .order_by(ScopePost.published.desc(), ScopePost.post_id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return list(session.scalars(query))
