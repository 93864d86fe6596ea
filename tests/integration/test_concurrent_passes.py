"""Overlapping ingest passes of one source on a real PostgreSQL (issue 12 item 6): a manual
`feedsvc ingest` next to the scheduled pass, or two instances, record each change once.

Skipped without FEEDSVC_TEST_DATABASE_URL. SQLite serialises writers with its write lock; the
same scenario runs on it too, as a check that the row locks change nothing there."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.posts.store import publish_due
from feedsvc.sources.ingest import ingest_source
from feedsvc.sources.report import IngestReport
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Event, IngestRun, Post, SourceState
from tests.conftest import T0, make_config

PASSES = 3  # overlapping passes of the same source per round
FILES = 6
ROUNDS = 12


def _overlapping(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released together; their results (or errors)."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # shown by the caller's assertion
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _write_round(posts_dir: Path, rnd: int) -> set[str]:
    """Change every file for round ``rnd``; the last file goes in odd rounds and comes back in
    even ones. Returns the keys whose post changes visibly (each must cause one event)."""
    changed = set()
    for n in range(FILES):
        path = posts_dir / f"p{n}.md"
        if n == FILES - 1 and rnd % 2 == 1:
            path.unlink()
        else:
            # new terms every round, in different orders per file: passes create them together
            cats = [f"c{rnd}-{(n + k) % 3}" for k in range(3)]
            tags = [f"t{rnd}", "shared", f"t{rnd}-{n}"][:: 1 if n % 2 else -1]
            path.write_text(
                f"---\ntitle: 文章 {n} 第 {rnd} 版\ncategories: {cats}\ntags: {tags}\n---\n"
                f"第 {rnd} 版正文 {n}\n"
            )
        changed.add(path.name)
    return changed


def _run_rounds(tmp_path: Path, cfg: Config, db: Database) -> None:
    posts_dir = tmp_path / "posts"
    posts_dir.mkdir(exist_ok=True)
    clock = FixedClock(T0)
    expected: set[tuple[str, int]] = set()
    rounds_by_time = {}
    for rnd in range(ROUNDS):
        clock.advance(minutes=10)
        rounds_by_time[clock.now()] = rnd
        keys = _write_round(posts_dir, rnd)
        expected |= {(key, rnd) for key in keys}
        reports = _overlapping(PASSES, lambda _i: ingest_source(db, cfg, cfg.sources[0], clock))
        for report in reports:
            assert isinstance(report, IngestReport), report
            assert (report.failed, report.errors) == (0, []), f"round {rnd}"
        stored = sum(r.new + r.updated + r.removed for r in reports if isinstance(r, IngestReport))
        assert stored == len(keys), f"round {rnd}: each change counted by one pass"
    with db.read() as s:
        keys_by_id = {i: k for i, k in s.execute(select(Post.id, Post.external_key))}
        per_change = Counter(
            (keys_by_id[post_id], rounds_by_time[at])
            for post_id, at in s.execute(select(Event.post_id, Event.created_at))
        )
        assert set(per_change) == expected
        assert [c for c, n in per_change.items() if n != 1] == []
        runs = s.scalars(select(IngestRun)).all()
        assert len(runs) == ROUNDS * PASSES
        assert all(r.finished_at is not None and r.failed == 0 for r in runs)


def test_overlapping_passes_on_postgres_record_each_change_once(tmp_path, pg_schema_url):
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    try:
        _run_rounds(tmp_path, cfg, db)
    finally:
        db.dispose()


def test_overlapping_passes_on_sqlite_record_each_change_once(tmp_path, cfg, db):
    _run_rounds(tmp_path, cfg, db)


def test_first_passes_of_new_sources_racing_on_their_state_row(tmp_path, pg_schema_url):
    """The "start run" bookkeeping of several passes of a source never seen before: all of
    them create its state row at once; one insert wins, the others use its row."""
    names = [f"s{i}" for i in range(6)]
    (tmp_path / "posts").mkdir()
    cfg = make_config(
        tmp_path,
        storage={"url": pg_schema_url},
        sources=[{"name": n, "kind": "markdown", "path": str(tmp_path / "posts")} for n in names],
    )
    db = Database(cfg.storage.url)
    upgrade(db)
    clock = FixedClock(T0)
    try:
        for source in cfg.sources:
            reports = _overlapping(4, lambda _i, s=source: ingest_source(db, cfg, s, clock))
            assert [(r.failed, r.errors) for r in reports] == [(0, [])] * 4  # type: ignore[union-attr]
        with db.read() as s:
            assert sorted(s.scalars(select(SourceState.name))) == names
            assert len(s.scalars(select(IngestRun)).all()) == 4 * len(names)
    finally:
        db.dispose()


def test_overlapping_publish_due_publishes_once(tmp_path, pg_schema_url):
    """Future-dated posts reached by several schedulers at once: one post.published each."""
    posts_dir = tmp_path / "posts"
    posts_dir.mkdir()
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    clock = FixedClock(T0)
    try:
        for n in range(8):
            (posts_dir / f"f{n}.md").write_text(
                f"---\ntitle: 未来 {n}\ndate: 2026-03-02T00:00:00Z\n---\n正文\n"
            )
        assert ingest_source(db, cfg, cfg.sources[0], clock).new == 8
        clock.advance(days=2)
        for outcome in _overlapping(4, lambda _i: publish_due(db, cfg, clock.now())):
            assert isinstance(outcome, int), outcome
        with db.read() as s:
            published = Counter(s.scalars(select(Event.post_id)))
            assert len(published) == 8 and set(published.values()) == {1}
    finally:
        db.dispose()


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = threading.active_count()
    yield
    assert threading.active_count() == before
