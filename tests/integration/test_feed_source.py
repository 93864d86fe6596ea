"""Upstream feed sources through the ingest service, against a real local HTTP server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from feedsvc.scheduler import run_source_once_per_interval
from feedsvc.sources.ingest import ingest_source
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Post
from tests.conftest import make_config
from tests.httpserver import Reply, ScriptedServer

RSS = "application/rss+xml; charset=utf-8"


def rss(*items: tuple[str, str, str]) -> bytes:
    body = "".join(
        f'<item><guid isPermaLink="false">tag:up.example,2026:{guid}</guid><title>{title}</title><link>https://up.example/{guid}</link>'
        f"<description>{text}</description><pubDate>Mon, 05 Jan 2026 10:00:00 GMT</pubDate></item>"
        for guid, title, text in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Up</title>'
        f"<link>https://up.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


def feed_setup(tmp_path, server, allow_private=True, interval=60):
    cfg = make_config(
        tmp_path,
        network={"allow_private_networks": allow_private},
        sources=[{"name": "up", "kind": "feed", "url": server.url("/feed"), "interval": interval}],
    )
    db = Database(cfg.storage.url)
    upgrade(db)
    return cfg, db


def titles(db):
    with db.read() as s:
        return {
            p.external_key.rsplit(":", 1)[-1]: (p.title, p.guid) for p in s.scalars(select(Post))
        }


def state(db):
    with db.read() as s:
        return source_store.all_states(s)["up"]


def test_poll_then_304_then_edit_then_window(tmp_path, server, clock):
    cfg, db = feed_setup(tmp_path, server)
    v1 = {"ETag": '"v1"', "Last-Modified": "Mon, 05 Jan 2026 10:00:00 GMT", "Content-Type": RSS}
    server.route(
        "/feed",
        Reply(200, v1, rss(("a", "A", "one"), ("b", "B", "two"))),
        Reply(304, {"ETag": '"v1"', "Last-Modified": "Tue, 06 Jan 2026 10:00:00 GMT"}),
        Reply(200, {"ETag": '"v2"', "Content-Type": RSS}, rss(("a", "A edited", "one!"))),
    )
    first = ingest_source(db, cfg, cfg.sources[0], clock)
    assert (first.new, first.failed) == (2, 0)
    before = titles(db)
    second = ingest_source(db, cfg, cfg.sources[0], clock)
    assert (second.new, second.updated, second.failed) == (0, 0, 0)
    sent = server.requests_to("/feed")[1]
    assert sent.header("If-None-Match") == '"v1"'
    assert sent.header("If-Modified-Since") == "Mon, 05 Jan 2026 10:00:00 GMT"
    assert state(db).http_last_modified == "Tue, 06 Jan 2026 10:00:00 GMT"  # kept from the 304
    third = ingest_source(db, cfg, cfg.sources[0], clock)
    after = titles(db)
    assert third.updated == 1
    assert after["a"] == ("A edited", before["a"][1])  # same id, new title
    assert after["b"] == before["b"]  # dropped out of the upstream window: kept
    with db.read() as s:
        assert all(p.visible for p in s.scalars(select(Post)))
    ua = server.requests_to("/feed")[0].header("User-Agent")
    assert ua.startswith("feedsvc/") and "https://example.org" in ua
    db.dispose()


def test_errors_back_off_exponentially_and_gate_the_job(tmp_path, server, clock):
    cfg, db = feed_setup(tmp_path, server, interval=60)
    server.route("/feed", Reply(500, body=b"oops"))
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert report.failed == 1 and report.errors[0].item == server.url("/feed")
    st = state(db)
    assert st.status == "backoff" and st.consecutive_failures == 1
    assert st.backoff_until == clock.now() + timedelta(seconds=120)
    ingest_source(db, cfg, cfg.sources[0], clock)
    assert state(db).backoff_until == clock.now() + timedelta(seconds=240)
    # the scheduled job waits out the back-off
    clock.advance(seconds=200)
    assert not run_source_once_per_interval(db, cfg, cfg.sources[0], clock)
    server.route("/feed", Reply(200, {"Content-Type": RSS}, rss(("a", "A", "x"))))
    clock.advance(seconds=3600)
    assert run_source_once_per_interval(db, cfg, cfg.sources[0], clock)
    st = state(db)
    assert st.status == "ok" and st.consecutive_failures == 0 and st.backoff_until is None
    db.dispose()


def test_retry_after_pushes_the_next_poll_back(tmp_path, server, clock):
    cfg, db = feed_setup(tmp_path, server)
    server.route("/feed", Reply(429, {"Retry-After": "900"}))
    ingest_source(db, cfg, cfg.sources[0], clock)
    st = state(db)
    assert st.next_run_at == clock.now() + timedelta(seconds=900)
    clock.advance(seconds=600)
    assert not run_source_once_per_interval(db, cfg, cfg.sources[0], clock)
    db.dispose()


def test_cache_control_max_age_delays_next_poll(tmp_path, server, clock):
    cfg, db = feed_setup(tmp_path, server, interval=60)
    headers = {"Content-Type": RSS, "Cache-Control": "max-age=3600"}
    server.route("/feed", Reply(200, headers, rss(("a", "A", "x"))))
    ingest_source(db, cfg, cfg.sources[0], clock)
    assert state(db).next_run_at == clock.now() + timedelta(seconds=3600)
    db.dispose()


def test_private_upstream_is_refused_by_default(tmp_path, server, clock):
    cfg, db = feed_setup(tmp_path, server, allow_private=False)
    server.route("/feed", Reply(200, {"Content-Type": RSS}, rss(("a", "A", "x"))))
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert report.failed == 1 and "127.0.0.1" in report.errors[0].reason
    assert server.requests_to("/feed") == []
    assert titles(db) == {}
    db.dispose()
