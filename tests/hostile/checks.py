"""What every page and feed must be after hostile input: valid, and inert (parsed, not grepped)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import feedparser
import lxml.html
from lxml import etree

SCRIPT_SCHEMES = ("javascript:", "data:", "vbscript:")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "background", "cite", "data"}
_IGNORED = re.compile(r"[\x00-\x20\x7f-\x9f]")  # what browsers strip before reading a scheme


def script_url(value: str) -> bool:
    return _IGNORED.sub("", value).lower().startswith(SCRIPT_SCHEMES)


def assert_inert(tree: Any, where: str) -> None:
    """No <script>, no on* handler, no script-scheme URL anywhere in a parsed HTML tree."""
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue  # comments, processing instructions
        tag = etree.QName(el).localname.lower()
        assert tag != "script", f"{where}: <script> element"
        for name, value in el.attrib.items():
            local = etree.QName(name).localname.lower()
            assert not local.startswith("on"), f"{where}: handler attribute {name}={value!r}"
            if local in URL_ATTRIBUTES or local.endswith("href"):
                assert not script_url(value), f"{where}: script URL {name}={value!r}"


def assert_inert_page(body: bytes, where: str) -> None:
    assert_inert(lxml.html.document_fromstring(body), where)


def assert_inert_fragment(html: str, where: str) -> None:
    if html.strip():
        assert_inert(lxml.html.fragment_fromstring(html, create_parent="div"), where)


def check_feeds_and_pages(client: Any, slugs: list[str]) -> int:
    """Every feed format parses without bozo and is inert; the front page and each post page
    (``slugs``) are inert. Returns the number of entries seen in the Atom feed."""
    entries = 0
    for fmt in ("atom", "rss"):
        resp = client.get(f"/feed.{fmt}")
        assert resp.status_code == 200, fmt
        parsed = feedparser.parse(resp.data)
        assert not parsed.bozo, (fmt, parsed.get("bozo_exception"))
        for entry in parsed.entries:
            for link in entry.get("links", []):
                assert not script_url(link["href"]), (fmt, link)
                assert link["href"].startswith(("http://", "https://")), (fmt, link)
            for content in entry.get("content", []) + [entry.get("summary_detail") or {}]:
                if content.get("type", "").endswith("html"):
                    assert_inert_fragment(content["value"], f"/feed.{fmt}")
        entries = entries if fmt != "atom" else len(parsed.entries)
    feed = json.loads(client.get("/feed.json").data)
    for item in feed["items"]:
        for key in ("url", "external_url"):
            if key in item:
                assert item[key].startswith(("http://", "https://")), item[key]
        assert_inert_fragment(item.get("content_html", ""), "/feed.json")
    for slug in slugs:
        page = client.get(f"/posts/{quote(slug, safe='')}")
        assert page.status_code == 200, slug
        assert_inert_page(page.data, slug)
    front = client.get("/")
    assert front.status_code == 200
    assert_inert_page(front.data, "/")
    return entries
