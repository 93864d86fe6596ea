"""A feed or list page read with Core rows (``posts.page_of``) equals what loading the same page
as ORM posts gives, for varied corpora: the same posts in the same order, the same terms in the
same order, and so the same feed bytes."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.feeds import builder, service, views
from feedsvc.kinds import ScopeKind
from feedsvc.posts.errors import ItemFailed
from feedsvc.posts.model import SourceItem
from feedsvc.posts.store import apply_one, remove_by_key
from feedsvc.storage import posts
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Category, Post, Tag
from tests.conftest import T0, make_config

PAGE_SIZE = 3
# names whose slugs sort differently by code point and by a natural-language collation
CATEGORIES = ["Python", "数学", "Go", "a-b", "ab", "A b c", "Ωmega"]
TAGS = ["ml", "notes", "m-l", "z", "机器学习"]
AUTHORS = [None, "Ann", "李雷"]

post_items = st.builds(
    dict,
    key=st.sampled_from([f"p{i}" for i in range(9)]),
    title=st.text(min_size=1, max_size=12).filter(str.strip),
    categories=st.lists(st.sampled_from(CATEGORIES), max_size=4, unique=True),
    tags=st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
    author=st.sampled_from(AUTHORS),
    published=st.integers(-6, 3),  # hours from the clock: ties and future posts
    updated=st.none() | st.integers(0, 9),
    draft=st.booleans(),
    url=st.none() | st.just("https://elsewhere.example/x"),
    image=st.none() | st.just("https://img.example/a.png"),
    language=st.sampled_from([None, "en", "zh-CN"]),
    remove=st.booleans(),
)
corpora = st.lists(post_items, min_size=1, max_size=14)


def store(db: Database, cfg: Config, clock: FixedClock, spec: dict[str, Any]) -> None:
    if spec["remove"] and spec["draft"]:  # some removals (of whatever the key holds)
        remove_by_key(db, cfg, "posts", spec["key"], clock.now())
        return
    updated = spec["updated"]
    item = SourceItem(
        external_key=spec["key"],
        title=spec["title"],
        content_html=f"<p>{spec['title']}</p>",
        content_hash=hashlib.sha256(repr(sorted(spec.items())).encode()).hexdigest(),
        default_slug=spec["key"],
        published=T0 + timedelta(hours=spec["published"]),
        updated=None if updated is None else T0 + timedelta(hours=max(updated, spec["published"])),
        categories=tuple(spec["categories"]),
        tags=tuple(spec["tags"]),
        author=spec["author"],
        url=spec["url"],
        image=spec["image"],
        draft=spec["draft"] and not spec["remove"],
        language=spec["language"],
    )
    try:
        apply_one(db, cfg, "posts", item, clock.now())
    except ItemFailed:
        pass


def orm_page(db: Database, kind: str | None, slug: str | None, page: int) -> list[posts.PageRow]:
    """The page as ORM posts (selectin-loaded terms), found without the scope tables."""
    with db.read() as session:
        query = posts.visible_query(kind, slug).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        return [posts.page_row(p) for p in session.scalars(query)]


def every_scope(db: Database) -> Iterator[tuple[str | None, str | None]]:
    yield None, None
    with db.read() as session:
        for slug in session.scalars(select(Category.slug)):
            yield ScopeKind.CATEGORIES, slug
        for slug in session.scalars(select(Tag.slug)):
            yield ScopeKind.TAGS, slug
        authors = session.scalars(select(Post.author_slug).where(Post.author_slug.is_not(None)))
        for slug in set(authors):
            yield ScopeKind.AUTHORS, slug


def assert_core_equals_orm(db: Database, cfg: Config) -> int:
    """Every page of every scope, both ways; returns how many pages had posts."""
    compared = 0
    for kind, slug in every_scope(db):
        with db.read() as session:
            _, stats = posts.page_of(session, kind, slug, 1, PAGE_SIZE)
        last = service.last_page(stats.count, PAGE_SIZE)
        for page in range(1, last + 2):  # one past the end: empty both ways
            with db.read() as session:
                core, _ = posts.page_of(session, kind, slug, page, PAGE_SIZE)
            expected = orm_page(db, kind, slug, page)
            assert core == expected, (kind, slug, page)
            compared += bool(core)
            if page > last:
                continue
            key = service.FeedKey("atom", kind, slug)
            built = service.build_feed(db, cfg, key, page)
            assert built is not None and built.doc is not None
            items = [service.feed_item(cfg, p) for p in expected]
            assert list(built.doc.items) == items
            with db.read() as session:
                name = posts.term_name(session, kind, slug or "") if kind else None
            doc = service._doc(cfg, key, name, page, last, items)
            assert built.body == builder.build("atom", doc)
            listed = views.list_view(db, cfg, kind, slug, page)
            assert listed is not None
            assert listed.entries == [views.entry(cfg, p) for p in expected]
    return compared


_TEMPLATE: dict[str, Path] = {}


def fresh_db(workdir: Path) -> tuple[Config, Database]:
    if "path" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp()) / "template.db"
        database = Database(f"sqlite:///{template}")
        upgrade(database)
        database.dispose()
        _TEMPLATE["path"] = template
    shutil.copy(_TEMPLATE["path"], workdir / "feedsvc.db")
    cfg = make_config(workdir, feeds={"page_size": PAGE_SIZE})
    return cfg, Database(cfg.storage.url)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpora)
def test_core_page_equals_the_orm_page(specs):
    with tempfile.TemporaryDirectory() as tmp:
        cfg, db = fresh_db(Path(tmp))
        clock = FixedClock(T0)
        try:
            for spec in specs:
                store(db, cfg, clock, spec)
            assert_core_equals_orm(db, cfg)
        finally:
            db.dispose()


def test_core_page_equals_the_orm_page_on_postgresql(pg_schema_url, tmp_path):
    """PostgreSQL orders term slugs by its collation: the Core page follows it as the ORM does."""
    cfg = make_config(tmp_path, feeds={"page_size": PAGE_SIZE}, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    try:
        upgrade(db)
        clock = FixedClock(T0)
        for i in range(12):
            spec = {
                "key": f"p{i}",
                "title": f"第 {i} 篇",
                "categories": CATEGORIES[i % 4 : i % 4 + 4],
                "tags": TAGS[: i % 5 + 1],
                "author": AUTHORS[i % 3],
                "published": -(i % 4),  # ties in published: ordered by id
                "updated": None,
                "draft": False,
                "url": None if i % 2 else "https://elsewhere.example/x",
                "image": None,
                "language": None,
                "remove": False,
            }
            store(db, cfg, clock, spec)
        assert assert_core_equals_orm(db, cfg) >= 5
    finally:
        db.dispose()


@pytest.mark.parametrize("page", [1, 2])
def test_a_page_out_of_range_is_empty_with_the_stats(db, cfg, page):
    with db.read() as session:
        rows, stats = posts.page_of(session, None, None, page, 20)
    assert rows == [] and stats.count == 0 and stats.last_change is None
