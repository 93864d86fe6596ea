"""`feedsvc serve` shows dates in the site's time zone and page text in the site's language, and
points browsers at feed.xsl while feed readers keep their feed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import httpx
import pytest
from lxml import etree, html

from feedsvc.content.codestyle import code_style_css
from feedsvc.content.messages import EN
from tests.e2e.test_serve import Server, running

pytestmark = pytest.mark.e2e

BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
POST = """---
title: {title}
date: {date}
---

正文[^1]。

[^1]: 一个脚注。
"""


def write_posts(server: Server) -> None:
    (server.posts / "first.md").unlink()
    for name, date in (("new-year", "2026-01-01T00:30:00+08:00"), ("eve", "2025-12-30T12:00:00Z")):
        text = POST.format(title=name, date=date)
        (server.posts / f"{name}.md").write_text(text, "utf-8")
    result = server.run("ingest")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def english(tmp_path: Path) -> Iterator[Server]:
    site = 'language = "en"\ntimezone = "Asia/Shanghai"\n'
    with running(tmp_path, site=site, extra_config="[feeds]\npage_size = 1\n") as server:
        write_posts(server)
        yield server


@pytest.fixture
def chinese(tmp_path: Path) -> Iterator[Server]:
    with running(tmp_path, extra_config="[feeds]\npage_size = 1\n") as server:  # zh-CN, UTC
        write_posts(server)
        yield server


def page(url: str, status: int = 200) -> html.HtmlElement:
    response = httpx.get(url)
    assert response.status_code == status, url
    return html.fromstring(response.content)


def texts(doc: html.HtmlElement, xpath: str) -> list[str]:
    return [el.text_content().strip() for el in doc.xpath(xpath)]


def test_english_site_in_shanghai_time(english: Server) -> None:
    first = page(english.base + "/")
    # 2026-01-01 00:30 +08:00 is 2025-12-31 in UTC: the page shows the site's calendar day
    assert texts(first, "//time[@class='post-date']") == ["2026-01-01"]
    stamp = first.xpath("//time[@class='post-date']/@datetime")[0]
    assert datetime.fromisoformat(stamp).utcoffset().total_seconds() == 8 * 3600
    assert texts(first, "//h1[@class='scope']") == ["Latest updates"]
    assert texts(first, "//nav[@class='pagination']/a[@rel='next']") == ["Next"]
    assert first.xpath("//nav[@class='pagination']/@aria-label") == ["Pagination"]
    second = page(english.base + "/?page=2")
    assert texts(second, "//nav[@class='pagination']/a[@rel='prev']") == ["Previous"]
    post = page(english.base + "/posts/new-year")
    assert texts(post, "//time[@class='post-date']") == ["2026-01-01"]
    backref = post.xpath("//a[contains(@class, 'footnote-backref')]")[0]
    assert backref.get("title") == "Jump back to footnote 1 in the text"
    missing = page(english.base + "/posts/nothing-here", 404)
    assert texts(missing, "//p[@class='not-found-text']") == ["Page not found."]
    # feeds keep the full instant, in UTC as before
    feed = feedparser.parse(english.base + "/feed.atom")
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.subtitle == "Latest updates"
    published = datetime(*feed.entries[0].published_parsed[:6], tzinfo=UTC)
    assert published == datetime(2025, 12, 31, 16, 30, tzinfo=UTC)
    # the feed's page speaks the site's language too
    xml = httpx.get(english.base + "/feed.rss").content
    sheet = etree.fromstring(httpx.get(stylesheet_href(xml)).content)
    shown = etree.XSLT(sheet)(etree.fromstring(xml)).getroot()
    assert shown.get("lang") == "en"
    assert shown.findtext(".//p[@class='feed-about']") == EN.feed_about
    assert shown.findtext(".//h2[@class='feed-entries']") == EN.feed_entries


def test_code_css_is_served_like_a_static_file(english: Server) -> None:
    post = page(english.base + "/posts/new-year")
    (href,) = post.xpath("//link[@rel='stylesheet' and contains(@href, 'code')]/@href")
    url = httpx.URL(english.base + "/").join(href)
    css = httpx.get(url)
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.text == code_style_css()
    etag = css.headers["etag"]
    assert etag.startswith('"') and "max-age=300" in css.headers["cache-control"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_chinese_site_labels(chinese: Server) -> None:
    first = page(chinese.base + "/")
    assert texts(first, "//time[@class='post-date']") == ["2025-12-31"]  # UTC by default
    assert texts(first, "//h1[@class='scope']") == ["最近更新"]
    assert texts(first, "//nav[@class='pagination']/a[@rel='next']") == ["下一页"]
    assert texts(page(chinese.base + "/?page=2"), "//a[@rel='prev']") == ["上一页"]
    post = page(chinese.base + "/posts/new-year")
    backref = post.xpath("//a[contains(@class, 'footnote-backref')]")[0]
    assert backref.get("title") == "跳回正文中第 1 个脚注处"
    missing = page(chinese.base + "/nothing-here", 404)
    assert texts(missing, "//p[@class='not-found-text']") == ["页面不存在。"]


def stylesheet_href(body: bytes) -> str:
    """The href of the xml-stylesheet PI before the root element (and it is an XSLT one)."""
    root = etree.fromstring(body)
    found = [node for node in root.itersiblings(preceding=True)]
    pis = [n for n in found if isinstance(n, etree._ProcessingInstruction)]
    assert [pi.target for pi in pis] == ["xml-stylesheet"]
    assert pis[0].get("type") == "text/xsl"
    return str(pis[0].get("href"))


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_feeds_point_browsers_at_the_stylesheet(chinese: Server, fmt: str) -> None:
    url = f"{chinese.base}/feed.{fmt}"
    reader = httpx.get(url, headers={"Accept": "application/atom+xml, application/rss+xml"})
    browser = httpx.get(url, headers={"Accept": BROWSER_ACCEPT})
    assert reader.headers["content-type"] == f"application/{fmt}+xml; charset=utf-8"
    assert browser.headers["content-type"] == "application/xml; charset=utf-8"
    for response in (reader, browser):
        vary = {v.strip().lower() for v in response.headers["vary"].split(",")}
        assert vary == {"accept", "accept-encoding"}
        assert etree.fromstring(response.content).tag == etree.fromstring(reader.content).tag
    # two representations, two strong validators (RFC 9110 §8.8.3); each answers its own 304
    assert reader.headers["etag"] != browser.headers["etag"]
    again = httpx.get(
        url, headers={"Accept": BROWSER_ACCEPT, "If-None-Match": browser.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["content-type"] == "application/xml; charset=utf-8"
    href = stylesheet_href(reader.content)
    assert href == chinese.base + "/feed.xsl" == stylesheet_href(browser.content)
    parsed = feedparser.parse(reader.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.title for e in parsed.entries] == ["new-year"]

    xsl = httpx.get(href)
    assert xsl.status_code == 200
    assert xsl.headers["content-type"] == "application/xslt+xml; charset=utf-8"
    etag = xsl.headers["etag"]
    assert not etag.startswith("W/")
    assert "max-age=" in xsl.headers["cache-control"]
    sheet = etree.fromstring(xsl.content)
    assert sheet.tag == "{http://www.w3.org/1999/XSL/Transform}stylesheet"
    assert httpx.get(href, headers={"If-None-Match": etag}).status_code == 304
    # the transform itself, run here by libxslt: the page lists the feed's entries
    result = etree.XSLT(sheet)(etree.fromstring(reader.content))
    shown = result.getroot()
    assert shown.get("lang") == "zh-CN"
    assert [a.text for a in shown.iterfind(".//li/h2/a")] == ["new-year"]
    assert shown.find(".//input").get("value") == url
