"""The maintained scope values (scope_posts, scope_stats) always equal a recount from posts."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.kinds import Outcome
from feedsvc.posts.errors import ItemFailed
from feedsvc.posts.model import SourceItem
from feedsvc.posts.store import apply_one, publish_due, remove_by_key
from feedsvc.storage import posts, scopes
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Post, ScopePost, ScopeStat
from tests.conftest import T0, make_config

KEYS = [f"p{i}.md" for i in range(5)]
CATEGORIES = ["Python", "数学", "Go"]
TAGS = ["ml", "notes"]
AUTHORS = [None, "Ann", "李雷"]

items = st.builds(
    dict,
    op=st.just("put"),
    key=st.sampled_from(KEYS),
    title=st.sampled_from(["One", "Two", "三"]),
    categories=st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True),
    tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
    author=st.sampled_from(AUTHORS),
    published=st.integers(-48, 48),  # hours from the clock's start
    updated=st.none() | st.integers(-48, 96),
    draft=st.booleans(),
    slug=st.none() | st.sampled_from(["fixed-a", "fixed-b"]),
)
removals = st.builds(dict, op=st.just("remove"), key=st.sampled_from(KEYS))
ticks = st.builds(dict, op=st.just("tick"), hours=st.integers(1, 60))
operations = st.lists(st.one_of(items, removals, ticks), min_size=1, max_size=25)


def all_scopes(session: Session) -> set[scopes.Scope]:
    """Every scope a post could be in, named from the posts table (slugs included)."""
    found: set[scopes.Scope] = {scopes.SITE}
    for post in session.scalars(select(Post)):
        found |= scopes.memberships(post)
    found |= {(k, key) for k, key in session.execute(select(ScopeStat.kind, ScopeStat.key))}
    return found


def recount_members(session: Session, scope: scopes.Scope) -> list[int]:
    """The visible posts of a scope, newest first, straight from posts and the term tables."""
    kind, key = scope
    if kind == scopes.POSTS:
        query = select(Post).where(Post.visible.is_(True), Post.slug == key)
        query = query.order_by(Post.published.desc(), Post.id.desc())
    else:
        query = posts.visible_query(kind or None, key or None)
    return [p.id for p in session.scalars(query)]


def recount_newest(session: Session, scope: scopes.Scope) -> datetime | None:
    kind, key = scope
    query = select(func.max(Post.updated)).where(Post.visible.is_(True))
    if kind == scopes.POSTS:
        return session.scalar(query.where(Post.slug == key))
    return session.scalar(posts.in_scope(query, kind or None, key or None))


def memberships_now(db: Database, key: str) -> set[scopes.Scope]:
    with db.read() as session:
        post = posts.get_by_key(session, "posts", key)
        return scopes.memberships(post) if post is not None and post.visible else set()


class Model:
    """What each scope's last change and version must be, from before/after memberships."""

    def __init__(self) -> None:
        self.last: dict[scopes.Scope, datetime] = {}
        self.version: dict[scopes.Scope, int] = {}

    def touch(self, touched: set[scopes.Scope], when: datetime) -> None:
        for scope in touched:
            self.last[scope] = max(self.last.get(scope, when), when)
            self.version[scope] = self.version.get(scope, 0) + 1


def apply(db: Database, cfg: Config, clock: FixedClock, model: Model, op: dict[str, Any]) -> None:
    if op["op"] == "tick":
        clock.advance(hours=op["hours"])
        with db.read() as session:
            due = {p.external_key for p in session.scalars(select(Post)) if not p.visible}
        before = {key: memberships_now(db, key) for key in due}
        publish_due(db, cfg, clock.now())
        for key in due:
            after = memberships_now(db, key)
            if after != before[key]:
                model.touch(before[key] | after, updated_of(db, key))
        return
    key = op["key"]
    before = memberships_now(db, key)
    if op["op"] == "remove":
        if remove_by_key(db, cfg, "posts", key, clock.now()) and before:
            model.touch(before, updated_of(db, key))
        return
    fields = {k: v for k, v in op.items() if k not in ("op", "key", "title")}
    fields["published"] = T0 + timedelta(hours=fields["published"])
    if fields["updated"] is not None:
        fields["updated"] = T0 + timedelta(hours=fields["updated"])
    digest = hashlib.sha256(repr(sorted(op.items())).encode()).hexdigest()
    item = SourceItem(
        external_key=key,
        title=op["title"],
        content_html=f"<p>{op['title']}</p>",
        content_hash=digest,
        categories=tuple(fields.pop("categories")),
        tags=tuple(fields.pop("tags")),
        default_slug=key.removesuffix(".md"),
        **fields,
    )
    try:
        outcome = apply_one(db, cfg, "posts", item, clock.now())
    except ItemFailed:  # a taken explicit slug: the item fails and changes nothing
        return
    after = memberships_now(db, key)
    if outcome != Outcome.UNCHANGED and (before or after):
        model.touch(before | after, updated_of(db, key))


