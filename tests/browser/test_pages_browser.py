"""What a reader's browser shows: code colours and tables in light and dark, feeds as a page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import pytest

from tests.e2e.test_serve import Server

pytestmark = pytest.mark.e2e

CODE_POST = """---
title: 代码与表格
date: 2026-01-02T10:00:00+08:00
categories: [Python]
---

一段代码:

```python
def softmax(x):
    return x  # 注释
```

| 名称 | 值 |
| --- | --- |
| a | 1 |
"""


def rgb(colour: str) -> tuple[float, ...]:
    """The channels of a computed ``rgb()``/``rgba()`` colour."""
    found = re.fullmatch(r"rgba?\(([^)]*)\)", colour.strip())
    assert found, colour
    return tuple(float(part) for part in found.group(1).split(","))[:3]


def luminance(colour: str) -> float:
    """Relative luminance (0 black … 1 white), WCAG 2 without the gamma curve: enough to tell."""
    r, g, b = rgb(colour)
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def styles(page: Any, selector: str, *names: str) -> dict[str, str]:
    """Computed style properties of the first element matching ``selector``."""
    return page.eval_on_selector(  # type: ignore[no-any-return]
        selector,
        "(el, names) => Object.fromEntries(names.map(n => [n, getComputedStyle(el)[n]]))",
        list(names),
    )


def test_code_colours_and_tables_in_light_and_dark(
    site: Callable[..., Server], open_page: Callable[..., Any], output_dir: Path
) -> None:
    server = site({"code.md": CODE_POST})
    url = server.base + "/posts/code"
    seen: dict[str, dict[str, Any]] = {}
    for scheme in ("light", "dark"):
        page = open_page(url, color_scheme=scheme)
        page.screenshot(path=str(output_dir / f"post-{scheme}.png"), full_page=True)
        keyword = page.locator(".post-content .highlight .k").first
        assert keyword.text_content() in ("def", "return")
        body = styles(page, "body", "backgroundColor", "color")
        seen[scheme] = {
            "body": body["backgroundColor"],
            "text": body["color"],
            "keyword": styles(page, ".post-content .highlight .k", "color")["color"],
            "comment": styles(page, ".post-content .highlight .c1", "color")["color"],
            "cell": styles(page, ".post-content td", "borderTopWidth", "borderTopStyle"),
            "block": styles(page, ".post-content .highlight", "backgroundColor")["backgroundColor"],
        }
        # the code block is laid out as a block with the code in it, not collapsed
        box = page.locator(".post-content .highlight").bounding_box()
        assert box is not None and box["height"] > 20 and box["width"] > 100
    assert luminance(seen["light"]["body"]) > 0.9
    assert luminance(seen["dark"]["body"]) < 0.2
    assert luminance(seen["dark"]["block"]) < 0.2 < 0.9 < luminance(seen["light"]["block"])
    # Pygments colours apply (a keyword is not the text colour) and change with the scheme
    for token in ("keyword", "comment"):
        assert seen["light"][token] != seen["dark"][token], token
        assert seen["light"][token] != seen["light"]["text"], token
    for scheme in ("light", "dark"):
        cell = seen[scheme]["cell"]
        assert cell["borderTopStyle"] == "solid" and float(cell["borderTopWidth"][:-2]) >= 1


def test_atom_and_rss_open_as_a_styled_page(
    site: Callable[..., Server], open_page: Callable[..., Any], output_dir: Path
) -> None:
    server = site({"code.md": CODE_POST})
    for fmt in ("atom", "rss"):
        url = f"{server.base}/feed.{fmt}"
        parsed = feedparser.parse(url)  # a feed reader still gets a valid feed of its own type
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.headers["content-type"].startswith(f"application/{fmt}+xml")
        titles = [entry.title for entry in parsed.entries]
        assert titles == ["第一篇", "代码与表格"]
        for scheme in ("light", "dark"):
            page = open_page(url, color_scheme=scheme)
            page.screenshot(path=str(output_dir / f"{fmt}-{scheme}.png"), full_page=True)
            if page.evaluate("typeof XSLTProcessor") == "undefined":  # Chromium is retiring XSLT
                pytest.skip("this Chromium has no XSLT: feeds cannot be shown as a page in it")
            # the XSLT ran: the feed is now an HTML document with the entries as elements
            assert page.evaluate("document.documentElement.namespaceURI") == (
                "http://www.w3.org/1999/xhtml"
            )
            assert page.evaluate("document.documentElement.lang") == "zh-CN"
            assert page.locator("li.post h2.post-title a").all_text_contents() == titles
            hrefs = page.locator("li.post h2.post-title a").evaluate_all(
                "links => links.map(a => a.href)"
            )
            assert hrefs == [entry.link for entry in parsed.entries]
            assert page.locator("h1.feed-title").text_content() == "端到端"
            assert page.locator("#feed-url").input_value() == url
            assert "阅读器" in (page.locator(".feed-about").text_content() or "")
            summaries = page.locator("li.post .post-summary").all_text_contents()
            assert summaries == [entry.summary for entry in parsed.entries]
            dates = page.locator("li.post .post-date").all_text_contents()
            assert all(re.search(r"\d", date) for date in dates) and len(dates) == 2
            body = styles(page, "body", "backgroundColor")["backgroundColor"]
            assert (luminance(body) < 0.2) == (scheme == "dark"), body
