"""Markdown ingest against a real SQLite file with a fixed clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.posts.store import publish_due
from feedsvc.sources.ingest import ingest_source
from feedsvc.storage import content_state
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Event, IngestRun, Post
from tests.conftest import EXAMPLES, T0, make_config


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def post_md(title: str, body: str = "正文。", **meta: str) -> str:
    lines = [f"title: {title}"] + [f"{k}: {v}" for k, v in meta.items()]
    return "---\n" + "\n".join(lines) + "\n---\n\n" + body + "\n"


def run(db: Database, cfg: Config, clock: FixedClock):
    return ingest_source(db, cfg, cfg.sources[0], clock)


def all_posts(db: Database) -> dict[str, Post]:
    with db.read() as s:
        return {p.external_key: p for p in s.scalars(select(Post))}


def events(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        rows = s.scalars(select(Event).order_by(Event.id))
        return [(e.type, e.payload["title"]) for e in rows]


def test_new_posts_are_stored_with_taxonomy_and_events(db, cfg, clock, posts_dir):
    write(
        posts_dir / "a.md",
        post_md(
            "第一篇",
            "# 标题\n\n一段文字 $x_1$。",
            date="2026-01-11T09:30:00+08:00",
            categories="[Python, 深度学习]",
            tags="[softmax]",
            author="张三",
        ),
    )
    write(posts_dir / "sub" / "b.md", "# From heading\n\nNo front matter.\n")
    report = run(db, cfg, clock)
    assert (report.new, report.failed) == (2, 0)
    posts = all_posts(db)
    a, b = posts["a.md"], posts["sub/b.md"]
    assert a.title == "第一篇"
    assert a.published == datetime(2026, 1, 11, 1, 30, tzinfo=UTC)
    assert a.updated == a.published
    assert [(c.slug, c.name) for c in a.categories] == [
        ("python", "Python"),
        ("深度学习", "深度学习"),
    ]
    assert [t.slug for t in a.tags] == ["softmax"]
    assert a.author == "张三" and a.visible
    assert a.guid == "tag:example.org,2026-03-01:posts/a.md"
    assert "[公式]" in a.summary
    # no date: the time first seen, recorded
    assert b.title == "From heading" and b.published == T0 and b.slug == "b"
    assert events(db) == [("post.published", "第一篇"), ("post.published", "From heading")]


def test_second_pass_is_idempotent_and_emits_nothing(db, cfg, clock, posts_dir):
    write(posts_dir / "a.md", post_md("A"))
    run(db, cfg, clock)
    with db.read() as s:
        version = content_state.current(s)
    clock.advance(hours=1)
    report = run(db, cfg, clock)
    assert (report.new, report.updated, report.unchanged, report.removed) == (0, 0, 1, 0)
    assert len(events(db)) == 1
    with db.read() as s:
        assert content_state.current(s) == version


def test_edit_updates_same_post_with_new_updated(db, cfg, clock, posts_dir):
    path = write(posts_dir / "a.md", post_md("A", "old"))
    run(db, cfg, clock)
    before = all_posts(db)["a.md"]
    clock.advance(days=1)
    write(path, post_md("A edited", "new text"))
    report = run(db, cfg, clock)
    after = all_posts(db)["a.md"]
    assert report.updated == 1
    assert after.id == before.id and after.guid == before.guid
    assert after.published == before.published
    assert after.updated == clock.now() > before.updated
    assert after.title == "A edited" and after.summary == "new text"
    assert events(db)[-1] == ("post.updated", "A edited")


def test_deleted_file_removes_post_and_emits_deleted(db, cfg, clock, posts_dir):
    path = write(posts_dir / "a.md", post_md("A"))
    write(posts_dir / "b.md", post_md("B"))
    run(db, cfg, clock)
    path.unlink()
    report = run(db, cfg, clock)
    posts = all_posts(db)
    assert report.removed == 1
    assert posts["a.md"].removed and not posts["a.md"].visible
    assert posts["b.md"].visible
    assert events(db)[-1] == ("post.deleted", "A")


def test_draft_is_never_published(db, cfg, clock, posts_dir):
    write(posts_dir / "d.md", post_md("Draft", draft="true", date="2020-01-01"))
    run(db, cfg, clock)
    clock.advance(days=400)
    publish_due(db, cfg, clock.now())
    assert not all_posts(db)["d.md"].visible
    assert events(db) == []


def test_draft_turned_published_emits_published(db, cfg, clock, posts_dir):
    path = write(posts_dir / "d.md", post_md("Draft", draft="true"))
    run(db, cfg, clock)
    write(path, post_md("Draft", draft="false"))
    run(db, cfg, clock)
    assert all_posts(db)["d.md"].visible
    assert events(db) == [("post.published", "Draft")]


def test_future_post_is_published_when_its_time_comes(db, cfg, clock, posts_dir):
    write(posts_dir / "f.md", post_md("Future", date="2026-03-02T12:00:00Z"))
    run(db, cfg, clock)
    assert not all_posts(db)["f.md"].visible and events(db) == []
    clock.advance(hours=23)
    assert publish_due(db, cfg, clock.now()) == 0
    clock.advance(hours=1)
    assert publish_due(db, cfg, clock.now()) == 1
    assert all_posts(db)["f.md"].visible
    assert events(db) == [("post.published", "Future")]
    assert publish_due(db, cfg, clock.now()) == 0  # once only


def test_slug_collision_is_an_error_on_the_later_file(db, cfg, clock, posts_dir):
    write(posts_dir / "a.md", post_md("A", slug="same"))
    write(posts_dir / "b.md", post_md("B", slug="same"))
    report = run(db, cfg, clock)
    assert report.new == 1 and report.failed == 1
    err = report.errors[0]
    assert (err.source, err.item) == ("posts", "b.md")
    assert "slug 'same' is already used by posts:a.md" in err.reason
    assert all_posts(db)["a.md"].title == "A"


BAD_FILES = [
    ("bad-yaml.md", "---\ntitle: [unclosed\n---\nbody\n", "front matter is not valid YAML"),
    ("bad-utf8.md", b"---\ntitle: x\n---\n\xff\xfe bad", "not valid UTF-8 (byte 0xff"),
    ("binary.md", b"abc\x00def", "binary file (contains NUL bytes)"),
    ("bad-date.md", "---\ntitle: x\ndate: next tuesday\n---\nbody\n", "date: 'next tuesday'"),
    ("big.md", "x" * 2048, "over the limit of 1000 bytes"),
    ("unclosed.md", "---\ntitle: x\nbody\n", "front matter starts with --- but is never closed"),
]


@pytest.mark.parametrize(("name", "content", "reason"), BAD_FILES)
def test_bad_file_is_reported_and_others_are_ingested(tmp_path, clock, name, content, reason):
    posts_dir = tmp_path / "posts"
    cfg = make_config(
        tmp_path,
        sources=[
            {"name": "posts", "kind": "markdown", "path": str(posts_dir), "max_file_bytes": 1000}
        ],
    )
    db = Database(cfg.storage.url)
    upgrade(db)
    write(posts_dir / "good.md", post_md("Good"))
    write(posts_dir / name, content)
    report = run(db, cfg, clock)
    assert report.new == 1 and report.failed == 1
    assert report.errors[0].item == name
    assert reason in report.errors[0].reason
    assert all_posts(db)["good.md"].visible
    with db.read() as s:
        stored = s.scalar(select(IngestRun).order_by(IngestRun.id.desc()))
        assert [(e.item, e.reason) for e in stored.errors] == [(name, report.errors[0].reason)]
    db.dispose()


def test_symlink_leaving_the_source_and_dangling_symlink_are_errors(
    db, cfg, clock, posts_dir, tmp_path
):
    outside = write(tmp_path / "outside.md", post_md("Secret"))
    os.symlink(outside, posts_dir / "escape.md")
    os.symlink(posts_dir / "missing.md", posts_dir / "dangling.md")
    write(posts_dir / "ok.md", post_md("OK"))
    report = run(db, cfg, clock)
    reasons = {e.item: e.reason for e in report.errors}
    assert "symlink points outside the source directory" in reasons["escape.md"]
    assert "cannot read file" in reasons["dangling.md"]
    assert report.new == 1
    assert "Secret" not in {p.title for p in all_posts(db).values()}


def test_broken_edit_keeps_the_stored_post(db, cfg, clock, posts_dir):
    path = write(posts_dir / "a.md", post_md("A"))
    run(db, cfg, clock)
    write(path, "---\ntitle: [broken\n---\n")
    report = run(db, cfg, clock)
    assert report.failed == 1 and report.removed == 0
    post = all_posts(db)["a.md"]
    assert post.visible and post.title == "A"


def test_control_characters_are_removed_and_post_published(db, cfg, clock, posts_dir):
    write(posts_dir / "c.md", post_md("Ti\x10tle\x1b", "Body\x10 text\x1b here"))
    report = run(db, cfg, clock)
    post = all_posts(db)["c.md"]
    assert report.failed == 0
    assert post.title == "Title" and post.summary == "Body text here"
    assert post.visible


def test_unchanged_file_is_not_reread(db, cfg, clock, posts_dir):
    path = write(posts_dir / "a.md", post_md("Same size A"))
    run(db, cfg, clock)
    st = path.stat()
    # same size and mtime but other bytes: a stat-first pass does not read it
    path.write_text(post_md("Same size B"), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = run(db, cfg, clock)
    assert report.unchanged == 1 and all_posts(db)["a.md"].title == "Same size A"


def test_touched_but_identical_file_is_unchanged(db, cfg, clock, posts_dir):
    path = write(posts_dir / "a.md", post_md("A"))
    run(db, cfg, clock)
    os.utime(path, ns=(1, 2))
    report = run(db, cfg, clock)
    assert report.unchanged == 1 and len(events(db)) == 1


def test_bundled_examples_ingest_cleanly(tmp_path, clock):
    cfg = make_config(
        tmp_path, sources=[{"name": "examples", "kind": "markdown", "path": str(EXAMPLES)}]
    )
    db = Database(cfg.storage.url)
    upgrade(db)
    report = run(db, cfg, clock)
    assert report.failed == 0 and report.new >= 8
    posts = all_posts(db).values()
    assert any(p.draft and not p.visible for p in posts)
    assert any(not p.visible and not p.draft and p.published > clock.now() for p in posts)
    assert any("[公式]" in p.summary for p in posts)
    assert any("[代码]" in p.summary for p in posts)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == sum(p.visible for p in posts)
    db.dispose()


def test_a_body_too_deep_to_render_is_its_error_and_later_files_keep_paragraphs(
    db, cfg, clock, posts_dir
):
    """Issue 12 item 4: the RecursionError once left later posts of the pass without <p>."""
    write(posts_dir / "a-deep.md", post_md("Deep", "- " * 3000 + "x"))
    write(posts_dir / "b-after.md", post_md("After", "one\n\ntwo"))
    report = run(db, cfg, clock)
    assert [(e.item, e.reason) for e in report.errors] == [
        ("a-deep.md", "body: the Markdown is nested too deeply to render")
    ]
    with db.read() as session:
        (post,) = session.scalars(select(Post))
        assert (post.external_key, post.content_html) == ("b-after.md", "<p>one</p>\n<p>two</p>")
