"""FeedDoc -> Atom 1.0, RSS 2.0 or JSON Feed 1.1 bytes; the only module that imports feedgen.

The bytes are a function of the document alone: feedgen's now() defaults are always overridden,
entries keep the given order and every text passes an XML 1.0 character filter first.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.feeds.model import FeedDoc, FeedItem, Term

MEDIA_TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}
CONTENT_TYPES = {fmt: f"{media}; charset=utf-8" for fmt, media in MEDIA_TYPES.items()}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GENERATOR = "feedsvc"

_EXT = "feedsvc"  # the attribute feedgen exposes our extension under (fg.feedsvc, entry.feedsvc)
_PLACEHOLDER = " "  # feedgen refuses empty required text; the extension empties it again

# XML 1.0 §2.2 Char: no C0 controls but tab/LF/CR, no surrogates, no U+FFFE/U+FFFF. DEL and
# the C1 block are legal XML but discouraged (§2.2): the W3C validator reports U+0080-U+009F as
# "bad characters" (mis-decoded windows-1252) and HTML parsers reject them in escaped HTML.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# RSS Best Practices Profile (Character Data): "&", "<" and ">" as hexadecimal character
# references, the spelling aggregators decode most alike. The same XML, spelt differently.
_HEX_REFS = ((b"&amp;", b"&#x26;"), (b"&lt;", b"&#x3C;"), (b"&gt;", b"&#x3E;"))


def _text(value: str) -> str:
    """The value without the characters XML 1.0 forbids or discourages (see _NOT_XML_CHAR)."""
    return _NOT_XML_CHAR.sub("", value)


def _instant(value: datetime, what: str) -> datetime:
    """An aware datetime in UTC to the second (RSS dates have no fractions; all formats agree)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"feeds: {what} is a naive datetime")
    return value.astimezone(UTC).replace(microsecond=0)


def _names(names: Iterable[str]) -> list[str]:
    return [name for name in map(_text, names) if name]


def _is_permalink(item: FeedItem) -> bool:
    """RSS 2.0 guid: isPermaLink is true only when the id is itself the item's http(s) URL."""
    return item.id == item.url and urlsplit(item.url).scheme in ("http", "https")


def _paging(doc: FeedDoc) -> list[tuple[str, str]]:
    """(rel, href) of the RFC 5005 §3 paging links and the WebSub hub (W3C WebSub §4) set."""
    rels = (
        ("first", doc.first_url),
        ("last", doc.last_url),
        ("previous", doc.previous_url),
        ("next", doc.next_url),
        ("hub", doc.hub_url),
    )
    return [(rel, _text(href)) for rel, href in rels if href]


def _terms(item: FeedItem) -> tuple[Term, ...]:
    return item.categories + item.tags


class _AtomFixups(BaseEntryExtension):
    """What feedgen cannot say in Atom: empty required text, link attributes, xml:lang."""

    def __init__(self) -> None:
        self.blank: list[str] = []  # child elements to empty
        self.lang: str | None = None
        self.alternate = False

    def extend_atom(self, element: Any) -> Any:
        for tag in self.blank:
            element.find(tag).text = ""
        if self.alternate:
            # feedgen 1.0.0 drops an entry link's rel and type (it reads them off the new element)
            link = element.find("link")
            link.set("rel", "alternate")
            link.set("type", "text/html")
        if self.lang:
            element.set(XML_LANG, self.lang)
        return element


class _RssFixups(BaseEntryExtension):
    """What feedgen drops from RSS: non-self atom:links, dc:creator names, empty text."""

    def __init__(self) -> None:
        self.blank: list[str] = []
        self.links: list[tuple[str, str]] = []  # (rel, href) of extra channel atom:links
        self.creators: list[str] = []

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_rss(self, element: Any) -> Any:
        # feedgen passes the <rss> root for the channel and the <item> itself for an entry
        target = element[0] if element.tag == "rss" else element
        for tag in self.blank:
            target.find(tag).text = ""
        for rel, href in self.links:
            link = etree.SubElement(target, f"{{{ATOM_NS}}}link", href=href, rel=rel)
            if rel != "hub":
                link.set("type", MEDIA_TYPES["rss"])
        for name in self.creators:
            etree.SubElement(target, f"{{{DC_NS}}}creator").text = name
        return element