def updated_of(db: Database, key: str) -> datetime:
    with db.read() as session:
        post = posts.get_by_key(session, "posts", key)
        assert post is not None
        return post.updated


def assert_in_step(db: Database, model: Model) -> None:
    with db.read() as session:
        for scope in sorted(all_scopes(session)):
            members = recount_members(session, scope)
            stats = scopes.stats(session, scope)
            assert stats.count == len(members), scope
            assert scopes.page_ids(session, scope, 1, 1000) == members, scope
            assert stats.version == model.version.get(scope, 0), scope
            assert stats.last_change == model.last.get(scope), scope
            newest = recount_newest(session, scope)
            if newest is not None:  # Last-Modified is never older than a visible post
                assert stats.last_change is not None and stats.last_change >= newest
        kept = session.scalar(select(func.count()).select_from(ScopePost))
        assert kept == sum(len(recount_members(session, s)) for s in all_scopes(session)), (
            "stray scope_posts rows"
        )


_TEMPLATE: dict[str, Path] = {}


def fresh_db(workdir: Path) -> tuple[Config, Database]:
    """A migrated SQLite file (copied from one migrated once: migrations are slow)."""
    if "path" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp()) / "template.db"
        database = Database(f"sqlite:///{template}")
        upgrade(database)
        database.dispose()
        _TEMPLATE["path"] = template
    shutil.copy(_TEMPLATE["path"], workdir / "feedsvc.db")
    cfg = make_config(workdir)
    return cfg, Database(cfg.storage.url)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_maintained_scope_values_equal_a_recount(ops):
    with tempfile.TemporaryDirectory() as tmp:
        cfg, db = fresh_db(Path(tmp))
        clock, model = FixedClock(T0), Model()
        try:
            for op in ops:
                apply(db, cfg, clock, model, op)
                assert_in_step(db, model)
        finally:
            db.dispose()


def test_migration_backfills_counts_and_last_change_from_existing_posts(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db, "0005")
    rows = [  # (slug, categories, visible, removed, updated hours)
        ("a", ["Python"], True, False, 1),
        ("b", ["Python", "Go"], True, False, 5),
        ("c", ["Go"], False, True, 9),  # removed: still moves Go's Last-Modified
        ("d", ["Go"], False, False, 20),  # a draft: counts for nothing
    ]
    with db.write() as session:
        for slug, cats, visible, removed, hours in rows:
            post = Post(
                guid=f"tag:x,2026:{slug}",
                source="posts",
                external_key=slug,
                slug=slug,
                title=slug,
                content_html="<p></p>",
                summary="",
                content_hash=slug,
                published=T0,
                updated=T0 + timedelta(hours=hours),
                first_seen=T0,
                draft=not visible and not removed,
                removed=removed,
                visible=visible,
                author="Ann",
                author_slug="ann",
            )
            session.add(post)
            session.flush()
            posts.set_taxonomy(session, post, cats, [])
    upgrade(db)
    with db.read() as session:
        got = {
            scope: (s.count, s.last_change, s.version)
            for scope in [
                ("", ""),
                ("categories", "python"),
                ("categories", "go"),
                ("authors", "ann"),
            ]
            for s in [scopes.stats(session, scope)]
        }
        assert got == {
            ("", ""): (2, T0 + timedelta(hours=9), 1),
            ("categories", "python"): (2, T0 + timedelta(hours=5), 1),
            ("categories", "go"): (1, T0 + timedelta(hours=9), 1),
            ("authors", "ann"): (2, T0 + timedelta(hours=9), 1),
        }
        for scope in got:
            assert scopes.page_ids(session, scope, 1, 10) == recount_members(session, scope)
        assert scopes.stats(session, ("posts", "a")).count == 1
        assert scopes.stats(session, ("posts", "d")).count == 0
    db.dispose()
