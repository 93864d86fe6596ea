"""Markdown passes rendered in worker processes and stored in batches (issue 15 item 3), on a real
SQLite file and on PostgreSQL: the pool stores what in-process rendering stores, a bad item in a
batch is that item's error and the others are stored, a no-op rescan records nothing, a worker
that dies mid-pass costs nothing but speed."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.sources.ingest import ingest_source
from feedsvc.sources.render_pool import SMALL_PASS
from feedsvc.storage import content_state
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Category, Event, Post, ScopeStat, Tag
from tests.conftest import T0, make_config

N = SMALL_PASS + 60  # more changed files than SMALL_PASS: the pass uses the pool


def post_text(n: int, **meta: str) -> str:
    fields = {
        "title": f"第 {n} 篇笔记",
        "date": f"2026-02-{1 + n % 28:02d}T08:{n % 60:02d}:00Z",
        "categories": f"[机器学习, 第{n % 5}类]",
        "tags": f"[t{n % 7}, softmax]",
        **meta,
    }
    head = "\n".join(f"{k}: {v}" for k, v in fields.items())
    body = (
        f"# 第 {n} 篇笔记\n\n公式 $a_{n}^2 + b^2$ 与代码：\n\n```python\nprint({n})\n```\n\n"
        + "正文很长。" * (20 + n % 40)
    )
    return f"---\n{head}\n---\n\n{body}\n"


def write_posts(root: Path, count: int = N) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (root / f"p{n:04d}.md").write_text(post_text(n), encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedsvc.db'}"
    else:
        yield request.getfixturevalue("pg_schema_url")


def site(root: Path, url: str, workers: int) -> tuple[Config, Database]:
    cfg = make_config(root, storage={"url": url}, ingest={"workers": workers})
    db = Database(cfg.storage.url)
    upgrade(db)
    return cfg, db


def stored(db: Database) -> dict[str, dict[str, Any]]:
    """Every stored post as plain values (what the feeds are made of), by key."""
    found = {}
    with db.read() as session:
        for post in session.scalars(select(Post)):
            found[post.external_key] = {
                "slug": post.slug,
                "title": post.title,
                "html": post.content_html,
                "summary": post.summary,
                "hash": post.content_hash,
                "render": post.render_version,
                "published": post.published,
                "visible": post.visible,
                "categories": sorted(c.slug for c in post.categories),
                "tags": sorted(t.slug for t in post.tags),
            }
    return found


def recorded(db: Database) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.scalars(select(Event).order_by(Event.id))
        return [(e.type, e.payload["title"]) for e in rows]


def scope_values(db: Database) -> dict[tuple[str, str], tuple[int, int]]:
    with db.read() as session:
        rows = session.scalars(select(ScopeStat))
        return {(s.kind, s.key): (s.visible_count, s.version) for s in rows}


def test_the_pool_stores_what_in_process_rendering_stores(tmp_path: Path) -> None:
    results = {}
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        write_posts(root / "posts")
        cfg, db = site(root, f"sqlite:///{root / 'feedsvc.db'}", workers)
        children: list[int] = []

        def progress(done: int, total: int | None, seen: list[int] = children) -> None:
            seen.append(len(multiprocessing.active_children()))

        report = ingest_source(db, cfg, cfg.sources[0], FixedClock(T0), progress=progress)
        assert (report.new, report.failed) == (N, 0), report.errors
        assert (max(children) > 0) == (workers > 1)  # the pool ran only when asked for
        results[workers] = (stored(db), recorded(db), scope_values(db))
        db.dispose()
    assert results[1] == results[2]
    posts, events, _ = results[2]
    assert len(posts) == N
    assert sorted(events) == sorted(("post.published", f"第 {n} 篇笔记") for n in range(N))
    sample = posts["p0007.md"]
    assert sample["title"] == "第 7 篇笔记"
    assert "第 7 篇笔记" not in sample["html"]  # the title heading is dropped, as in-process
    assert sample["summary"].startswith("公式 [公式] 与代码： [代码]")
    assert (sample["categories"], sample["tags"]) == (["机器学习", "第2类"], ["softmax", "t0"])


def test_bad_items_in_a_batch_are_their_own_errors(tmp_path: Path, storage_url: str) -> None:
    cfg, db = site(tmp_path, storage_url, 2)
    posts_dir = tmp_path / "posts"
    write_posts(posts_dir)
    (posts_dir / "p0010.md").write_text("---\ntitle: [\n---\n\nbroken front matter\n", "utf-8")
    (posts_dir / "p0020.md").write_text(post_text(20, slug="shared-slug"), encoding="utf-8")
    taken = post_text(21, slug="shared-slug", categories="[只在这里的分类]", tags="[lonely-tag]")
    (posts_dir / "p0021.md").write_text(taken, encoding="utf-8")
    try:
        report = ingest_source(db, cfg, cfg.sources[0], FixedClock(T0))
        reasons = {e.item: e.reason for e in report.errors}
        assert set(reasons) == {"p0010.md", "p0021.md"}
        assert "front matter" in reasons["p0010.md"] or "title" in reasons["p0010.md"]
        assert "shared-slug" in reasons["p0021.md"]
        assert (report.new, report.failed) == (N - 2, 2)
        posts = stored(db)
        assert set(posts) == {f"p{n:04d}.md" for n in range(N)} - {"p0010.md", "p0021.md"}
        assert posts["p0020.md"]["slug"] == "shared-slug"
        assert len(recorded(db)) == N - 2  # one event per stored post, none for the failed
        with db.read() as session:  # the failed item's new terms were not left behind
            categories = set(session.scalars(select(Category.name)))
            tags = set(session.scalars(select(Tag.name)))
        assert "只在这里的分类" not in categories and "lonely-tag" not in tags
        assert {"机器学习", "第0类"} <= categories
        counts = scope_values(db)
        assert counts[("", "")][0] == N - 2

        again = ingest_source(db, cfg, cfg.sources[0], FixedClock(T0))  # failed files are retried
        assert (again.new, again.failed, again.unchanged) == (0, 2, N - 2)
    finally:
        db.dispose()


def test_a_no_op_rescan_records_nothing(tmp_path: Path, storage_url: str) -> None:
    cfg, db = site(tmp_path, storage_url, 2)
    write_posts(tmp_path / "posts")
    try:
        first = ingest_source(db, cfg, cfg.sources[0], FixedClock(T0))
        assert (first.new, first.failed) == (N, 0)
        before = (stored(db), recorded(db), scope_values(db), content_state.read_version(db))
        again = ingest_source(db, cfg, cfg.sources[0], FixedClock(T0))
        assert again.counts() == {
            "new": 0, "updated": 0, "unchanged": N, "removed": 0, "failed": 0
        }  # fmt: skip
        assert (
            stored(db),
            recorded(db),
            scope_values(db),
            content_state.read_version(db),
        ) == before
    finally:
        db.dispose()


def test_one_changed_file_among_many_is_one_update(tmp_path: Path, storage_url: str) -> None:
    cfg, db = site(tmp_path, storage_url, 2)
    write_posts(tmp_path / "posts")
    try:
        ingest_source(db, cfg, cfg.sources[0], FixedClock(T0))
        versions = scope_values(db)
        path = tmp_path / "posts" / "p0003.md"
        path.write_text(post_text(3, title="第 3 篇笔记（修订）"), encoding="utf-8")
        (tmp_path / "posts" / "p0004.md").unlink()
        again = ingest_source(db, cfg, cfg.sources[0], FixedClock(T0))
        assert (again.updated, again.removed, again.unchanged) == (1, 1, N - 2)
        assert recorded(db)[N:] == [
            ("post.updated", "第 3 篇笔记（修订）"),
            ("post.deleted", "第 4 篇笔记"),
        ]
        after = scope_values(db)
        changed = {scope for scope in after if after[scope] != versions.get(scope)}
        # the site, p0003 and p0004 themselves, their categories and tags; nothing else
        assert changed == {
            ("", ""),
            ("posts", "p0003"),
            ("posts", "p0004"),
            ("categories", "机器学习"),
            ("categories", "第3类"),
            ("categories", "第4类"),
            ("tags", "softmax"),
            ("tags", "t3"),
            ("tags", "t4"),
        }
        assert after[("", "")][0] == N - 1
        assert after[("categories", "第4类")][0] == versions[("categories", "第4类")][0] - 1
    finally:
        db.dispose()


def test_a_worker_killed_mid_pass_costs_only_speed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    count = 3 * SMALL_PASS
    cfg, db = site(tmp_path, f"sqlite:///{tmp_path / 'feedsvc.db'}", 2)
    write_posts(tmp_path / "posts", count)
    killed: list[int] = []

    def progress(done: int, total: int | None) -> None:
        workers = multiprocessing.active_children()
        if not killed and workers:
            killed.append(workers[0].pid or 0)
            os.kill(killed[0], signal.SIGKILL)

    try:
        report = ingest_source(db, cfg, cfg.sources[0], FixedClock(T0), progress=progress)
        assert killed, "no render worker was seen running"
        assert (report.new, report.failed) == (count, 0), report.errors
        assert len(stored(db)) == count
        assert any("died" in r.getMessage() for r in caplog.records)
        assert not multiprocessing.active_children()  # the broken pool was shut down
    finally:
        db.dispose()
