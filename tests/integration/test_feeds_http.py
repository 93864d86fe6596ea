"""Feeds over HTTP (Flask test client), parsed with feedparser (Atom, RSS) and json (JSON Feed)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import lxml.html
import pytest

from feedsvc.config import Config
from tests.conftest import make_config

BASE = "https://example.org"
HUB = BASE + "/hub"
D = datetime(2026, 1, 11, 1, 30, tzinfo=UTC)
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


@pytest.fixture
def cfg(tmp_path: Path, posts_dir: Path) -> Config:
    return make_config(
        tmp_path, site={"author": "站长", "description": "最新更新"}, feeds={"page_size": 2}
    )


@pytest.fixture
def site(add_post: Any) -> dict[str, dict[str, Any]]:
    """Five visible posts (three pages of two), a draft and a scheduled post."""
    posts = {
        "p1": add_post(
            "p1.md",
            "Softmax 笔记",
            summary="超多分类 <softmax> & 温度",
            published=D,
            categories=("Python", "深度学习"),
            tags=("softmax",),
            author="张三",
        ),
        "p2": add_post("p2.md", "第二篇", published=D.replace(day=12), categories=("Python",)),
        "p3": add_post(
            "p3.md",
            "外部链接",
            published=D.replace(day=13),
            tags=("attention",),
            url="https://elsewhere.example/p3",
        ),
        "p4": add_post(
            "p4.md", "更新过的", published=D.replace(day=14), updated=D.replace(month=2, day=1)
        ),
        "p5": add_post(
            "p5.md",
            "最新一篇",
            published=D.replace(day=15),
            categories=("深度学习",),
            author="张三",
        ),
    }
    add_post("draft.md", "草稿", published=D, draft=True, categories=("Python",))
    add_post("later.md", "未来", published=datetime(2026, 4, 1, tzinfo=UTC))
    return posts


def get(client: Any, url: str, status: int = 200) -> bytes:
    response = client.get(url)
    try:
        assert response.status_code == status, url
        return bytes(response.data)
    finally:
        response.close()


def parse_dt(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def struct_dt(value: time.struct_time) -> datetime:
    return datetime(*value[:6], tzinfo=UTC)


def text_of(detail: Any) -> str:
    """The text a feedparser text construct carries (an RSS description is HTML)."""
    if detail.type == "text/plain":
        return str(detail.value)
    return str(lxml.html.fragment_fromstring(detail.value, create_parent="div").text_content())


def parse(fmt: str, body: bytes) -> dict[str, Any]:
    """Feed-level values and entries, the same shape for all three formats."""
    if fmt == "json":
        doc = json.loads(body)
        assert doc["version"] == JSON_FEED_VERSION
        links = {"self": doc["feed_url"], "alternate": doc["home_page_url"]}
        if "next_url" in doc:
            links["next"] = doc["next_url"]
        links["hub"] = next(h["url"] for h in doc.get("hubs", []) if h["type"] == "WebSub")
        entries = [
            {
                "id": item["id"],
                "title": item["title"],
                "summary": item["summary"],
                "link": item["url"],
                "published": parse_dt(item["date_published"]),
                "updated": parse_dt(item["date_modified"]),
            }
            for item in doc["items"]
        ]
        return {"title": doc["title"], "links": links, "entries": entries, "raw": doc}
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    links = {link["rel"]: link["href"] for link in parsed.feed.get("links", [])}
    if fmt == "rss":
        links.setdefault("alternate", parsed.feed.link)
    entries = [
        {
            "id": e.id,
            "title": e.title,
            "summary": text_of(e.summary_detail),
            "link": e.link,
            "published": struct_dt(e.published_parsed),
            "updated": struct_dt(e.updated_parsed) if fmt == "atom" else None,
        }
        for e in parsed.entries
    ]
    return {"title": parsed.feed.title, "links": links, "entries": entries, "raw": parsed}


FORMATS = ["atom", "rss", "json"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_site_feed_pages_link_each_other_and_list_newest_first(client, site, fmt):
    url = f"{BASE}/feed.{fmt}"
    expected = [["p5", "p4"], ["p3", "p2"], ["p1"]]
    for number, keys in enumerate(expected, start=1):
        self_url = url if number == 1 else f"{url}?page={number}"
        feed = parse(fmt, get(client, self_url))
        assert feed["title"] == "测试站点"
        assert [e["id"] for e in feed["entries"]] == [site[k]["id"] for k in keys]
        links = feed["links"]
        assert links["self"] == self_url
        assert links["hub"] == HUB
        assert links["alternate"] in (BASE + "/", BASE)
        assert links.get("next") == (f"{url}?page={number + 1}" if number < 3 else None)
        if fmt != "json":  # RFC 5005 links; JSON Feed only has next_url
            assert links["first"] == url
            assert links["last"] == f"{url}?page=3"
            previous = None if number == 1 else (url if number == 2 else f"{url}?page=2")
            assert links.get("previous") == previous


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_carry_the_stored_values(client, site, fmt):
    feed = parse(fmt, get(client, f"{BASE}/feed.{fmt}?page=3"))
    (entry,) = feed["entries"]
    assert entry["title"] == "Softmax 笔记"
    assert entry["summary"] == "超多分类 <softmax> & 温度"
    assert entry["link"] == BASE + "/posts/p1"
    assert entry["published"] == D
    if entry["updated"] is not None:
        assert entry["updated"] == D


@pytest.mark.parametrize("fmt", FORMATS)
def test_external_url_is_the_entry_link(client, site, fmt):
    feed = parse(fmt, get(client, f"{BASE}/feed.{fmt}?page=2"))
    assert [e["link"] for e in feed["entries"]] == [
        "https://elsewhere.example/p3",
        BASE + "/posts/p2",
    ]


def test_same_post_has_the_same_values_in_every_format(client, site):
    seen = {}
    for fmt in FORMATS:
        (entry,) = parse(fmt, get(client, f"{BASE}/feed.{fmt}?page=3"))["entries"]
        seen[fmt] = entry
    for key in ("id", "title", "summary", "published", "link"):
        assert seen["atom"][key] == seen["rss"][key] == seen["json"][key], key
    assert seen["atom"]["updated"] == seen["json"]["updated"]


def test_atom_feed_level_values(client, site):
    parsed = parse("atom", get(client, f"{BASE}/feed.atom"))["raw"]
    assert parsed.feed.id == "tag:example.org,2026:feed"
    assert parsed.feed.subtitle == "最新更新"
    # the newest entry update on the page, never the clock
    assert struct_dt(parsed.feed.updated_parsed) == D.replace(month=2, day=1)
    entry = parsed.entries[0]
    assert entry.author == "张三"
    assert [(t.term, t.label) for t in entry.tags] == [("深度学习", "深度学习")]
    assert "tags" not in parsed.entries[1]
    assert parsed.entries[1].author == "站长"  # no post author: the site's


def test_rss_guids_and_authors(client, site):
    parsed = parse("rss", get(client, f"{BASE}/feed.rss?page=3"))["raw"]
    (entry,) = parsed.entries
    assert entry.id == site["p1"]["id"] and entry.guidislink is False
    assert entry.author == "张三"
    # categories and tags, named by label, with the scheme as the domain
    assert sorted(t.term for t in entry.tags) == ["Python", "softmax", "深度学习"]
    assert {t.term: t.scheme for t in entry.tags}["Python"] == BASE + "/categories/"


def test_json_feed_fields(client, site):
    doc = parse("json", get(client, f"{BASE}/feed.json"))["raw"]
    assert doc["feed_url"] == BASE + "/feed.json"
    assert doc["next_url"] == BASE + "/feed.json?page=2"
    assert doc["language"] == "zh-CN"
    assert doc["hubs"] == [{"type": "WebSub", "url": HUB}]
    first = doc["items"][0]
    assert first["id"] == site["p5"]["id"]
    assert first["authors"] == [{"name": "张三"}]
    assert first["content_html"] == "<p>最新一篇 的正文。</p>"
    assert parse_dt(first["date_published"]) == D.replace(day=15)
    assert parse_dt(first["date_modified"]) == D.replace(day=15)


def test_empty_site_feed_is_a_valid_feed(client):
    feed = parse("atom", get(client, f"{BASE}/feed.atom"))
    assert feed["entries"] == []
    assert struct_dt(feed["raw"].feed.updated_parsed) == datetime(2026, 1, 1, tzinfo=UTC)
    assert feed["links"]["last"] == BASE + "/feed.atom"
    get(client, "/feed.atom?page=2", 404)


@pytest.mark.parametrize(
    ("path", "keys", "title"),
    [
        ("/categories/python/feed", ["p2", "p1"], "测试站点 - Python"),
        ("/categories/深度学习/feed", ["p5", "p1"], "测试站点 - 深度学习"),
        ("/tags/softmax/feed", ["p1"], "测试站点 - softmax"),
        ("/authors/张三/feed", ["p5", "p1"], "测试站点 - 张三"),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_scoped_feeds(client, site, fmt, path, keys, title):
    feed = parse(fmt, get(client, f"{path}.{fmt}"))
    assert feed["title"] == title
    assert [e["id"] for e in feed["entries"]] == [site[k]["id"] for k in keys]
    assert feed["links"]["self"] == f"{BASE}{quote(path)}.{fmt}"
    assert feed["links"]["hub"] == HUB
    if fmt == "atom":
        kind, slug = path.split("/")[1:3]
        assert feed["raw"].feed.id == f"tag:example.org,2026:{kind}/{quote(slug)}"


def test_full_content_off_leaves_content_out(tmp_path, posts_dir, clock, add_post):
    from feedsvc.app import create_app
    from feedsvc.web.state import state

    cfg = make_config(tmp_path, feeds={"full_content": False})
    app = create_app(cfg, clock=clock)
    try:
        add_post("a.md", "标题", published=D)
        with app.test_client() as client:
            parsed = parse("atom", get(client, "/feed.atom"))["raw"]
            doc = parse("json", get(client, "/feed.json"))["raw"]
        assert "content" not in parsed.entries[0]
        assert "content_html" not in doc["items"][0]
        assert doc["items"][0]["summary"] == "标题 的正文。"
    finally:
        state(app).db.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "/feed.atom?page=0",
        "/feed.atom?page=-1",
        "/feed.atom?page=abc",
        "/feed.atom?page=1.5",
        "/feed.atom?page=",
        "/feed.atom?page=4",
        "/feed.atom?page=99999999999999999999",
        "/feed.atom?page=2&page=3",
        "/feed.xml",
        "/categories/nope/feed.atom",
        "/tags/nope/feed.rss",
        "/authors/nope/feed.json",
        "/series/python/feed.atom",
        "/categories/python/feed.atom?page=2",
    ],
)
def test_not_found(client, site, url):
    get(client, url, 404)


def test_a_new_post_shows_up_within_a_second(client, site, add_post):
    before = parse("atom", get(client, "/feed.atom"))["entries"]
    new = add_post("p6.md", "新文章", published=D.replace(day=16))
    deadline = time.monotonic() + 1.0
    while True:
        ids = [e["id"] for e in parse("atom", get(client, "/feed.atom"))["entries"]]
        if ids[0] == new["id"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ids == [new["id"], before[0]["id"]]
