"""The same storage and ingest on a real PostgreSQL (skipped without FEEDSVC_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from feedsvc.kinds import Outcome
from feedsvc.posts.errors import ItemFailed
from feedsvc.posts.model import SourceItem
from feedsvc.posts.store import apply_item, apply_one
from feedsvc.sources.ingest import ingest_source
from feedsvc.sources.report import IngestReport, apply_reported
from feedsvc.storage import content_state, leases
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
        if leases.acquire_lease(db, "source:x", f"worker-{i}", T0, 60):
            winners.append(f"worker-{i}")

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    # after expiry another owner can take it; before, nobody else can
    assert not leases.acquire_lease(db, "source:x", "late", T0 + timedelta(seconds=59), 60)
    assert leases.acquire_lease(db, "source:x", "late", T0 + timedelta(seconds=61), 60)
    db.dispose()


def test_a_concurrent_pass_storing_the_same_new_post_first_is_no_error(
    tmp_path, clock, pg_schema_url
):
    """Two passes of one source at once (a manual run next to the scheduled one): the second
    insert of the same new item waits on the unique key, fails, and is applied again."""
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    item = SourceItem(
        external_key="a.md", title="同一篇", content_html="<p>正文</p>", content_hash="h1"
    )
    outcome: list[object] = []

    def second_pass() -> None:
        try:
            outcome.append(apply_one(db, cfg, "posts", item, clock.now()))
        except Exception as exc:  # the assertion below shows it
            outcome.append(exc)

    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    with db.write() as first:
        apply_item(first, cfg, "posts", item, clock.now())  # stored, not yet committed
        thread = threading.Thread(target=second_pass)
        thread.start()
        with db.engine.connect() as conn:
            deadline = time.monotonic() + 10
            while not conn.execute(text(waiting)).scalar() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert conn.execute(text(waiting)).scalar() >= 1, "the second insert never waited"
    thread.join(10)
    assert outcome == [Outcome.UNCHANGED]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Post)) == 1
        assert [e.type for e in s.scalars(select(Event))] == ["post.published"]
    db.dispose()


def test_an_item_the_database_refuses_is_an_error_and_the_rest_is_stored(
    tmp_path, clock, pg_schema_url
):
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    bad = SourceItem(
        external_key="guid\x00nul", title="坏", content_html="<p>x</p>", content_hash="b"
    )
    good = SourceItem(external_key="ok", title="好", content_html="<p>y</p>", content_hash="g")
    with pytest.raises(ItemFailed) as failed:
        apply_one(db, cfg, "posts", bad, clock.now())
    assert str(failed.value).startswith("could not be stored: ")
    report = IngestReport("posts")
    apply_reported(db, cfg, "posts", bad, clock.now(), report)  # what a pass does with it
    [error] = report.errors
    assert (error.source, error.item) == ("posts", "guid\x00nul")
    assert error.reason.startswith("could not be stored: ")
    assert report.failed == 1
    assert apply_one(db, cfg, "posts", good, clock.now()) == "new"
    with db.read() as s:
        assert s.scalars(select(Post.external_key)).all() == ["ok"]
    db.dispose()
