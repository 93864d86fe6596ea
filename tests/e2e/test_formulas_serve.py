"""Formulas through a real `feedsvc serve`: MathML with its TeX annotation in Atom, RSS, JSON Feed
and on the post page; feedparser parses every feed without bozo and its sanitiser keeps <math>."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import httpx
import lxml.etree
import lxml.html
import pytest
from feedparser.sanitizer import _sanitize_html

from tests.e2e.test_serve import Server, running

pytestmark = pytest.mark.e2e

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
TEX = "application/x-tex"
POST = """---
title: 注意力的缩放
date: 2026-01-11T09:30:00+08:00
---

# 注意力的缩放

点积 $q \\cdot k$ 的方差随维度 \\(d\\) 增长,所以

$$
\\operatorname{Attention}(Q, K, V) = \\operatorname{softmax}\\left(\\frac{QK^T}{\\sqrt{d}}\\right)V
$$

价格 $5 和 $10 不是公式,`$x$` 也不是;\\$y\\$ 是两个美元符号。
"""
FORMULAS = [
    ("inline", "q \\cdot k"),
    ("inline", "d"),
    (
        "block",
        "\n\\operatorname{Attention}(Q, K, V) = "
        "\\operatorname{softmax}\\left(\\frac{QK^T}{\\sqrt{d}}\\right)V\n",
    ),
]


def formulas(html: str) -> list[tuple[str, str]]:
    """(display, TeX annotation) of each <math> in an HTML fragment, checking its structure."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    found = []
    for math in root.iter("math"):
        (semantics,) = math
        assert semantics.tag == "semantics"
        presentation, annotation = semantics
        assert presentation.tag.startswith("m") and presentation.tag != "math"
        assert annotation.tag == "annotation" and annotation.get("encoding") == TEX
        found.append((math.get("display", "inline"), annotation.text))
    return found


def fetch(server: Server, path: str) -> bytes:
    resp = httpx.get(server.base + path, timeout=10)
    assert resp.status_code == 200, (path, resp.status_code)
    return resp.content


def check_feedparser(url: str) -> None:
    """A reader's view: feedparser fetches the feed itself, parses it and sanitises the entry."""
    parsed = feedparser.parse(url)
    assert parsed.status == 200 and parsed.bozo == 0, parsed.get("bozo_exception")
    (entry,) = parsed.entries
    check_reader_sanitised(entry.content[0].value)


def check_reader_sanitised(html: str) -> None:
    """The formulas survive feedparser's sanitiser (what a reader shows), TeX and all."""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    maths = list(root.iter("math"))
    assert len(maths) == 3
    assert [a.text for a in root.iter("annotation")] == [tex for _, tex in FORMULAS]
    assert not root.xpath("//code[@class='math-tex']")


def test_formulas_reach_every_feed_and_the_page_as_mathml(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        (server.posts / "first.md").unlink()
        (server.posts / "attention.md").write_text(POST, "utf-8")
        result = server.run("ingest")
        assert result.returncode == 0, result.stdout + result.stderr

        atom = fetch(server, "/feed.atom")
        (entry,) = lxml.etree.fromstring(atom).iter(ATOM + "entry")
        content = entry.find(ATOM + "content")
        assert content is not None and content.get("type") == "html"
        assert formulas(content.text or "") == FORMULAS
        check_feedparser(server.base + "/feed.atom")

        rss = fetch(server, "/feed.rss")
        (item,) = lxml.etree.fromstring(rss).iter("item")
        assert formulas(item.findtext(CONTENT) or "") == FORMULAS
        check_feedparser(server.base + "/feed.rss")

        feed = json.loads(fetch(server, "/feed.json"))
        (json_item,) = feed["items"]
        assert formulas(json_item["content_html"]) == FORMULAS
        assert "[公式]" in json_item["summary"] and "cdot" not in json_item["summary"]
        # feedparser 6.0 reads no JSON Feed: its sanitiser over content_html, as for the others
        check_reader_sanitised(_sanitize_html(json_item["content_html"], "utf-8", "text/html"))
        assert feed["version"] == "https://jsonfeed.org/version/1.1"

        assert json_item["url"].startswith(server.base + "/posts/")
        page = lxml.html.fromstring(fetch(server, json_item["url"][len(server.base) :]))
        (article,) = page.xpath("//div[@class='post-content']")
        assert formulas(lxml.html.tostring(article, encoding="unicode")) == FORMULAS
        text = article.text_content()
        assert "$5 和 $10" in text and "$y$" in text
        assert [c.text for c in article.iter("code")] == ["$x$"]
