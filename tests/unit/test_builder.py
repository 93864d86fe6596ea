"""Feed bytes from FeedDoc values: deterministic, ordered, and the same post in every format."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.feeds import builder
from feedsvc.feeds.model import FeedDoc, FeedItem, Term

ROOT = Path(__file__).resolve().parents[2]
EAST8 = timezone(timedelta(hours=8))
T0 = datetime(2026, 1, 11, 9, 30, tzinfo=EAST8)  # 01:30 UTC
BASE = "https://example.org"
FORMATS = ("atom", "rss", "json")
PYTHON = Term("python", "Python", f"{BASE}/categories/")


def make_item(n: int, **changes: Any) -> FeedItem:
    item = FeedItem(
        id=f"tag:example.org,2026-01-11:markdown/post-{n}.md",
        url=f"{BASE}/posts/post-{n}",
        title=f"第 {n} 篇：注意力机制",
        summary=f"摘要 {n}: a < b & c <b>不是粗体</b>",
        content_html=f"<p>正文 {n} &amp; <code>x&lt;y</code></p>",
        published=T0 + timedelta(days=n),
        updated=T0 + timedelta(days=n, hours=1, microseconds=123),
        authors=("张三",),
        categories=(PYTHON,),
        tags=(Term("attention", "注意力"),),
        language="zh-CN",
    )
    return dataclasses.replace(item, **changes)


def make_doc(**changes: Any) -> FeedDoc:
    items = tuple(make_item(n) for n in (3, 2, 1))
    doc = FeedDoc(
        id="tag:example.org,2026:feed",
        title="机器学习笔记",
        description="最新更新",
        language="zh-CN",
        home_url=f"{BASE}/",
        self_url=f"{BASE}/feed.atom?page=2",
        author="站长",
        updated=items[0].updated,
        items=items,
        first_url=f"{BASE}/feed.atom",
        last_url=f"{BASE}/feed.atom?page=3",
        next_url=f"{BASE}/feed.atom?page=3",
        previous_url=f"{BASE}/feed.atom",
        hub_url=f"{BASE}/hub",
    )
    return dataclasses.replace(doc, **changes)


def parse(fmt: str, doc: FeedDoc) -> Any:
    body = builder.build(fmt, doc)
    if fmt == "json":
        return json.loads(body)
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


_DIGEST_SCRIPT = """
import hashlib
from feedsvc.feeds import builder
from tests.unit.test_builder import make_doc
for fmt in ("atom", "rss", "json"):
    print(fmt, hashlib.sha256(builder.build(fmt, make_doc())).hexdigest())
