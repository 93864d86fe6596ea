"""Shared renditions: every app instance on one database serves the same bytes and ETags, a
change rebuilds exactly the scopes it touches, old renditions are pruned, a restart is warm."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from sqlalchemy import select

from feedsvc.app import create_app
from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.posts.model import SourceItem
from feedsvc.posts.store import apply_one
from feedsvc.storage import scopes
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Rendition
from feedsvc.web.renditions import store_for
from feedsvc.web.state import state
from tests.conftest import T0, make_config

FEEDS = ["/feed.atom", "/feed.rss", "/feed.json"]
SITE = [*FEEDS, *(f + "?page=2" for f in FEEDS), "/", "/?page=2"]
ALPHA = [f"/categories/alpha{f}" for f in FEEDS] + ["/categories/alpha/"]
BETA = [f"/categories/beta{f}" for f in FEEDS] + ["/categories/beta/"]
POST_PAGES = ["/posts/a-0", "/posts/b-0"]
URLS = SITE + ALPHA + BETA + POST_PAGES


def put(db: Database, cfg: Config, key: str, category: str, hour: int, text: str = "") -> None:
    item = SourceItem(
        external_key=key,
        title=f"{key} 标题",
        content_html=f"<p>{key} 的正文。{text}</p>",
        content_hash=hashlib.sha256(f"{key}{text}".encode()).hexdigest(),
        slug=key,
        published=T0 - timedelta(hours=hour),
        categories=(category,),
    )
    apply_one(db, cfg, "posts", item, T0)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_cfg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Config]:
    """A config on a migrated database with 25 posts in two categories (site: two pages)."""
    if request.param == "postgresql":
        cfg = make_config(tmp_path, storage={"url": request.getfixturevalue("pg_schema_url")})
    else:
        cfg = make_config(tmp_path)
    db = Database(cfg.storage.url)
    upgrade(db)
    for i in range(15):
        put(db, cfg, f"a-{i}", "alpha", i)
    for i in range(10):
        put(db, cfg, f"b-{i}", "beta", i)
    db.dispose()
    yield cfg


@pytest.fixture
def apps(shared_cfg: Config) -> Iterator[Any]:
    """Two app instances on the same database (as two workers or two hosts would be)."""
    made = [create_app(shared_cfg, clock=FixedClock(T0)) for _ in range(2)]
    yield made
    for app in made:
        state(app).db.dispose()


def fetch(app: Any, url: str, coding: str = "") -> tuple[int, bytes, str, str, str | None]:
    headers = {"Accept-Encoding": coding} if coding else {}
    resp = app.test_client().get(url, headers=headers)
    return (
        resp.status_code,
        resp.get_data(),
        resp.headers["ETag"],
        resp.headers["Last-Modified"],
        resp.headers.get("Content-Encoding"),
    )


def builds(app: Any) -> int:
    return store_for(state(app)).builds


def built_urls(app: Any, urls: list[str]) -> set[str]:
    """The URLs whose request made this app build (not read) a rendition."""
    found = set()
    for url in urls:
        before = builds(app)
        status = app.test_client().get(url).status_code
        assert status == 200, url
        if builds(app) > before:
            found.add(url)
    return found


def test_two_instances_serve_identical_bytes_and_etags_with_one_build(apps):
    first, second = apps
    for coding in ("", "gzip"):
        for url in URLS:
            one, two = fetch(first, url, coding), fetch(second, url, coding)
            assert one[0] == 200, url
            assert one == two, url
    assert builds(first) == len(URLS)  # once per URL (the gzip request is the same rendition)
    assert builds(second) == 0
    status, body, etag, _, encoding = fetch(second, "/feed.atom", "gzip")
    assert encoding == "gzip"
    parsed = feedparser.parse(gzip.decompress(body))
    assert not parsed.bozo
    assert len(parsed.entries) == 20
    identity = fetch(first, "/feed.atom")
    assert identity[2] != etag  # each coding has its own strong ETag (RFC 9110 §8.8.3)


def test_a_restart_starts_warm(apps, shared_cfg):
    first, _ = apps
    before = {url: fetch(first, url) for url in URLS}
    restarted = create_app(shared_cfg, clock=FixedClock(T0))
    try:
        assert {url: fetch(restarted, url) for url in URLS} == before
        assert builds(restarted) == 0
    finally:
        state(restarted).db.dispose()


def test_a_change_in_one_category_rebuilds_its_scopes_only(apps, shared_cfg):
    first, second = apps
    assert built_urls(first, URLS) == set(URLS)
    old_alpha = fetch(first, "/categories/alpha/feed.atom")
    old_beta = fetch(first, "/categories/beta/feed.atom")
    db = state(first).db
    put(db, shared_cfg, "a-0", "alpha", 0, text="改过了")
    # the second instance's in-process cache is cold: what it builds is what the change touched
    assert built_urls(second, URLS) == set(SITE + ALPHA + ["/posts/a-0"])
    assert built_urls(second, URLS) == set()  # and once is enough
    new_alpha = fetch(second, "/categories/alpha/feed.atom")
    assert new_alpha[2] != old_alpha[2]
    parsed = feedparser.parse(new_alpha[1])
    assert "改过了" in parsed.entries[0].content[0].value
    assert fetch(second, "/categories/beta/feed.atom") == old_beta
    with db.read() as session:
        rows = session.execute(
            select(Rendition.key, Rendition.format, Rendition.page, Rendition.version).where(
                Rendition.kind == "categories"
            )
        ).all()
        current = {
            key: scopes.stats(session, ("categories", key)).version for key in ("alpha", "beta")
        }
    # the old versions of a changed scope are pruned in its transaction; the other's stay
    assert {(key, version) for key, _, _, version in rows} == set(current.items())
    assert {(key, fmt) for key, fmt, _, _ in rows} == {
        (key, fmt) for key in ("alpha", "beta") for fmt in ("atom", "rss", "json", "html")
    }


def test_a_rendition_of_other_code_or_config_is_not_served(apps, shared_cfg, tmp_path):
    first, _ = apps
    original = fetch(first, "/feed.atom")
    retitled = make_config(
        tmp_path,
        storage={"url": shared_cfg.storage.url},
        site={**shared_cfg.site.__dict__, "title": "另一个标题"},
    )
    other = create_app(retitled, clock=FixedClock(T0))
    try:
        status, body, etag, _, _ = fetch(other, "/feed.atom")
        assert status == 200 and etag != original[2]
        assert feedparser.parse(body).feed.title == "另一个标题"
        assert builds(other) == 1
    finally:
        state(other).db.dispose()