def _required(value: str, ext: Any, tag: str) -> str:
    """The filtered text, or a placeholder the extension empties (feedgen refuses empty text)."""
    text = _text(value)
    if text:
        return text
    ext.blank.append(tag)
    return _PLACEHOLDER


def _generator(doc: FeedDoc, ext: type, atom: bool) -> FeedGenerator:
    """A FeedGenerator with the feed-level values both XML formats share."""
    fg = FeedGenerator()
    fg.register_extension(_EXT, ext, ext, atom=atom, rss=not atom)
    fg.id(_text(doc.id))
    fg.title(_required(doc.title, fg.feedsvc, "title"))
    # feedgen defaults updated/lastBuildDate to now(): always set it from the document
    fg.updated(_instant(doc.updated, "feed updated"))
    if doc.language:
        fg.language(_text(doc.language))
    fg.generator(GENERATOR)
    if any(item.image for item in doc.items):  # xmlns:media only where an entry uses it
        fg.load_extension("media", atom=atom, rss=not atom)
    return fg


def _cover(entry: FeedEntry, item: FeedItem) -> None:
    """Media RSS: the cover as ``<media:content medium="image">`` of the entry itself."""
    if item.image:
        # group=None: feedgen would otherwise wrap it in a <media:group> of its own
        entry.media.content({"url": _text(item.image), "medium": "image"}, group=None)


def _dates(entry: FeedEntry, item: FeedItem) -> None:
    entry.updated(_instant(item.updated, f"{item.id}: updated"))
    entry.published(_instant(item.published, f"{item.id}: published"))


def build_atom(doc: FeedDoc) -> bytes:
    """An Atom 1.0 document (RFC 4287) with RFC 5005 paging and WebSub hub links."""
    fg = _generator(doc, _AtomFixups, atom=True)
    links = [
        {"href": _text(doc.self_url), "rel": "self", "type": MEDIA_TYPES["atom"]},
        {"href": _text(doc.home_url), "rel": "alternate", "type": "text/html"},
    ]
    for rel, href in _paging(doc):
        link = {"href": href, "rel": rel}
        if rel != "hub":
            link["type"] = MEDIA_TYPES["atom"]  # RFC 5005 §3: the pages are Atom documents
        links.append(link)
    fg.link(links)
    if _text(doc.description):
        fg.subtitle(_text(doc.description))
    # RFC 4287 §4.1.1: an author at feed level unless every entry has one (entries inherit it,
    # §4.2.1); without a site author the publication's title stands in
    author = _text(doc.author or "") or _text(doc.title)
    if author:
        fg.author({"name": author})
    for item in doc.items:
        _atom_entry(fg.add_entry(order="append"), item)  # add_entry prepends by default
    xml = bytes(fg.atom_str(pretty=False, encoding="UTF-8", xml_declaration=True))
    return _with_stylesheet(xml, doc)


def _atom_entry(entry: FeedEntry, item: FeedItem) -> None:
    entry.id(_text(item.id))
    entry.title(_required(item.title, entry.feedsvc, "title"))
    _dates(entry, item)
    for name in _names(item.authors):
        entry.author({"name": name})
    entry.link(href=_text(item.url), rel="alternate", type="text/html")
    entry.feedsvc.alternate = True
    # An empty summary or content is left out, not written blank (a post that is only an image,
    # or only a title): both are optional next to the alternate link (RFC 4287 §4.1.2)
    summary, content = _text(item.summary), _text(item.content_html or "")
    if summary:
        entry.summary(summary, type="text")  # RFC 4287 §3.1.1: say it is plain text
    if content:
        entry.content(content, type="html")
    for term in _terms(item):
        category = {"term": _text(term.slug), "label": _text(term.label)}
        if term.scheme:
            category["scheme"] = _text(term.scheme)
        entry.category(category)
    if item.language:
        entry.feedsvc.lang = _text(item.language)
    _cover(entry, item)


