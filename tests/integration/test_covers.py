"""Cover images end to end inside the process: Markdown files, upstream feeds and the push API
become posts.image, which the feeds, the post page and the events carry (real SQLite files)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select

from feedsvc.app import create_app
from feedsvc.clock import FixedClock
from feedsvc.sources.ingest import ingest_source
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import downgrade, upgrade
from feedsvc.storage.models import Event, Post
from feedsvc.web.state import state
from tests.conftest import ADMIN_TOKEN, EXAMPLES, T0, make_config
from tests.httpserver import Reply, ScriptedServer
from tests.integration.test_feed_source import feed_setup

BASE = "https://example.org"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
MEDIA_NS = "http://search.yahoo.com/mrss/"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


def md(title: str, image: str | None = None) -> str:
    cover = f"image: {json.dumps(image)}\n" if image is not None else ""
    return f"---\ntitle: {title}\ndate: 2026-01-11T09:30:00+08:00\n{cover}---\n\n{title} 正文。\n"


def stored(db: Database) -> dict[str, Post]:
    with db.read() as session:
        return {p.external_key: p for p in session.scalars(select(Post))}


def event_log(db: Database) -> list[tuple[str, str, str | None]]:
    with db.read() as session:
        rows = session.scalars(select(Event).order_by(Event.id))
        return [(e.type, e.payload["title"], e.payload["image"]) for e in rows]


def og(html: bytes) -> dict[str, str]:
    doc = lxml.html.fromstring(html)
    metas = doc.xpath("//head/meta[@property or @name]")
    return {m.get("property") or m.get("name"): m.get("content") for m in metas}


# -- Markdown --------------------------------------------------------------------------------


@pytest.fixture
def covered(posts_dir: Path) -> None:
    write(posts_dir / "notes" / "cover.png", PNG)
    write(posts_dir / "notes" / "file.md", md("文件封面", "cover.png"))
    write(posts_dir / "url.md", md("网址封面", "https://cdn.example/u.jpg"))
    write(posts_dir / "plain.md", md("没有封面"))
    write(posts_dir / "missing.md", md("缺文件", "nope.png"))
    write(posts_dir / "escape.md", md("越界", "../../etc/passwd.png"))
    write(posts_dir / "script.md", md("脚本", "javascript:alert(1)"))
    write(posts_dir / "listed.md", "---\ntitle: 列表\nimage: [a.png]\n---\n正文\n")


def test_markdown_covers_and_item_errors(db, cfg, clock, covered) -> None:
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert (report.new, report.failed) == (3, 4)
    reasons = {e.item: e.reason for e in report.errors}
    assert set(reasons) == {"missing.md", "escape.md", "script.md", "listed.md"}
    assert all(reason.startswith("image: ") for reason in reasons.values()), reasons
    assert "names no file" in reasons["missing.md"]
    assert "outside the source folder" in reasons["escape.md"]
    assert "http or https" in reasons["script.md"]
    posts = stored(db)
    assert posts["notes/file.md"].image == f"{BASE}/media/posts/notes/cover.png"
    assert posts["url.md"].image == "https://cdn.example/u.jpg"
    assert posts["plain.md"].image is None


def test_markdown_covers_reach_feeds_page_media_and_events(db, cfg, clock, covered, client):
    ingest_source(db, cfg, cfg.sources[0], clock)
    cover = f"{BASE}/media/posts/notes/cover.png"
    feed = client.get("/feed.json").get_json()
    images = {item["title"]: item.get("image") for item in feed["items"]}
    assert images == {"文件封面": cover, "网址封面": "https://cdn.example/u.jpg", "没有封面": None}
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(client.get(f"/feed.{fmt}").data)
        assert not parsed.bozo, parsed.get("bozo_exception")
        media = {e.title: e.get("media_content") for e in parsed.entries}
        assert media["文件封面"] == [{"url": cover, "medium": "image"}]
        assert media["没有封面"] is None
    page = client.get("/posts/file")
    meta = og(page.data)
    assert (meta["og:image"], meta["twitter:card"]) == (cover, "summary_large_image")
    assert meta["og:url"] == f"{BASE}/posts/file" and meta["og:title"] == "文件封面"
    assert "og:image" not in og(client.get("/posts/plain").data)
    served = client.get(cover.removeprefix(BASE))
    try:
        assert (served.status_code, served.mimetype, served.data) == (200, "image/png", PNG)
    finally:
        served.close()
    published = [e for e in event_log(db) if e[1] == "文件封面"]
    assert published == [("post.published", "文件封面", cover)]


def test_a_changed_cover_is_an_update(db, cfg, clock, posts_dir) -> None:
    write(posts_dir / "a.png", PNG)
    write(posts_dir / "b.png", PNG)
    path = posts_dir / "p.md"
    write(path, md("封面", "a.png"))
    ingest_source(db, cfg, cfg.sources[0], clock)
    first = stored(db)["p.md"]
    clock.advance(hours=1)
    write(path, md("封面", "b.png"))
    os.utime(path, ns=(1, 1))  # same size: the mtime tells the pass to read it again
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert report.updated == 1
    second = stored(db)["p.md"]
    assert second.image == f"{BASE}/media/posts/b.png"
    assert second.updated > first.updated
    assert [e[0] for e in event_log(db)] == ["post.published", "post.updated"]
    assert event_log(db)[-1][2] == second.image


# -- upstream feeds --------------------------------------------------------------------------

RSS_TEMPLATE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Up</title>'
    "<link>https://up.example/</link><description>d</description>{items}</channel></rss>"
)


def rss_item(guid: str, extra: str) -> str:
    return (
        f'<item><guid isPermaLink="false">{guid}</guid><title>{guid}</title>'
        f"<link>https://up.example/{guid}</link><description>text {guid}</description>"
        f"<pubDate>Mon, 05 Jan 2026 10:00:00 GMT</pubDate>{extra}</item>"
    )


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


def test_upstream_media_content_enclosure_and_bad_images(tmp_path, server, clock) -> None:
    items = "".join(
        [
            rss_item("mc", '<media:content url="https://img.up.example/mc.jpg" medium="image"/>'),
            rss_item("rel", '<media:content url="/img/rel.png" type="image/png"/>'),
            rss_item("enc", '<enclosure url="https://up.example/e.gif" type="image/gif" length="9"/>'),  # noqa: E501
            rss_item("audio", '<enclosure url="https://up.example/a.mp3" type="audio/mpeg" length="9"/>'),  # noqa: E501
            rss_item("bad", '<media:content url="javascript:alert(1)" medium="image"/>'),
        ]
    )  # fmt: skip
    body = RSS_TEMPLATE.format(items=items).encode()
    server.route("/feed", Reply(200, {"Content-Type": "application/rss+xml"}, body))
    cfg, db = feed_setup(tmp_path, server)
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert (report.new, report.failed) == (4, 1)
    [error] = report.errors
    assert error.item == "bad" and "image" in error.reason and "http or https" in error.reason
    images = {p.external_key: p.image for p in stored(db).values()}
    assert images == {
        "mc": "https://img.up.example/mc.jpg",
        "rel": server.url("/img/rel.png"),  # relative to the document
        "enc": "https://up.example/e.gif",
        "audio": None,
    }
    db.dispose()


def test_upstream_atom_enclosure_json_image_and_an_edit(tmp_path, server, clock) -> None:
    def atom(href: str) -> bytes:
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<id>urn:up</id><title>Up</title><updated>2026-01-05T10:00:00Z</updated>"
            "<entry><id>urn:e1</id><title>E1</title><updated>2026-01-05T10:00:00Z</updated>"
            '<link rel="alternate" href="https://up.example/e1"/>'
            f'<link rel="enclosure" type="image/png" href="{href}" length="3"/>'
            '<content type="html">&lt;p&gt;x&lt;/p&gt;</content></entry></feed>'
        ).encode()

    atom_type = {"Content-Type": "application/atom+xml"}
    server.route(
        "/feed",
        Reply(200, atom_type, atom("https://up.example/one.png")),
        Reply(200, atom_type, atom("https://up.example/two.png")),
    )
    cfg, db = feed_setup(tmp_path, server)
    ingest_source(db, cfg, cfg.sources[0], clock)
    assert stored(db)["urn:e1"].image == "https://up.example/one.png"
    clock.advance(hours=2)
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert report.updated == 1 and stored(db)["urn:e1"].image == "https://up.example/two.png"
    db.dispose()


def test_upstream_json_feed_image(tmp_path, server, clock) -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Up",
        "items": [
            {"id": "j1", "title": "J1", "content_text": "x", "image": "pics/j1.webp"},
            {"id": "j2", "title": "J2", "content_text": "y", "banner_image": "https://up.example/b.png"},
        ],
    }  # fmt: skip
    server.route(
        "/feed", Reply(200, {"Content-Type": "application/feed+json"}, json.dumps(doc).encode())
    )
    cfg, db = feed_setup(tmp_path, server)
    ingest_source(db, cfg, cfg.sources[0], clock)
    images = {p.external_key: p.image for p in stored(db).values()}
    assert images == {"j1": server.url("/pics/j1.webp"), "j2": "https://up.example/b.png"}
    db.dispose()


# -- the push API ----------------------------------------------------------------------------


@pytest.fixture
def api(api_app: Flask, api_client: FlaskClient) -> tuple[Flask, FlaskClient]:
    return api_app, api_client


def push(client: FlaskClient, **fields: Any) -> Any:
    body = {"title": "推送", "markdown": "正文。", **fields}
    return client.post("/api/v1/posts", json=body, headers=AUTH)


@pytest.mark.parametrize(
    "image",
    [
        "/relative.png",
        "cover.png",
        "javascript:alert(1)",
        "data:image/png;base64,AA",
        5,
        "",
        "//h/x",
    ],
)
def test_push_api_refuses_a_bad_image_with_422_naming_it(api, image) -> None:
    _, client = api
    resp = push(client, image=image)
    assert resp.status_code == 422
    assert resp.json["fields"] == {"image": "must be an absolute http or https URL"}


def test_push_api_image_reaches_feeds_page_and_events(api, clock) -> None:
    app, client = api
    created = push(client, image="https://cdn.example/p.png", slug="pushed")
    assert created.status_code == 201 and created.json["image"] == "https://cdn.example/p.png"
    feed = client.get("/feed.json").get_json()
    assert feed["items"][0]["image"] == "https://cdn.example/p.png"
    assert og(client.get("/posts/pushed").data)["og:image"] == "https://cdn.example/p.png"
    url = f"/api/v1/posts/{created.json['key']}"
    clock.advance(hours=1)
    patched = client.patch(url, json={"image": "https://cdn.example/q.png"}, headers=AUTH)
    assert patched.status_code == 200 and patched.json["updated"] == "2026-03-01T13:00:00Z"
    clock.advance(hours=1)
    same = client.patch(url, json={"title": "推送"}, headers=AUTH)  # keeps the image
    assert same.json["image"] == "https://cdn.example/q.png"
    assert same.json["updated"] == "2026-03-01T13:00:00Z"
    clock.advance(hours=1)
    removed = client.patch(url, json={"image": None}, headers=AUTH)
    assert removed.json["image"] is None
    log = event_log(state(app).db)
    assert [(kind, image) for kind, _, image in log] == [
        ("post.published", "https://cdn.example/p.png"),
        ("post.updated", "https://cdn.example/q.png"),
        ("post.updated", None),
    ]


# -- storage ---------------------------------------------------------------------------------


def test_migration_0004_adds_and_drops_posts_image(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db, "0003")
    assert "image" not in {c["name"] for c in inspect(db.engine).get_columns("posts")}
    upgrade(db, "0004")
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("posts")}
    assert columns["image"]["nullable"] is True
    downgrade(db, "0003")
    assert "image" not in {c["name"] for c in inspect(db.engine).get_columns("posts")}
    db.dispose()


def test_bundled_example_has_a_cover(tmp_path: Path) -> None:
    source = {"name": "examples", "kind": "markdown", "path": str(EXAMPLES)}
    cfg = make_config(tmp_path, sources=[source])
    db = Database(cfg.storage.url)
    upgrade(db)
    ingest_source(db, cfg, cfg.sources[0], FixedClock(T0))
    covers = {p.external_key: p.image for p in stored(db).values() if p.image}
    assert covers == {"convolution.md": f"{BASE}/media/examples/images/convolution-cover.png"}
    app = create_app(cfg)
    served = app.test_client().get("/media/examples/images/convolution-cover.png")
    try:
        assert (served.status_code, served.mimetype) == (200, "image/png")
        assert served.data.startswith(b"\x89PNG\r\n\x1a\n")
    finally:
        served.close()
    state(app).db.dispose()
    db.dispose()
