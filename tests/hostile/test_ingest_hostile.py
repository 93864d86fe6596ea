"""Hostile Markdown files against a real SQLite file: each bad file is that file's error (naming
the field and the reason), every other file is published, and a failed pass is recorded."""

from __future__ import annotations

import resource
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, select

from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.kinds import SourceStatus
from feedsvc.sources.ingest import PASS_ITEM, ingest_source
from feedsvc.sources.status import source_statuses
from feedsvc.storage.db import Database
from feedsvc.storage.models import Post
from tests.conftest import make_config

GOOD = "---\ntitle: Good {n}\n---\n\nbody {n}\n"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def stored(db: Database) -> dict[str, Post]:
    with db.read() as session:
        return {p.external_key: p for p in session.scalars(select(Post))}


def errors_by_item(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {e.item: e.reason for e in report.errors}


BAD_FRONT_MATTER = {
    "month13.md": ("date: 2026-13-01", "date:"),
    "feb30.md": ("date: 2026-02-30", "date:"),
    "hour25.md": ("date: 2026-01-01T25:00:00Z", "date:"),
    "hour25-quoted.md": ("date: '2026-01-01 25:00:00'", "date:"),
    "year0.md": ("date: 0000-01-01", "date:"),
    "year9999.md": ("updated: 9999-12-31T23:30:00-05:00", "updated:"),
    "year1.md": ("date: 0001-01-01T00:30:00+05:00", "date:"),
    "deep.md": ("tags: " + "[" * 400 + "]" * 400, "nested too deeply"),
    "deep-map.md": ("tags: " + "{a: " * 400 + "1" + "}" * 400, "nested too deeply"),
    "bigint.md": ("title: " + "9" * 5000, "front matter"),
    "js-url.md": ("url: javascript:alert(1)", "url:"),
    "vbs-url.md": ("url: 'VBScript:msgbox(1)'", "url:"),
    "data-url.md": ("url: data:text/html,<script>alert(1)</script>", "url:"),
    "spaced-url.md": ("url: ' javascript:alert(1)'", "url:"),  # stripped, then refused
    "proto-rel.md": ("url: //evil.example/x", "url:"),
    "slug-traversal.md": ("slug: ../../x", "slug:"),
    "alias.md": ("a: &a [1]\ntags: *a", "aliases"),
}


def test_each_bad_file_is_its_own_error_and_the_rest_publish(
    db: Database, cfg: Config, clock: FixedClock, posts_dir: Path
) -> None:
    for n in range(3):
        write(posts_dir / f"good{n}.md", GOOD.format(n=n))
    for name, (meta, _) in BAD_FRONT_MATTER.items():
        write(posts_dir / name, f"---\ntitle: t\n{meta}\n---\n\nbody\n")
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    errors = errors_by_item(report)
    assert set(errors) == set(BAD_FRONT_MATTER), errors
    for name, (_, needle) in BAD_FRONT_MATTER.items():
        if needle is not None:
            assert needle in errors[name], (name, errors[name])
    posts = stored(db)
    assert {f"good{n}.md" for n in range(3)} <= set(posts)
    assert not set(errors) & set(posts)
    assert report.new == 3 and report.failed == len(errors)


def test_relative_front_matter_url_is_resolved_against_the_site(
    db: Database, cfg: Config, clock: FixedClock, posts_dir: Path
) -> None:
    write(posts_dir / "a.md", "---\ntitle: A\nurl: /about\n---\n\nx\n")
    write(posts_dir / "b.md", "---\ntitle: B\nurl: https://other.example/p?q=1\n---\n\nx\n")
    ingest_source(db, cfg, cfg.sources[0], clock)
    posts = stored(db)
    assert posts["a.md"].url == "https://example.org/about"
    assert posts["b.md"].url == "https://other.example/p?q=1"


def test_billion_laughs_is_refused_and_memory_stays_small(
    db: Database, cfg: Config, clock: FixedClock, posts_dir: Path
) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    bomb = "---\ntitle: lol\n" + "\n".join(lines) + "\ntags: *j\n---\n\nbody\n"
    assert len(bomb.encode()) < 1024
    write(posts_dir / "bomb.md", bomb)
    write(posts_dir / "ok.md", GOOD.format(n=1))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert errors_by_item(report) == {"bomb.md": "front matter uses YAML aliases (not allowed)"}
    assert set(stored(db)) == {"ok.md"}
    assert grown_kib < 50_000  # 9**10 strings would be gigabytes


def test_same_title_publishes_across_files_and_sources(tmp_path: Path, clock: FixedClock) -> None:
    (tmp_path / "posts").mkdir()
    (tmp_path / "more").mkdir()
    sources = [
        {"name": "posts", "kind": "markdown", "path": str(tmp_path / "posts")},
        {"name": "more", "kind": "markdown", "path": str(tmp_path / "more")},
    ]
    cfg = make_config(tmp_path, sources=sources)
    from feedsvc.storage.migrate import upgrade

    db = Database(cfg.storage.url)
    upgrade(db)
    same = "---\ntitle: Same Title\n---\n\n{n}\n"
    for n, path in enumerate(["posts/a/index.md", "posts/b/index.md", "more/a/index.md"]):
        write(tmp_path / path, same.format(n=n))
    for src in cfg.sources:
        assert ingest_source(db, cfg, src, clock).failed == 0
    with db.read() as session:
        slugs = sorted(p.slug for p in session.scalars(select(Post)))
    assert slugs == ["a", "a-2", "b"]
    again = [ingest_source(db, cfg, src, clock) for src in cfg.sources]
    assert [r.failed for r in again] == [0, 0] and [r.unchanged for r in again] == [2, 1]
    db.dispose()


def hold_write_lock(path: str, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def sqlite_path(cfg: Config) -> str:
    return cfg.storage.url.removeprefix("sqlite:///")


def test_lock_held_past_the_busy_timeout_is_a_recorded_failed_pass(
    db: Database, cfg: Config, clock: FixedClock, posts_dir: Path
) -> None:
    write(posts_dir / "a.md", GOOD.format(n=1))
    short = Database(cfg.storage.url, busy_timeout_ms=1000)
    held = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(sqlite_path(cfg), 1.6, held))
    holder.start()
    held.wait()
    report = ingest_source(short, cfg, cfg.sources[0], clock)  # start fails, finish waits it out
    holder.join()
    assert [(e.item, "database is locked" in e.reason) for e in report.errors] == [
        (PASS_ITEM, True)
    ]
    [status] = source_statuses(short, cfg)
    assert status["status"] == SourceStatus.ERROR
    assert status["consecutive_failures"] == 1
    assert status["backoff_until"] is not None
    assert "database is locked" in status["last_error"]
    assert status["last_run"]["errors"][0]["item"] == PASS_ITEM
    # nothing corrupted: the next pass stores the post and clears the failure
    later = ingest_source(short, cfg, cfg.sources[0], clock)
    assert later.new == 1 and later.failed == 0
    [status] = source_statuses(short, cfg)
    assert status["status"] == SourceStatus.OK and status["consecutive_failures"] == 0
    short.dispose()


def test_lock_held_for_the_whole_pass_is_a_report_not_a_traceback(
    db: Database, cfg: Config, clock: FixedClock, posts_dir: Path
) -> None:
    write(posts_dir / "a.md", GOOD.format(n=1))
    short = Database(cfg.storage.url, busy_timeout_ms=200)
    held = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(sqlite_path(cfg), 2.0, held))
    holder.start()
    held.wait()
    report = ingest_source(short, cfg, cfg.sources[0], clock)
    holder.join()
    reasons = [e.reason for e in report.errors]
    assert report.failed == 2, reasons
    assert reasons[0].startswith("ingest pass failed: OperationalError: database is locked")
    assert reasons[1].startswith("run not recorded: OperationalError: database is locked")
    short.dispose()


