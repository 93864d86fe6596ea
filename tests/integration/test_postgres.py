"""The same storage and ingest on a real PostgreSQL (skipped without FEEDSVC_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from feedsvc.sources.ingest import ingest_source
from feedsvc.storage import content_state
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import current_revision, head_revision, upgrade
from feedsvc.storage.models import Event, Post
from tests.conftest import T0, make_config


def test_migrate_ingest_and_edit_on_postgres(tmp_path, clock, pg_schema_url):
    posts_dir = tmp_path / "posts"
    posts_dir.mkdir()
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    upgrade(db)  # a second run is a no-op
    assert current_revision(db) == head_revision()
    (posts_dir / "a.md").write_text("---\ntitle: 你好\ncategories: [Python]\n---\n$x$ 正文\n")
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert (report.new, report.failed) == (1, 0)
    clock.advance(minutes=5)
    (posts_dir / "a.md").write_text("---\ntitle: 你好 2\ncategories: [Python]\n---\n新的\n")
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert report.updated == 1
    with db.read() as s:
        post = s.scalar(select(Post))
        assert post.title == "你好 2" and post.updated == T0 + timedelta(minutes=5)
        assert post.published == T0 and post.published.tzinfo is not None
        assert [c.name for c in post.categories] == ["Python"]
        assert [e.type for e in s.scalars(select(Event).order_by(Event.id))] == [
            "post.published",
            "post.updated",
        ]
        assert content_state.current(s) == 2
    db.dispose()


def test_only_one_of_many_contenders_gets_a_lease(tmp_path, pg_schema_url):
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend(i: int) -> None:
        barrier.wait()
        if source_store.acquire_lease(db, "source:x", f"worker-{i}", T0, 60):
            winners.append(f"worker-{i}")

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    # after expiry another owner can take it; before, nobody else can
    assert not source_store.acquire_lease(db, "source:x", "late", T0 + timedelta(seconds=59), 60)
    assert source_store.acquire_lease(db, "source:x", "late", T0 + timedelta(seconds=61), 60)
    db.dispose()
