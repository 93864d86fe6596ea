"""Posts: lookups, taxonomy, the JSON snapshot used by events and the API, and feed queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, delete, func, literal, or_, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from feedsvc import urls
from feedsvc.content.text import slugify
from feedsvc.kinds import ScopeKind
from feedsvc.storage import scopes
from feedsvc.storage.models import (
    Category,
    Post,
    ScopePost,
    Tag,
    post_categories,
    post_tags,
)
from feedsvc.timefmt import rfc3339


def tag_uri(base_url: str, first_seen: datetime, source: str, key: str) -> str:
    """A post's id: an RFC 4151 tag URI dated the day it was first seen, stable forever."""
    specific = quote(f"{source}/{key}", safe=urls.TAG_SAFE)
    return urls.tag_uri(urls.host_of(base_url), f"{first_seen:%Y-%m-%d}", specific)


def locked(query: Select[Any], lock: bool) -> Select[Any]:
    """``query`` taking a row lock (SELECT … FOR UPDATE) when ``lock``: a writer that reads a
    post to change it waits for any other transaction changing it, then sees its commit, so
    two passes never both record one change. SQLite renders no FOR UPDATE (its writers already
    hold the database's write lock); the identity map is refreshed from the locked row."""
    if not lock:
        return query
    return query.with_for_update().execution_options(populate_existing=True)


def get_by_key(session: Session, source: str, key: str, *, lock: bool = False) -> Post | None:
    query = select(Post).where(Post.source == source, Post.external_key == key)
    return session.scalar(locked(query, lock))


def get_by_keys(
    session: Session, source: str, keys: Iterable[str], *, lock: bool = False
) -> dict[str, Post]:
    """The stored posts of a source for many keys in one select (row locks taken in key order,
    so two batches over the same keys wait on each other rather than deadlock)."""
    found: dict[str, Post] = {}
    wanted = sorted(set(keys))
    for i in range(0, len(wanted), 500):
        query = select(Post).where(
            Post.source == source, Post.external_key.in_(wanted[i : i + 500])
        )
        for post in session.scalars(locked(query.order_by(Post.external_key), lock)):
            found[post.external_key] = post
    return found


def get_by_id(session: Session, post_id: int, *, lock: bool = False) -> Post | None:
    return session.scalar(locked(select(Post).where(Post.id == post_id), lock))


def get_by_slug(session: Session, slug: str) -> Post | None:
    return session.scalar(select(Post).where(Post.slug == slug))


def stamps_for_source(session: Session, source: str) -> dict[str, tuple[int | None, int | None]]:
    """(mtime_ns, size) of every live post of a source: the stat-first skip list."""
    rows = session.execute(
        select(Post.external_key, Post.file_mtime_ns, Post.file_size).where(
            Post.source == source, Post.removed.is_(False)
        )
    )
    return {key: (mtime, size) for key, mtime, size in rows}


def stale_render_ids(session: Session, version: str, source: str | None = None) -> list[int]:
    """Posts made from Markdown by a renderer other than ``version`` (removed ones too)."""
    query = select(Post.id).where(
        Post.markdown.is_not(None),
        or_(Post.render_version.is_(None), Post.render_version != version),
    )
    if source is not None:
        query = query.where(Post.source == source)
    return list(session.scalars(query.order_by(Post.id)))


def due_ids(session: Session, now: datetime) -> list[int]:
    """Posts waiting only for their date (not draft, not removed, not yet visible)."""
    query = select(Post.id).where(
        Post.visible.is_(False),
        Post.draft.is_(False),
        Post.removed.is_(False),
        Post.published <= now,
    )
    return list(session.scalars(query))


def _terms(session: Session, model: type[Category] | type[Tag], names: Iterable[str]) -> list[Any]:
    wanted = _wanted(names)
    found: list[Any] = []
    # created in slug order, so two transactions adding the same new terms wait on each other
    # in one order (a unique-key wait, then a retry) rather than deadlock
    for slug in sorted(wanted):
        term = session.scalar(select(model).where(model.slug == slug))
        if term is None:
            term = model(slug=slug, name=wanted[slug])
            session.add(term)
            session.flush()
        found.append(term)
    return found


def set_taxonomy(
    session: Session,
    post: Post,
    categories: Sequence[str],
    tags: Sequence[str],
    terms: Terms | None = None,
) -> None:
    if terms is None:
        post.categories = _terms(session, Category, categories)
        post.tags = _terms(session, Tag, tags)
    else:
        post.categories = terms.of(Category, categories)
        post.tags = terms.of(Tag, tags)