def test_disk_full_is_a_failed_pass_and_recovers_once_space_returns(
    db: Database, cfg: Config, clock: FixedClock, posts_dir: Path
) -> None:
    for n in range(5):
        write(posts_dir / f"p{n}.md", GOOD.format(n=n) + ("lorem ipsum " * 4000))
    full = Database(cfg.storage.url)
    with full.read() as session:
        pages = session.connection().exec_driver_sql("PRAGMA page_count").scalar()

    @event.listens_for(full.write_engine, "connect")
    def _cap(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages + 2}")  # SQLITE_FULL past this

    report = ingest_source(full, cfg, cfg.sources[0], clock)
    assert report.failed >= 1
    assert report.new < 5
    assert any("full" in e.reason for e in report.errors), report.errors
    full.dispose()
    with sqlite3.connect(sqlite_path(cfg)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = ingest_source(db, cfg, cfg.sources[0], clock)
    assert again.failed == 0
    assert set(stored(db)) == {f"p{n}.md" for n in range(5)}


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00t", b"---\ntitle: [\n---\n", b"---\n\x85\x85\n"])
def test_undecodable_and_broken_files_are_item_errors(
    db: Database, cfg: Config, clock: FixedClock, posts_dir: Path, raw: bytes
) -> None:
    write(posts_dir / "bad.md", raw)
    write(posts_dir / "ok.md", GOOD.format(n=1))
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert set(stored(db)) == {"ok.md"}
    assert list(errors_by_item(report)) == ["bad.md"]


def test_unparsable_upstream_link_is_that_entrys_error() -> None:
    from feedsvc.sources.upstream import parse_feed

    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Up",
        "items": [
            {"id": "bad", "title": "Bad", "url": "https://[::1", "content_html": "x"},
            {"id": "js", "title": "JS", "url": "javascript:alert(1)", "content_html": "x"},
            {"id": "good", "title": "Good", "url": "https://up.example/g", "content_html": "y"},
        ],
    }
    import json

    items, errors = parse_feed(
        json.dumps(doc).encode(), url="https://up.example/feed", content_type=None, source="up"
    )
    assert [i.external_key for i in items] == ["good"]
    assert [e.item for e in errors] == ["bad", "js"]
    assert all("link" in e.reason for e in errors)
