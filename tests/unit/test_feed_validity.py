"""The W3C Feed Validation Service's rules, encoded as checks (the service is not reachable here).

A realistic document (Chinese text, categories and tags, paging, a hub) is built in all three
formats, read back with feedparser for the values and with lxml for the structure validators
check: RFC 4287 (Atom), RSS 2.0 with the RSS Best Practices Profile, JSON Feed 1.1.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
import lxml.html
import pytest
from lxml import etree

from feedsvc.feeds import builder
from feedsvc.feeds.model import FeedDoc, FeedItem, Term

ATOM = "{http://www.w3.org/2005/Atom}"
ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
BASE = "https://notes.example.org"
EAST8 = timezone(timedelta(hours=8))
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)
# RFC 822 as amended by RFC 1123 (4-digit year), the zones the validator accepts
RFC822 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} ([+-]\d{4}|GMT|UT|[ECMP][SD]T)"
)
PYTHON = Term("python", "Python", f"{BASE}/categories/")
ML = Term("ml", "机器学习", f"{BASE}/categories/")
SOFTMAX = Term("softmax", "Softmax", f"{BASE}/tags/")


# (key, title, summary, content_html, categories, tags, authors), newest first
POSTS = [
    (
        "softmax.md",
        "超多分类的Softmax",
        "推导 回顾一下二分类下的Softmax后验概率,即: [公式] 显然决策的分界在当 p_1=p_2 时,"
        "所以 a < b & c 成立 ...",
        "<h2>推导</h2><p>回顾 <code>p&lt;q</code> &amp; softmax</p>",
        (PYTHON, ML),
        (SOFTMAX,),
        ("王小明",),
    ),
    (
        "hadoop.md",
        "大数据与Hadoop生态圈",
        "大数据本身是个很宽泛的概念,你可以把它比作一个厨房 [代码] ...",
        None,
        (ML,),
        (),
        (),
    ),
    (
        "attention/self-attention.md",
        "Self-Attention <详解>",
        "注意力: softmax(QK^T/√d)V",
        "<p>注意力 <em>机制</em></p><pre><code>x = 1 &lt; 2</code></pre>",
        (PYTHON,),
        (SOFTMAX,),
        ("王小明", "Li Lei"),
    ),
]


def realistic_items() -> tuple[FeedItem, ...]:
    day = datetime(2026, 1, 11, 9, 0, tzinfo=EAST8)
    items = []
    for n, (key, title, summary, content, cats, tags, authors) in enumerate(POSTS):
        published = day - timedelta(days=n, minutes=7 * n)
        items.append(
            FeedItem(
                id=f"tag:notes.example.org,2026-01-{11 - n:02d}:markdown/{key}",
                url=f"{BASE}/posts/{key.removesuffix('.md').replace('/', '-')}",
                title=title,
                summary=summary,
                content_html=content,
                published=published,
                updated=published + timedelta(hours=n),
                authors=authors,
                categories=cats,
                tags=tags,
                language="zh-CN",
            )
        )
    return tuple(items)


def realistic_doc(fmt: str, **changes: Any) -> FeedDoc:
    items = realistic_items()
    url = f"{BASE}/categories/python/feed.{fmt}"
    fields: dict[str, Any] = {
        "id": "tag:notes.example.org,2026:categories/python",
        "title": "机器学习笔记 - Python",
        "description": "最新更新 & 摘要",
        "language": "zh-CN",
        "home_url": f"{BASE}/categories/python/",
        "self_url": f"{url}?page=2",
        "author": None,  # the entry without authors then needs a feed-level author
        "updated": max(item.updated for item in items),
        "items": items,
        "first_url": url,
        "last_url": f"{url}?page=3",
        "next_url": f"{url}?page=3",
        "previous_url": url,
        "hub_url": f"{BASE}/hub",
    }
    fields.update(changes)
    return FeedDoc(**fields)


def parsed(fmt: str, doc: FeedDoc) -> Any:
    parsed = feedparser.parse(builder.build(fmt, doc))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def rfc3339(text: str) -> datetime:
    assert RFC3339.fullmatch(text), text
    return datetime.fromisoformat(text)


def rfc822(text: str) -> datetime:
    assert RFC822.fullmatch(text), text
    return parsedate_to_datetime(text)


def paging(doc: FeedDoc) -> dict[str, str | None]:
    return {
        "first": doc.first_url,
        "last": doc.last_url,
        "next": doc.next_url,
        "previous": doc.previous_url,
        "hub": doc.hub_url,
    }


def one(element: Any, tag: str) -> Any:
    found = element.findall(tag)
    assert len(found) == 1, f"{tag}: {len(found)} elements"
    return found[0]


def check_atom_structure(doc: FeedDoc) -> None:
    feed = etree.fromstring(builder.build_atom(doc))
    assert feed.tag == ATOM + "feed"
    assert one(feed, ATOM + "id").text == doc.id
    assert one(feed, ATOM + "title").text == doc.title
    assert rfc3339(one(feed, ATOM + "updated").text) == doc.updated
    assert feed.get(XML_LANG) == doc.language
    entries = feed.findall(ATOM + "entry")
    # RFC 4287 §4.1.1: an author at feed level, or in every entry
    assert feed.findall(ATOM + "author") or all(e.findall(ATOM + "author") for e in entries)
    links = [(e.get("rel"), e.get("href"), e.get("type")) for e in feed.findall(ATOM + "link")]
    assert [link for link in links if link[0] == "self"] == [
        ("self", doc.self_url, "application/atom+xml")
    ]
    assert ("alternate", doc.home_url, "text/html") in links
    ids = []
    for entry, item in zip(entries, doc.items, strict=True):
        ids.append(one(entry, ATOM + "id").text)
        assert one(entry, ATOM + "title").text == (item.title or None)
        updated = rfc3339(one(entry, ATOM + "updated").text)
        published = rfc3339(one(entry, ATOM + "published").text)
        assert published == item.published and updated == item.updated >= published
        link = one(entry, ATOM + "link")
        assert (link.get("rel"), link.get("href")) == ("alternate", item.url)
        # never blank (the validator's NotBlank): an empty summary or content is left out
        summary = [(s.get("type"), s.text) for s in entry.findall(ATOM + "summary")]
        assert summary == ([("text", item.summary)] if item.summary else [])
        content = [(c.get("type"), c.text) for c in entry.findall(ATOM + "content")]
        assert content == ([("html", item.content_html)] if item.content_html else [])
    assert ids == [item.id for item in doc.items] and len(set(ids)) == len(ids)


def test_atom_structure():
    check_atom_structure(realistic_doc("atom"))


def test_atom_values():
    doc = realistic_doc("atom")
    atom = parsed("atom", doc)
    assert atom.version == "atom10"
    assert (atom.feed.id, atom.feed.title, atom.feed.subtitle) == (
        doc.id,
        doc.title,
        doc.description,
    )
    assert atom.feed.author == doc.title  # no site author: the publication stands in
    rels = {link.rel: link.href for link in atom.feed.links}
    assert rels == {"self": doc.self_url, "alternate": doc.home_url} | paging(doc)
    for entry, item in zip(atom.entries, doc.items, strict=True):
        assert (entry.id, entry.title, entry.link) == (item.id, item.title, item.url)
        assert entry.summary_detail.type == "text/plain"
        assert entry.summary == item.summary
        assert entry.published_parsed == item.published.astimezone(UTC).utctimetuple()
        assert entry.updated_parsed == item.updated.astimezone(UTC).utctimetuple()
        assert [a.name for a in entry.get("authors", [])] == list(item.authors)
        terms = [(t.term, t.scheme, t.label) for t in entry.tags]
        assert terms == [(t.slug, t.scheme, t.label) for t in item.categories + item.tags]
        if item.content_html is not None:
            assert entry.content[0].type == "text/html"
            assert entry.content[0].value == item.content_html
        else:
            assert "content" not in entry


def references(body: bytes) -> list[str]:
    """The entity and character references of a serialized document, in order."""
    return [ref.decode() for ref in re.findall(rb"&([^;\s&]*);", body)]


def check_rss_structure(doc: FeedDoc) -> None:
    body = builder.build_rss(doc)
    # RSS Best Practices Profile, Character Data: "&", "<", ">" as hexadecimal references
    # (the validator's CharacterData warning otherwise); lxml alone writes &amp; &lt; &gt;
    assert {ref for ref in references(body) if not ref.startswith("#x")} == set()
    rss = etree.fromstring(body)
    assert (rss.tag, rss.get("version")) == ("rss", "2.0")
    channel = one(rss, "channel")
    assert one(channel, "title").text == doc.title
    assert one(channel, "link").text == doc.home_url
    assert one(channel, "description").text == doc.description
    assert rfc822(one(channel, "lastBuildDate").text) == doc.updated
    # Best Practices: the atom namespace is declared and atom:link rel="self" names this URL
    assert rss.nsmap.get("atom") == ATOM_NS
    selfs = [link for link in channel.findall(ATOM + "link") if link.get("rel") == "self"]
    assert [(s.get("href"), s.get("type")) for s in selfs] == [
        (doc.self_url, "application/rss+xml")
    ]
    items = channel.findall("item")
    assert len(items) == len(doc.items)
    for element, item in zip(items, doc.items, strict=True):
        guid = one(element, "guid")
        assert (guid.text, guid.get("isPermaLink")) == (item.id, "false")  # a tag URI
        assert one(element, "title").text == item.title
        assert one(element, "link").text == item.url
        assert rfc822(one(element, "pubDate").text) == item.published
        description = one(element, "description").text
        assert "<" not in description  # the plain summary is escaped HTML, not markup
        assert html.unescape(description) == item.summary
        encoded = element.findall(CONTENT_ENCODED)
        assert [e.text for e in encoded] == [c for c in [item.content_html] if c is not None]
        assert [c.text for c in element.findall(DC_CREATOR)] == list(item.authors)
        assert element.find("author") is None  # RSS <author> must be an e-mail address


def test_rss_structure():
    check_rss_structure(realistic_doc("rss"))


def test_rss_values():
    doc = realistic_doc("rss")
    rss = parsed("rss", doc)
    assert rss.version == "rss20"
    assert (rss.feed.title, rss.feed.link, rss.feed.subtitle) == (
        doc.title,
        doc.home_url,
        doc.description,
    )
    assert rss.feed.language == doc.language
    rels = {link.rel: link.href for link in rss.feed.links}
    assert rels == {"self": doc.self_url, "alternate": doc.home_url} | paging(doc)
    for entry, item in zip(rss.entries, doc.items, strict=True):
        assert (entry.id, entry.title, entry.link) == (item.id, item.title, item.url)
        # the description is HTML whose text is exactly the plain summary ("a < b & c")
        text = lxml.html.fragment_fromstring(entry.summary, create_parent="div").text_content()
        assert text == item.summary
        assert entry.published_parsed == item.published.astimezone(UTC).utctimetuple()
        assert [a.name for a in entry.get("authors", [])] == list(item.authors)
        assert [t.term for t in entry.tags] == [t.label for t in item.categories + item.tags]
        assert [c.value for c in entry.get("content", [])] == (
            [] if item.content_html is None else [item.content_html]
        )


def check_json_feed(doc: FeedDoc) -> dict[str, Any]:
    feed = json.loads(builder.build_json(doc))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and isinstance(feed["items"], list)
    assert (feed["feed_url"], feed["home_page_url"]) == (doc.self_url, doc.home_url)
    for entry, item in zip(feed["items"], doc.items, strict=True):
        assert isinstance(entry["id"], str) and entry["id"] == item.id
        assert "content_html" in entry or "content_text" in entry
        assert rfc3339(entry["date_published"]) == item.published
        assert rfc3339(entry["date_modified"]) == item.updated
    assert len(feed["items"]) == len(doc.items)
    return feed


def test_json_feed():
    doc = realistic_doc("json")
    feed = check_json_feed(doc)
    assert (feed["title"], feed["description"], feed["language"]) == (
        doc.title,
        doc.description,
        doc.language,
    )
    assert feed["hubs"] == [{"type": "WebSub", "url": doc.hub_url}]
    assert feed["next_url"] == doc.next_url
    softmax, hadoop, attention = feed["items"]
    assert softmax["content_html"] == doc.items[0].content_html
    assert softmax["summary"] == doc.items[0].summary
    assert softmax["tags"] == ["Python", "机器学习", "Softmax"]
    assert softmax["authors"] == [{"name": "王小明"}]
    assert hadoop["content_text"] == hadoop["summary"] == doc.items[1].summary
    assert "content_html" not in hadoop and "authors" not in hadoop
    assert attention["title"] == "Self-Attention <详解>"


@pytest.mark.parametrize("fmt", ["atom", "rss", "json"])
def test_empty_feed_is_valid(fmt):
    doc = realistic_doc(
        fmt, items=(), updated=datetime(2026, 1, 1, tzinfo=UTC), next_url=None, previous_url=None
    )
    if fmt == "json":
        assert check_json_feed(doc)["items"] == []
        return
    (check_atom_structure if fmt == "atom" else check_rss_structure)(doc)
    feed = parsed(fmt, doc)
    assert feed.entries == []
    assert feed.feed.title == doc.title


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_first_page_has_no_previous_link(fmt):
    doc = realistic_doc(fmt, self_url=f"{BASE}/feed.{fmt}", previous_url=None)
    rels = [link.rel for link in parsed(fmt, doc).feed.links]
    assert sorted(rels) == sorted(["self", "alternate", "first", "last", "next", "hub"])


def test_guid_that_is_the_url_is_a_permalink():
    item = dataclasses.replace(realistic_items()[0], id=realistic_items()[0].url)
    doc = realistic_doc("rss", items=(item,))
    guid = etree.fromstring(builder.build_rss(doc)).find("channel/item/guid")
    assert (guid.text, guid.get("isPermaLink")) == (item.url, "true")
    assert parsed("rss", doc).entries[0].id == item.url


def test_rss_plain_text_uses_hexadecimal_references():
    # generics in a title: "<" before a letter is what the validator flags in RSS plain text
    item = dataclasses.replace(
        realistic_items()[0], title="Rust 的 Vec<T> 与 Option<&T> -> T", summary="a < b & c > d"
    )
    doc = realistic_doc("rss", items=(item,), description="R&D <实验室>")
    body = builder.build_rss(doc)
    assert set(references(body)) >= {"#x26", "#x3C", "#x3E"}
    check_rss_structure(doc)  # the values read back unchanged, description included
    assert parsed("rss", doc).entries[0].title == item.title


# DEL and C1 controls: legal XML, but the validator calls U+0080-U+009F "bad characters" and
# html5lib rejects them inside escaped HTML ("Invalid HTML")
C1 = "\x7f\x80\x85\x9f"


def test_discouraged_control_characters_are_dropped():
    item = dataclasses.replace(
        realistic_items()[0],
        title=f"标{C1}题",
        summary=f"摘{C1}要",
        content_html=f"<p>正{C1}文</p>",
        authors=(f"王{C1}小明",),
        categories=(Term("python", f"Py{C1}thon", f"{BASE}/categories/"),),
        tags=(),
    )
    changes = {"title": f"站{C1}点", "description": f"描{C1}述", "author": f"作{C1}者"}
    for fmt in ("atom", "rss", "json"):
        doc = realistic_doc(fmt, items=(item,), **changes)
        if fmt == "json":
            feed = json.loads(builder.build_json(doc))
            entry = feed["items"][0]
            values = [feed["title"], feed["description"], feed["authors"][0]["name"]]
            values += [entry["title"], entry["summary"], entry["content_html"], entry["tags"][0]]
            assert values == ["站点", "描述", "作者", "标题", "摘要", "<p>正文</p>", "Python"]
            continue
        tree = etree.fromstring(builder.build(fmt, doc))
        texts = [t for e in tree.iter() for t in (e.text or "", *e.attrib.values())]
        assert not [t for t in texts if re.search("[\x7f-\x9f]", t)]
        feed = parsed(fmt, doc)
        assert (feed.feed.title, feed.feed.subtitle) == ("站点", "描述")
        entry = feed.entries[0]
        assert (entry.title, entry.author, entry.tags[0].label or entry.tags[0].term) == (
            "标题",
            "王小明",
            "Python",
        )
        assert entry.content[0].value == "<p>正文</p>"


def test_atom_leaves_out_empty_summary_and_content():
    first = realistic_items()[0]
    photo = dataclasses.replace(first, summary="", content_html='<p><img src="/x.png" alt=""></p>')
    summary_only = dataclasses.replace(first, id=first.id + "-2", content_html="")
    bare = dataclasses.replace(first, id=first.id + "-3", summary="", content_html="")
    doc = realistic_doc("atom", items=(photo, summary_only, bare))
    check_atom_structure(doc)
    feed = etree.fromstring(builder.build_atom(doc))
    kept = [
        sorted(child.tag.removeprefix(ATOM) for child in entry if child.tag in SUMMARY_CONTENT)
        for entry in feed.findall(ATOM + "entry")
    ]
    assert kept == [["content"], ["summary"], []]
    # the entry with neither still points at its page (RFC 4287 §4.1.2)
    assert one(feed.findall(ATOM + "entry")[2], ATOM + "link").get("rel") == "alternate"


SUMMARY_CONTENT = {ATOM + "summary", ATOM + "content"}