def _wanted(names: Iterable[str]) -> dict[str, str]:
    """slug -> the first name spelling it."""
    wanted: dict[str, str] = {}
    for name in names:
        name = name.strip()
        if (slug := slugify(name)) and slug not in wanted:
            wanted[slug] = name
    return wanted


class Terms:
    """The categories and tags of a batch of posts: the stored ones read in one select per
    kind, the missing inserted in one statement per kind (a concurrent batch inserting the same
    ones first is no error: its rows are read back)."""

    def __init__(self, session: Session, categories: Iterable[str], tags: Iterable[str]) -> None:
        self.found: dict[tuple[str, str], Any] = {}
        self.created: dict[str, set[int]] = {}  # table -> ids this transaction inserted
        for model, names in ((Category, categories), (Tag, tags)):
            self._load(session, model, _wanted(names))

    def _load(
        self, session: Session, model: type[Category] | type[Tag], wanted: dict[str, str]
    ) -> None:
        table = model.__tablename__
        slugs = sorted(wanted)
        terms: Any = session.scalars(select(model).where(model.slug.in_(slugs)))
        for term in terms:
            self.found[(table, term.slug)] = term
        missing = [{"slug": s, "name": wanted[s]} for s in slugs if (table, s) not in self.found]
        if not missing:
            return
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = insert(model).on_conflict_do_nothing(index_elements=["slug"])
        created = session.execute(statement.returning(model.id), missing).scalars().all()
        self.created[table] = set(created)
        new = [m["slug"] for m in missing]
        terms = session.scalars(select(model).where(model.slug.in_(new)))
        for term in terms:
            self.found[(table, term.slug)] = term

    def of(self, model: type[Category] | type[Tag], names: Iterable[str]) -> list[Any]:
        table = model.__tablename__
        return [self.found[(table, slug)] for slug in sorted(_wanted(names))]

    def drop_unused(self, session: Session) -> None:
        """Delete the terms this transaction inserted that no post has (their items failed)."""
        session.flush()
        for model, column in (
            (Category, post_categories.c.category_id),
            (Tag, post_tags.c.tag_id),
        ):
            ids = self.created.get(model.__tablename__)
            if ids:
                used = select(column).where(column.in_(ids))
                session.execute(delete(model).where(model.id.in_(ids), model.id.not_in(used)))


def post_url(post: Post | PageRow, base_url: str) -> str:
    """The entry's alternate link: its external URL, else its page here."""
    return post.url or urls.absolute(base_url, urls.post_path(post.slug))


def snapshot(post: Post, base_url: str) -> dict[str, Any]:
    """The post as JSON: webhook payload ``data`` and the admin API's representation."""
    return {
        "id": post.guid,
        "slug": post.slug,
        "url": post_url(post, base_url),
        "title": post.title,
        "summary": post.summary,
        "content_html": post.content_html,
        "author": post.author,
        "image": post.image,
        "categories": [c.name for c in post.categories],
        "tags": [t.name for t in post.tags],
        "published": rfc3339(post.published),
        "updated": rfc3339(post.updated),
        "source": post.source,
        "draft": post.draft,
    }


def visible_query(kind: str | None = None, slug: str | None = None) -> Select[Any]:
    """Visible posts of the site, or of one category/tag/author; newest first."""
    query = in_scope(select(Post).where(Post.visible.is_(True)), kind, slug)
    return query.order_by(Post.published.desc(), Post.id.desc())


def in_scope(query: Select[Any], kind: str | None, slug: str | None) -> Select[Any]:
    """``query`` narrowed to one category, tag or author (``kind`` None: the whole site)."""
    if kind == ScopeKind.CATEGORIES:
        return query.join(post_categories).join(Category).where(Category.slug == slug)
    if kind == ScopeKind.TAGS:
        return query.join(post_tags).join(Tag).where(Tag.slug == slug)
    if kind == ScopeKind.AUTHORS:
        return query.where(Post.author_slug == slug)
    return query


@dataclass(frozen=True)
class TermRow:
    slug: str
    name: str


@dataclass(frozen=True)
class PageRow:
    """What a feed entry or a list page shows of a post: plain values read with Core rows
    (no ORM identity map); ``categories`` and ``tags`` in slug order, like ``Post``'s."""

    id: int
    guid: str
    slug: str
    url: str | None
    title: str
    summary: str
    content_html: str
    author: str | None
    language: str | None
    image: str | None
    published: datetime
    updated: datetime
    categories: tuple[TermRow, ...] = ()
    tags: tuple[TermRow, ...] = ()


# the Post columns a PageRow holds, in its field order (terms come from their own query)
_PAGE_COLUMNS = (
    Post.id,
    Post.guid,
    Post.slug,
    Post.url,
    Post.title,
    Post.summary,
    Post.content_html,
    Post.author,
    Post.language,
    Post.image,
    Post.published,
    Post.updated,
)


