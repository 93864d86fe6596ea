"""The feed_versions history on SQLite and PostgreSQL: record, find, prune by count and age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feedsvc.storage import feed_history
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def exercise(db: Database) -> None:
    url = "/feed.atom"
    for n in range(4):
        with db.write() as session:
            etags = {None: f'"i{n}"', "gzip": f'"g{n}"'}
            added = feed_history.record(
                session, url, etags, [(f"id-{n}", "2026-03-01T00:00:00Z")],
                T0 + timedelta(minutes=n), keep=3, max_age=3600,
            )  # fmt: skip
            assert added
    with db.write() as session:  # the same version again: nothing added
        again = {None: '"i3"', "gzip": '"g3"'}
        assert not feed_history.record(session, url, again, [], T0, keep=3, max_age=3600)
    with db.read() as session:
        assert feed_history.find(session, url, '"i0"', T0) is None  # past the last 3
        found = feed_history.find(session, url, '"g1"', T0)
        assert found is not None
        assert found.etags == {None: '"i1"', "gzip": '"g1"'}
        assert found.entries == [("id-1", "2026-03-01T00:00:00Z")]
        assert feed_history.find(session, "/feed.rss", '"i1"', T0) is None  # another URL
        assert feed_history.find(session, url, '"i1"', T0 + timedelta(minutes=2)) is None
    with db.write() as session:  # an hour on, the older ones go
        late = {None: '"i9"', "gzip": '"g9"'}
        feed_history.record(session, url, late, [], T0 + timedelta(minutes=62), 3, 3600)
    with db.read() as session:
        assert feed_history.find(session, url, '"i1"', T0) is None
        assert feed_history.find(session, url, '"i3"', T0) is not None


def test_history_on_sqlite(db):
    exercise(db)


@pytest.mark.postgres
def test_history_on_postgresql(pg_schema_url):
    db = Database(pg_schema_url)
    try:
        upgrade(db)
        exercise(db)
    finally:
        db.dispose()
