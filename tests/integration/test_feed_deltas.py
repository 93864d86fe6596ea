"""RFC 3229 feed deltas through the real app: 226 IM Used with only what the client lacks."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser
import pytest

from feedsvc.app import create_app
from feedsvc.web.state import state
from tests.conftest import make_config

D = datetime(2026, 1, 11, 1, 30, tzinfo=UTC)
FORMATS = ["atom", "rss", "json"]
IM = {"A-IM": "feed"}


def entry_ids(fmt: str, body: bytes) -> list[str]:
    if fmt == "json":
        return [item["id"] for item in json.loads(body)["items"]]
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.id for entry in parsed.entries]


def feed_title(fmt: str, body: bytes) -> str:
    if fmt == "json":
        return str(json.loads(body)["title"])
    return str(feedparser.parse(body).feed.title)


def get(client: Any, url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
    response = client.open(url, method=method, headers=headers or {})
    response.close()
    return response


def changed(client: Any, url: str, old_etag: str, accept: str = "identity") -> Any:
    """The 200 once the content change is visible (the cache looks every 0.25 s)."""
    deadline = time.monotonic() + 2.0
    while True:
        response = get(client, url, {"Accept-Encoding": accept})
        if response.headers["ETag"] != old_etag or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


@pytest.fixture
def first(add_post: Any) -> dict[str, Any]:
    return add_post("a.md", "第一篇", published=D)


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_new_post_gives_a_226_with_that_entry_only(client, add_post, first, fmt):
    url = f"/feed.{fmt}"
    old = get(client, url)
    assert entry_ids(fmt, old.data) == [first["id"]]
    new = add_post("b.md", "第二篇", published=D + timedelta(days=1))
    full = changed(client, url, old.headers["ETag"])
    assert entry_ids(fmt, full.data) == [new["id"], first["id"]]

    for _ in range(2):  # the second is answered in front of Flask: it must defer to the delta
        delta = get(client, url, {**IM, "If-None-Match": old.headers["ETag"]})
        assert delta.status_code == 226
        assert delta.headers["IM"] == "feed"
        assert delta.headers["ETag"] == full.headers["ETag"]  # the instance after applying it
        assert delta.headers["Cache-Control"] == "no-store, im"
        vary = {v.strip() for v in delta.headers["Vary"].split(",")}
        assert {"Accept-Encoding", "A-IM", "If-None-Match"} <= vary
        assert delta.headers["Content-Type"] == full.headers["Content-Type"]
        assert int(delta.headers["Content-Length"]) == len(delta.data)
        assert entry_ids(fmt, delta.data) == [new["id"]]
        assert feed_title(fmt, delta.data) == feed_title(fmt, full.data)

    current = get(client, url, {**IM, "If-None-Match": full.headers["ETag"]})
    assert current.status_code == 304
    plain = get(client, url, {"If-None-Match": old.headers["ETag"]})  # no A-IM: as before
    assert plain.status_code == 200
    assert entry_ids(fmt, plain.data) == [new["id"], first["id"]]
    head = get(client, url, {**IM, "If-None-Match": old.headers["ETag"]}, method="HEAD")
    assert head.status_code == 226
    assert head.data == b""


def test_unknown_etag_or_a_refused_im_gets_the_full_feed(client, add_post, first):
    old = get(client, "/feed.atom")
    add_post("b.md", "第二篇", published=D + timedelta(days=1))
    changed(client, "/feed.atom", old.headers["ETag"])
    cases = [
        {**IM, "If-None-Match": '"0123456789abcdef0123456789abcdef"'},
        {"A-IM": "feed;q=0", "If-None-Match": old.headers["ETag"]},
        {"A-IM": "vcdiff", "If-None-Match": old.headers["ETag"]},
    ]
    for headers in cases:
        response = get(client, "/feed.atom", headers)
        assert response.status_code == 200, headers
        assert len(entry_ids("atom", response.data)) == 2
    # "*" matches any current representation (RFC 9110 §13.1.2), A-IM or not
    assert get(client, "/feed.atom", {**IM, "If-None-Match": "*"}).status_code == 304


def test_an_edited_post_is_in_the_delta(client, add_post, first):
    add_post("b.md", "第二篇", published=D + timedelta(days=1))
    old = get(client, "/feed.rss")
    edited = add_post("a.md", "第一篇（修订）", published=D, updated=D + timedelta(days=3))
    changed(client, "/feed.rss", old.headers["ETag"])
    delta = get(client, "/feed.rss", {**IM, "If-None-Match": old.headers["ETag"]})
    assert delta.status_code == 226
    parsed = feedparser.parse(delta.data)
    assert [(e.id, e.title) for e in parsed.entries] == [(edited["id"], "第一篇（修订）")]


def test_gzip_etags_are_encoding_specific(client, add_post, first):
    old_gzip = get(client, "/feed.atom", {"Accept-Encoding": "gzip"})
    assert old_gzip.headers["Content-Encoding"] == "gzip"
    new = add_post("b.md", "第二篇", published=D + timedelta(days=1))
    full = changed(client, "/feed.atom", old_gzip.headers["ETag"], accept="gzip")
    headers = {**IM, "If-None-Match": old_gzip.headers["ETag"], "Accept-Encoding": "gzip"}
    delta = get(client, "/feed.atom", headers)
    assert delta.status_code == 226
    assert delta.headers["Content-Encoding"] == "gzip"
    assert delta.headers["ETag"] == full.headers["ETag"]
    assert entry_ids("atom", gzip.decompress(delta.data)) == [new["id"]]
    # the gzip ETag named with identity negotiated: not this encoding's version, so a full 200
    other = get(client, "/feed.atom", {**headers, "Accept-Encoding": "identity"})
    assert other.status_code == 200
    assert len(entry_ids("atom", other.data)) == 2


def delta_app(tmp_path: Any, clock: Any, **feeds: Any) -> Any:
    app = create_app(make_config(tmp_path, feeds=feeds), clock=clock)
    app.testing = True
    return app


def test_versions_past_the_history_limit_or_age_get_the_full_feed(tmp_path, clock, add_post):
    app = delta_app(tmp_path, clock, delta_history=2, delta_max_age="1h")
    client = app.test_client()
    try:
        etags = []
        for n in range(3):
            add_post(f"p{n}.md", f"第{n}篇", published=D + timedelta(days=n))
            response = changed(client, "/feed.json", etags[-1] if etags else "")
            etags.append(response.headers["ETag"])
        add_post("p3.md", "第3篇", published=D + timedelta(days=3))
        changed(client, "/feed.json", etags[-1])
        # kept: the last two versions (etags[2] and the current one); etags[0] is gone
        assert get(client, "/feed.json", {**IM, "If-None-Match": etags[0]}).status_code == 200
        kept = get(client, "/feed.json", {**IM, "If-None-Match": etags[2]})
        assert kept.status_code == 226
        assert len(json.loads(kept.data)["items"]) == 1
        clock.advance(hours=2)
        add_post("p4.md", "第4篇", published=D + timedelta(days=4))
        changed(client, "/feed.json", kept.headers["ETag"])
        stale = get(client, "/feed.json", {**IM, "If-None-Match": etags[2]})
        assert stale.status_code == 200  # older than delta_max_age
    finally:
        state(app).db.dispose()


def test_no_deltas_when_history_is_off(tmp_path, clock, add_post):
    app = delta_app(tmp_path, clock, delta_history=0)
    client = app.test_client()
    try:
        add_post("a.md", "第一篇", published=D)
        old = get(client, "/feed.atom")
        add_post("b.md", "第二篇", published=D + timedelta(days=1))
        changed(client, "/feed.atom", old.headers["ETag"])
        response = get(client, "/feed.atom", {**IM, "If-None-Match": old.headers["ETag"]})
        assert response.status_code == 200
    finally:
        state(app).db.dispose()


def test_rss_ttl_follows_cache_max_age(tmp_path, clock, add_post):
    app = delta_app(tmp_path, clock, cache_max_age=150)
    try:
        add_post("a.md", "第一篇", published=D)
        response = get(app.test_client(), "/feed.rss")
        assert response.headers["Cache-Control"] == "public, max-age=150"
        parsed = feedparser.parse(response.data)
        assert parsed.feed.ttl == "3"  # minutes, rounded up
    finally:
        state(app).db.dispose()


def test_poll_limit_answers_429_with_retry_after(tmp_path, clock, add_post):
    cfg = make_config(tmp_path, server={"poll_limit": "2/1h", "trusted_proxies": ["127.0.0.1"]})
    app = create_app(cfg, clock=clock)
    try:
        add_post("a.md", "第一篇", published=D)
        client = app.test_client()
        alice = {"X-Forwarded-For": "198.51.100.1"}
        assert [get(client, "/feed.atom", alice).status_code for _ in range(2)] == [200, 200]
        refused = get(client, "/feed.atom", alice)
        assert refused.status_code == 429
        assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
        assert refused.headers["Cache-Control"] == "no-store"
        # another page, another client and a page that is no feed are not counted together
        assert get(client, "/feed.atom?page=1&x=1", alice).status_code == 429
        assert get(client, "/feed.rss", alice).status_code == 200
        assert get(client, "/feed.atom", {"X-Forwarded-For": "198.51.100.2"}).status_code == 200
        assert all(get(client, "/", alice).status_code == 200 for _ in range(3))
    finally:
        state(app).db.dispose()