"""


def test_same_doc_same_bytes_across_processes():
    digests = []
    for seed, tz in (("1", "UTC"), ("2", "Asia/Shanghai")):
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        digests.append(out.stdout)
    here = "".join(
        f"{fmt} {hashlib.sha256(builder.build(fmt, make_doc())).hexdigest()}\n" for fmt in FORMATS
    )
    assert digests == [here, here]


@pytest.mark.parametrize("fmt", ["atom", "rss"])  # JSON Feed has no feed-level date
def test_bytes_follow_the_doc_not_the_clock(fmt):
    doc = make_doc()
    later = dataclasses.replace(doc, updated=doc.updated + timedelta(seconds=1))
    assert builder.build(fmt, doc) == builder.build(fmt, doc)
    assert builder.build(fmt, doc) != builder.build(fmt, later)


def test_feed_updated_is_the_doc_updated():
    atom, rss = parse("atom", make_doc()), parse("rss", make_doc())
    assert atom.feed.updated == "2026-01-14T02:30:00+00:00"  # microseconds dropped, UTC
    assert rss.feed.updated == "Wed, 14 Jan 2026 02:30:00 +0000"  # lastBuildDate


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_keep_the_given_order(fmt):
    doc = make_doc(items=tuple(make_item(n) for n in (1, 3, 2)))
    parsed = parse(fmt, doc)
    entries = parsed["items"] if fmt == "json" else parsed.entries
    assert [e["id"] for e in entries] == [item.id for item in doc.items]


def test_one_post_is_the_same_in_every_format():
    doc = make_doc()
    atom, rss, jsf = parse("atom", doc), parse("rss", doc), parse("json", doc)
    for n, item in enumerate(doc.items):
        a, r, j = atom.entries[n], rss.entries[n], jsf["items"][n]
        assert a.id == r.id == j["id"] == item.id
        assert a.title == r.title == j["title"] == item.title
        assert a.summary == j["summary"] == item.summary
        assert lxml.html.fragment_fromstring(r.summary, create_parent="div").text_content() == (
            item.summary
        )
        assert a.link == r.link == j["url"] == item.url
        published = item.published.astimezone(UTC)
        assert a.published_parsed == r.published_parsed == published.utctimetuple()
        assert datetime.fromisoformat(j["date_published"]) == published
        updated = item.updated.astimezone(UTC).replace(microsecond=0)
        assert datetime.fromisoformat(a.updated) == datetime.fromisoformat(j["date_modified"])
        assert datetime.fromisoformat(a.updated) == updated
        assert a.content[0].value == r.content[0].value == j["content_html"] == item.content_html
        assert [t.term for t in a.tags] == ["python", "attention"]
        assert [t.label for t in a.tags] == ["Python", "注意力"]
        assert [t.term for t in r.tags] == j["tags"] == ["Python", "注意力"]
        assert a.author == r.author == j["authors"][0]["name"] == "张三"


@pytest.mark.parametrize(
    ("item_id", "url", "permalink"),
    [
        ("tag:example.org,2026-01-11:markdown/a.md", f"{BASE}/posts/a", "false"),
        (f"{BASE}/posts/a", f"{BASE}/posts/a", "true"),
        ("http://example.org/a", "http://example.org/a", "true"),
        (f"{BASE}/posts/a", f"{BASE}/posts/b", "false"),
        ("urn:uuid:1234", "urn:uuid:1234", "false"),
    ],
)
def test_guid_is_permalink_only_for_its_own_url(item_id, url, permalink):
    doc = make_doc(items=(make_item(1, id=item_id, url=url),))
    guid = etree.fromstring(builder.build_rss(doc)).find("channel/item/guid")
    assert (guid.text, guid.get("isPermaLink")) == (item_id, permalink)
    assert parse("rss", doc).entries[0].id == item_id


def test_rss_channel_link_is_the_home_page():
    rss = parse("rss", make_doc())
    assert rss.feed.link == f"{BASE}/"
    links = {(link.rel, link.href) for link in rss.feed.links}
    assert ("self", f"{BASE}/feed.atom?page=2") in links


def test_without_full_content():
    doc = make_doc(items=(make_item(1, content_html=None),))
    atom, rss, jsf = parse("atom", doc), parse("rss", doc), parse("json", doc)
    assert "content" not in atom.entries[0]
    assert "content" not in rss.entries[0]
    assert "content_html" not in jsf["items"][0]
    assert (
        jsf["items"][0]["content_text"]
        == jsf["items"][0]["summary"]
        == "摘要 1: a < b & c <b>不是粗体</b>"
    )


def test_authors_without_email_reach_rss_as_dc_creator():
    doc = make_doc(items=(make_item(1, authors=("张三", "李四")),))
    item = etree.fromstring(builder.build_rss(doc)).find("channel/item")
    creators = item.findall("{http://purl.org/dc/elements/1.1/}creator")
    assert [c.text for c in creators] == ["张三", "李四"]
    assert item.find("author") is None
    assert [a.name for a in parse("atom", doc).entries[0].authors] == ["张三", "李四"]


def test_paging_links_can_be_absent():
    doc = make_doc(first_url=None, last_url=None, next_url=None, previous_url=None, hub_url=None)
    atom, rss, jsf = parse("atom", doc), parse("rss", doc), parse("json", doc)
    for parsed in (atom, rss):
        assert {link.rel for link in parsed.feed.links} == {"self", "alternate"}
    assert "next_url" not in jsf and "hubs" not in jsf


def test_empty_title_stays_empty():
    doc = make_doc(title="", items=(make_item(1, title=""),))
    for fmt in FORMATS:
        parsed = parse(fmt, doc)
        entry = parsed["items"][0] if fmt == "json" else parsed.entries[0]
        assert entry["title"] == ""
    assert parse("atom", doc).feed.title == ""


def test_naive_datetimes_are_refused():
    naive = datetime(2026, 1, 11, 1, 30)
    for fmt in FORMATS:
        with pytest.raises(ValueError, match="naive"):
            builder.build(fmt, make_doc(items=(make_item(1, published=naive),)))
        with pytest.raises(ValueError, match="naive"):
            builder.build(fmt, make_doc(items=(make_item(1, updated=naive),)))
    for fmt in ("atom", "rss"):  # JSON Feed has no feed-level date
        with pytest.raises(ValueError, match="naive"):
            builder.build(fmt, make_doc(updated=naive))


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown feed format"):
        builder.build("rdf", make_doc())


def test_content_types():
    assert builder.CONTENT_TYPES == {
        "atom": "application/atom+xml; charset=utf-8",
        "rss": "application/rss+xml; charset=utf-8",
        "json": "application/feed+json; charset=utf-8",
    }


def test_characters_xml_forbids_are_removed_everywhere():
    dirty = "a\x00b\x0bc\ufffed\ud800e\tf"
    doc = make_doc(title=dirty, items=(make_item(1, title=dirty, summary=dirty),))
    for fmt in FORMATS:
        parsed = parse(fmt, doc)
        entry = parsed["items"][0] if fmt == "json" else parsed.entries[0]
        assert entry["title"] == "abcde\tf"
    assert parse("atom", doc).entries[0].summary == "abcde\tf"


# every code point, lone surrogates and U+FFFE/U+FFFF included
ANY_TEXT = st.text(
    alphabet=st.characters(exclude_categories=()) | st.sampled_from("\x00\x0b\ufffe\uffff<&]]>"),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=ANY_TEXT, summary=ANY_TEXT, content=st.none() | ANY_TEXT, author=ANY_TEXT)
def test_any_text_gives_well_formed_documents(title, summary, content, author):
    item = make_item(1, title=title, summary=summary, content_html=content, authors=(author,))
    doc = make_doc(title=title, description=summary, author=author, items=(item,))
    for fmt in ("atom", "rss"):
        body = builder.build(fmt, doc)
        etree.fromstring(body)  # raises on a not-well-formed document
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.entries[0].id == item.id
    # RSS text is respelt with hexadecimal references: the XML still says exactly the text
    rss_title = etree.fromstring(builder.build("rss", doc)).findtext("channel/item/title")
    assert rss_title == builder._text(title)
    assert json.loads(builder.build_json(doc))["items"][0]["id"] == item.id
