"""HTML pages, the media route and /metrics, parsed (lxml.html, the exposition format)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import lxml.html
import pytest

from feedsvc.config import Config
from tests.conftest import make_config

BASE = "https://example.org"
D = datetime(2026, 1, 11, 1, 30, tzinfo=UTC)
FEED_TYPES = ["application/atom+xml", "application/rss+xml", "application/feed+json"]


@pytest.fixture
def cfg(tmp_path: Path, posts_dir: Path) -> Config:
    return make_config(tmp_path, feeds={"page_size": 2})


@pytest.fixture
def site(add_post: Any) -> None:
    add_post(
        "p1.md",
        "Softmax 笔记",
        summary="超多分类 <softmax> & [公式]...",
        content_html='<h2>标题</h2><p>正文 <a href="https://a.example/">链接</a></p>',
        published=D,
        categories=("Python", "深度学习"),
        tags=("softmax",),
        author="张三",
    )
    add_post("p2.md", "第二篇", published=D.replace(day=12), categories=("Python",))
    add_post("p3.md", "外部", published=D.replace(day=13), url="https://elsewhere.example/p3")
    add_post("p4.md", "第四篇", published=D.replace(day=14))
    add_post("p5.md", "最新一篇", published=D.replace(day=15), categories=("深度学习",))
    add_post("draft.md", "草稿", published=D, draft=True)
    add_post("later.md", "未来", published=datetime(2026, 4, 1, tzinfo=UTC))


def page(client: Any, url: str, status: int = 200) -> Any:
    response = client.get(url)
    try:
        assert response.status_code == status, url
        assert response.mimetype == "text/html"
        return lxml.html.fromstring(response.data)
    finally:
        response.close()


def texts(doc: Any, xpath: str) -> list[str]:
    return [" ".join(el.text_content().split()) for el in doc.xpath(xpath)]


def alternates(doc: Any) -> list[tuple[str, str]]:
    return [(el.get("type"), el.get("href")) for el in doc.xpath('//link[@rel="alternate"]')]


def listing(doc: Any) -> list[dict[str, Any]]:
    out = []
    for li in doc.xpath('//li[@class="post"]'):
        (title,) = li.xpath('.//h2[@class="post-title"]/a')
        out.append(
            {
                "title": title.text_content(),
                "href": title.get("href"),
                "summary": li.xpath('string(.//p[@class="post-summary"])'),
                "categories": [
                    (a.text_content(), a.get("href"))
                    for a in li.xpath('.//a[@class="post-category"]')
                ],
                "date": li.xpath('string(.//time[@class="post-date"])'),
            }
        )
    return out


def pager(doc: Any) -> dict[str, Any]:
    nav = doc.xpath('//nav[@class="pagination"]')
    if not nav:
        return {}
    return {
        "numbers": texts(nav[0], ".//*[contains(@class, 'page')]"),
        "current": texts(nav[0], './/*[@aria-current="page"]'),
        "prev": nav[0].xpath('string(.//a[@rel="prev"]/@href)') or None,
        "next": nav[0].xpath('string(.//a[@rel="next"]/@href)') or None,
    }


def test_home_page_lists_the_latest_posts(client, site):
    doc = page(client, "/")
    assert doc.get("lang") == "zh-CN"
    assert doc.xpath('string(//a[@class="site-title"])') == "测试站点"
    assert [e["title"] for e in listing(doc)] == ["最新一篇", "第四篇"]
    assert listing(doc)[0] == {
        "title": "最新一篇",
        "href": BASE + "/posts/p5",
        "summary": "最新一篇 的正文。",
        "categories": [("深度学习", BASE + "/categories/" + quote("深度学习") + "/")],
        "date": "2026-01-15",
    }
    assert alternates(doc) == [
        (t, f"{BASE}/feed.{fmt}")
        for t, fmt in zip(FEED_TYPES, ["atom", "rss", "json"], strict=True)
    ]
    assert pager(doc) == {
        "numbers": ["1", "2", "3"],
        "current": ["1"],
        "prev": None,
        "next": BASE + "/?page=2",
    }


def test_later_pages_and_escaped_summaries(client, site):
    second = page(client, "/?page=2")
    assert [e["title"] for e in listing(second)] == ["外部", "第二篇"]
    assert pager(second)["prev"] == BASE + "/"
    assert pager(second)["next"] == BASE + "/?page=3"
    (entry,) = listing(page(client, "/?page=3"))
    assert entry["summary"] == "超多分类 <softmax> & [公式]..."
    assert [name for name, _ in entry["categories"]] == ["Python", "深度学习"]
    assert entry["date"] == "2026-01-11"


@pytest.mark.parametrize(
    ("path", "titles", "feed"),
    [
        ("/categories/python/", ["第二篇", "Softmax 笔记"], "/categories/python/feed"),
        ("/tags/softmax/", ["Softmax 笔记"], "/tags/softmax/feed"),
        ("/authors/张三/", ["Softmax 笔记"], "/authors/" + quote("张三") + "/feed"),
    ],
)
def test_scoped_pages_advertise_their_feeds(client, site, path, titles, feed):
    doc = page(client, path)
    assert [e["title"] for e in listing(doc)] == titles
    assert [href for _, href in alternates(doc)] == [
        f"{BASE}{feed}.{fmt}" for fmt in ("atom", "rss", "json")
    ]
    assert pager(doc) == {}  # one page: no pagination


def test_post_page(client, site):
    doc = page(client, "/posts/p1")
    assert doc.xpath('string(//h1[@class="post-title"])') == "Softmax 笔记"
    assert doc.xpath('string(//time[@class="post-date"])') == "2026-01-11"
    assert texts(doc, '//a[@class="post-category"]') == ["Python", "深度学习"]
    assert texts(doc, '//a[@class="post-tag"]') == ["softmax"]
    assert (
        doc.xpath('string(//a[@class="post-author"]/@href)') == f"{BASE}/authors/{quote('张三')}/"
    )
    (content,) = doc.xpath('//div[@class="post-content"]')
    assert [el.tag for el in content] == ["h2", "p"]  # HTML, not escaped text
    assert content.xpath("string(.//a/@href)") == "https://a.example/"
    assert doc.xpath('//a[@class="external"]') == []
    external = page(client, "/posts/p3")
    assert external.xpath('string(//a[@class="external"]/@href)') == "https://elsewhere.example/p3"


@pytest.mark.parametrize(
    "url",
    [
        "/?page=4",
        "/?page=0",
        "/?page=x",
        "/categories/nope/",
        "/tags/nope/",
        "/authors/nope/",
        "/posts/nope",
        "/posts/draft",
        "/posts/later",
        "/no/such/page",
    ],
)
def test_not_found_is_a_real_page(client, site, url):
    doc = page(client, url, 404)
    assert doc.xpath('string(//h1[@class="not-found"])') == "404"
    assert doc.get("lang") == "zh-CN"


def test_pages_are_conditional_too(client, site):
    first = client.get("/")
    try:
        etag = first.headers["ETag"]
    finally:
        first.close()
    again = client.get("/", headers={"If-None-Match": etag})
    try:
        assert again.status_code == 304 and again.data == b""
    finally:
        again.close()


@pytest.fixture
def media_tree(tmp_path: Path, posts_dir: Path) -> bytes:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(32)
    (posts_dir / "img").mkdir()
    (posts_dir / "img" / "a.png").write_bytes(png)
    (posts_dir / "img" / ".hidden.png").write_bytes(png)
    (posts_dir / "secret.md").write_text("# secret\n", encoding="utf-8")
    (posts_dir / "notes.Markdown").write_text("# secret\n", encoding="utf-8")
    (tmp_path / "outside.png").write_bytes(png)
    (posts_dir / "escape.png").symlink_to(tmp_path / "outside.png")
    (posts_dir / "md-link.png").symlink_to(posts_dir / "secret.md")
    return png


def test_media_serves_assets(client, media_tree):
    response = client.get("/media/posts/img/a.png")
    try:
        assert response.status_code == 200
        assert response.data == media_tree
        assert response.mimetype == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        response.close()


@pytest.mark.parametrize(
    "url",
    [
        "/media/posts/secret.md",
        "/media/posts/notes.Markdown",
        "/media/posts/img/.hidden.png",
        "/media/posts/escape.png",
        "/media/posts/md-link.png",
        "/media/posts/img",
        "/media/posts/img/missing.png",
        "/media/posts/../outside.png",
        "/media/posts/img/../../outside.png",
        "/media/posts/%2e%2e/outside.png",
        "/media/posts/img/%2e%2e/%2e%2e/outside.png",
        "/media/posts//etc/passwd",
        "/media/posts/img%2f..%2f..%2foutside.png",
        "/media/nope/img/a.png",
    ],
)
def test_media_refuses(client, media_tree, url):
    response = client.get(url, follow_redirects=True)  # "//" is merged by a redirect
    try:
        assert response.status_code == 404
        assert response.data != media_tree
    finally:
        response.close()


_SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    try:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.get_data(as_text=True)
    finally:
        response.close()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = tuple(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def test_metrics(client, site, db, clock):
    from feedsvc.storage import sources as source_store

    with db.write() as session:
        state = source_store.get_state(session, "posts", "markdown")
        state.last_run_at = clock.now()
        state.consecutive_failures = 2
    samples = scrape(client)
    assert {k[1][0][1]: v for k, v in samples.items() if k[0] == "feedsvc_posts"} == {
        "visible": 5.0,
        "draft": 1.0,
        "scheduled": 1.0,
        "removed": 0.0,
    }
    assert samples[("feedsvc_content_version", ())] == 5.0
    assert samples[("feedsvc_source_last_run_timestamp_seconds", (("source", "posts"),))] == (
        clock.now().timestamp()
    )
    assert samples[("feedsvc_source_consecutive_failures", (("source", "posts"),))] == 2.0
    assert samples[("feedsvc_deliveries", (("status", "pending"),))] == 0.0