def build_rss(doc: FeedDoc) -> bytes:
    """An RSS 2.0 document following the RSS Best Practices Profile."""
    fg = _generator(doc, _RssFixups, atom=False)
    fg.description(_required(doc.description, fg.feedsvc, "description"))
    # feedgen takes the channel <link> from the LAST link added and writes only rel="self"
    fg.link(href=_text(doc.self_url), rel="self", type=MEDIA_TYPES["rss"])
    fg.link(href=_text(doc.home_url), rel="alternate")
    fg.feedsvc.links = _paging(doc)
    if doc.ttl:
        fg.ttl(doc.ttl)  # RSS 2.0: minutes the channel may be cached, in step with max-age
    for item in doc.items:
        _rss_item(fg.add_entry(order="append"), item)
    xml = bytes(fg.rss_str(pretty=False, encoding="UTF-8", xml_declaration=True))
    # lxml writes no CDATA, comments or PIs here, so every "&" starts a reference: safe to respell
    for entity, reference in _HEX_REFS:
        xml = xml.replace(entity, reference)
    return _with_stylesheet(xml, doc)


def _with_stylesheet(xml: bytes, doc: FeedDoc) -> bytes:
    """The document with an xml-stylesheet PI (W3C "Associating Style Sheets") after the prolog.

    feedgen cannot write a processing instruction; the PI must precede the root element.
    """
    if not doc.stylesheet_url:
        return xml
    href = html.escape(_text(doc.stylesheet_url), quote=True).encode()
    declaration_end = xml.index(b"?>") + 2 if xml.startswith(b"<?xml") else 0
    pi = b'\n<?xml-stylesheet type="text/xsl" href="' + href + b'"?>'
    return xml[:declaration_end] + pi + xml[declaration_end:]


def _rss_item(entry: FeedEntry, item: FeedItem) -> None:
    entry.guid(_text(item.id), permalink=_is_permalink(item))
    entry.title(_required(item.title, entry.feedsvc, "title"))
    _dates(entry, item)
    entry.link(href=_text(item.url))
    # RSS <description> is HTML: the plain-text summary is escaped once here (then again by XML)
    entry.description(html.escape(_text(item.summary), quote=False))
    if item.content_html is not None:
        entry.content(_text(item.content_html))  # content:encoded next to the description
    for term in _terms(item):
        category = {"term": _text(term.slug), "label": _text(term.label)}
        if term.scheme:
            category["scheme"] = _text(term.scheme)  # becomes the domain attribute
        entry.category(category)
    # feedgen writes <author> only with an e-mail address; names go in dc:creator
    entry.feedsvc.creators = _names(item.authors)
    _cover(entry, item)


def build_json(doc: FeedDoc) -> bytes:
    """A JSON Feed 1.1 document: fixed key order, UTF-8, no insignificant whitespace."""
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": _text(doc.title),
        "home_page_url": _text(doc.home_url),
        "feed_url": _text(doc.self_url),
        "description": _text(doc.description),
    }
    if doc.language:
        feed["language"] = _text(doc.language)
    if _text(doc.author or ""):
        feed["authors"] = [{"name": _text(doc.author or "")}]
    if doc.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": _text(doc.hub_url)}]
    if doc.next_url:
        feed["next_url"] = _text(doc.next_url)
    feed["items"] = [_json_item(item) for item in doc.items]
    text = json.dumps(feed, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


def _json_item(item: FeedItem) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": _text(item.id),
        "url": _text(item.url),
        "title": _text(item.title),
    }
    # JSON Feed 1.1: an item has content_html or content_text (or both)
    if item.content_html is not None:
        entry["content_html"] = _text(item.content_html)
    else:
        entry["content_text"] = _text(item.summary)
    entry["summary"] = _text(item.summary)
    if item.image:
        entry["image"] = _text(item.image)
    entry["date_published"] = _instant(item.published, f"{item.id}: published").isoformat()
    entry["date_modified"] = _instant(item.updated, f"{item.id}: updated").isoformat()
    authors = _names(item.authors)
    if authors:
        entry["authors"] = [{"name": name} for name in authors]
    tags = list(dict.fromkeys(_names(term.label for term in _terms(item))))
    if tags:
        entry["tags"] = tags
    if item.language:
        entry["language"] = _text(item.language)
    return entry


_BUILDERS = {"atom": build_atom, "rss": build_rss, "json": build_json}


def build(fmt: str, doc: FeedDoc) -> bytes:
    """The document in one of CONTENT_TYPES' formats ("atom", "rss", "json")."""
    try:
        builder = _BUILDERS[fmt]
    except KeyError:
        raise ValueError(f"feeds: unknown feed format {fmt!r}") from None
    return builder(doc)