def _page_row(
    values: Sequence[Any], categories: tuple[TermRow, ...], tags: tuple[TermRow, ...]
) -> PageRow:
    """A PageRow from the values of ``_PAGE_COLUMNS`` (a Core row or an ORM post's)."""
    (id_, guid, slug, url, title, summary, content_html, author, language, image) = values[:10]
    published, updated = values[10:12]
    return PageRow(
        id_, guid, slug, url, title, summary, content_html, author, language, image,
        published, updated, categories, tags,
    )  # fmt: skip


def page_row(post: Post) -> PageRow:
    """A loaded ORM post as the PageRow the page query reads for it."""
    values = [getattr(post, c.key) for c in _PAGE_COLUMNS]
    cats = tuple(TermRow(c.slug, c.name) for c in post.categories)
    return _page_row(values, cats, tuple(TermRow(t.slug, t.name) for t in post.tags))


def page_of(
    session: Session, kind: str | None, slug: str | None, page: int, page_size: int
) -> tuple[list[PageRow], scopes.Stats]:
    """One page of visible posts, newest first, and the scope's stats (its total for last-page
    links, its last change), from the maintained scope tables: two queries for the page (the
    posts by a range scan of ``scope_posts``' primary key; their categories and tags in one
    UNION), whose cost does not grow with the corpus."""
    scope = scopes.scope_of(kind, slug)
    stats = scopes.stats(session, scope)
    query = (
        select(*_PAGE_COLUMNS)
        .select_from(ScopePost)
        .join(Post, Post.id == ScopePost.post_id)
        .where(ScopePost.kind == scope[0], ScopePost.key == scope[1])
        .order_by(ScopePost.published.desc(), ScopePost.post_id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = session.execute(query).all()
    if not rows:
        return [], stats
    cats, tags = _page_terms(session, [r[0] for r in rows])
    empty: tuple[TermRow, ...] = ()
    found = [_page_row(r, cats.get(r[0], empty), tags.get(r[0], empty)) for r in rows]
    return found, stats


def _page_terms(
    session: Session, ids: list[int]
) -> tuple[dict[int, tuple[TermRow, ...]], dict[int, tuple[TermRow, ...]]]:
    """The categories and the tags of these posts (one query), each post's in slug order."""
    cat_rows = (
        select(literal(0).label("t"), post_categories.c.post_id, Category.slug, Category.name)
        .join(Category, Category.id == post_categories.c.category_id)
        .where(post_categories.c.post_id.in_(ids))
    )
    tag_rows = (
        select(literal(1).label("t"), post_tags.c.post_id, Tag.slug, Tag.name)
        .join(Tag, Tag.id == post_tags.c.tag_id)
        .where(post_tags.c.post_id.in_(ids))
    )
    # ordered by the database, as the ORM relationships are (its collation decides)
    both = union_all(cat_rows, tag_rows).order_by("t", "post_id", "slug")
    found: tuple[dict[int, list[TermRow]], dict[int, list[TermRow]]] = ({}, {})
    for which, post_id, term_slug, name in session.execute(both):
        found[which].setdefault(post_id, []).append(TermRow(term_slug, name))
    cats, tags = ({k: tuple(v) for k, v in d.items()} for d in found)
    return cats, tags


def term_name(session: Session, kind: str, slug: str) -> str | None:
    """The display name of a category/tag/author slug, or None when it does not exist."""
    if kind == ScopeKind.CATEGORIES:
        return session.scalar(select(Category.name).where(Category.slug == slug))
    if kind == ScopeKind.TAGS:
        return session.scalar(select(Tag.name).where(Tag.slug == slug))
    if kind == ScopeKind.AUTHORS:
        return session.scalar(select(Post.author).where(Post.author_slug == slug).limit(1))
    return None


def get_by_guid(session: Session, guid: str, *, lock: bool = False) -> Post | None:
    return session.scalar(locked(select(Post).where(Post.guid == guid), lock))


def get_by_idempotency_prefix(session: Session, prefix: str) -> Post | None:
    """The post whose ``idempotency_key`` starts with ``prefix`` (admin API replays)."""
    query = select(Post).where(Post.idempotency_key.startswith(prefix, autoescape=True))
    return session.scalar(query.limit(1))


def admin_page(
    session: Session, source: str | None, page: int, per_page: int
) -> tuple[list[Post], int]:
    """One page of live (not removed) posts of every source, or of one; newest first."""
    query = select(Post).where(Post.removed.is_(False))
    if source is not None:
        query = query.where(Post.source == source)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Post.published.desc(), Post.id.desc())
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), int(total)
