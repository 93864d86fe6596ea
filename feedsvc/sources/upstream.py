"""Upstream feeds: fetch (conditional GET, caching hints) and parse RSS, Atom or JSON Feed."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urljoin

import defusedxml.ElementTree as DefusedET
import feedparser
import nh3
from defusedxml import DefusedXmlException

from feedsvc import urls
from feedsvc.content.sanitize import sanitize_html
from feedsvc.content.text import collapse_whitespace, strip_control_chars
from feedsvc.net import FetchError, OutboundClient
from feedsvc.posts.model import SourceItem
from feedsvc.sources.report import ItemError
from feedsvc.sources.upstream_media import feedparser_image, json_image
from feedsvc.timefmt import fresh_until, parse_rfc3339, retry_after

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/json;q=0.9, application/xml;q=0.8, */*;q=0.5"
)
TITLE_FROM_CONTENT_LENGTH = 80
_ENCODING_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"<(?=/?(?:p|div|br|li|h[1-6]|tr|td|th|blockquote|pre)\b)", re.I)
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class RetryLater(FetchError):
    """429/503: the upstream asks us to come back later (``retry_at`` None when it did not say)."""

    def __init__(self, url: str, reason: str, retry_at: datetime | None) -> None:
        super().__init__(url, reason, component="upstream")
        self.retry_at = retry_at


@dataclass(frozen=True)
class FetchResult:
    status: Literal["ok", "not_modified"]
    body: bytes | None
    content_type: str | None
    final_url: str
    etag: str | None  # validators to send back next time
    last_modified: str | None
    fresh_until: datetime | None  # from Cache-Control max-age / Expires


def fetch_feed(
    client: OutboundClient, url: str, *, etag: str | None, last_modified: str | None, now: datetime
) -> FetchResult:
    """Conditional GET of a feed.

    :raises FetchError: RetryLater on 429/503; also net's BlockedDestination.
    """
    headers = {"Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    response = client.request("GET", url, headers=headers)
    status, got = response.status, response.headers
    if status in (429, 503):
        delay = retry_after(got.get("Retry-After"), now)
        retry_at = now + timedelta(seconds=delay) if delay is not None else None
        when = f", retry at {retry_at.isoformat()}" if retry_at else ""
        raise RetryLater(url, f"HTTP {status} {_PHRASES.get(status, '')}{when}", retry_at)
    if status != 304 and not 200 <= status < 300:
        raise FetchError(url, f"HTTP {status} {_PHRASES.get(status, '')}", component="upstream")
    not_modified = status == 304
    # RFC 9110 §15.4.5: a 304 may carry updated validators; otherwise the old ones still hold
    return FetchResult(
        status="not_modified" if not_modified else "ok",
        body=None if not_modified else response.body,
        content_type=None if not_modified else got.get("Content-Type"),
        final_url=response.url,
        etag=got.get("ETag") or (etag if not_modified else None),
        last_modified=got.get("Last-Modified") or (last_modified if not_modified else None),
        fresh_until=fresh_until(got, now),
    )


@dataclass(frozen=True)
class _Entry:
    """One upstream entry in neutral form, before sanitising and hashing."""

    guid: str | None
    link: str | None
    title: str
    content_html: str
    summary: str | None  # plain text, only when distinct from the content
    published: datetime | None
    updated: datetime | None
    categories: tuple[str, ...]
    author: str | None
    base: str
    image: str | None = None  # as the document gives it: unresolved, unchecked


def parse_feed(
    body: bytes, *, url: str, content_type: str | None, source: str
) -> tuple[list[SourceItem], list[ItemError]]:
    """Entries of an RSS 0.9x/1.0/2.0, Atom or JSON Feed document.

    A document that cannot be used at all (declares XML entities, not well-formed, not a feed)
    gives no items and one ItemError whose item is the feed URL.
    """
    try:
        if _looks_like_json(body, content_type):
            entries, language = _json_entries(body, url)
        else:
            entries, language = _xml_entries(body, url, content_type)
    except _Refused as exc:
        return [], [ItemError(source, url, f"upstream: {url}: {exc}")]
    except Exception as exc:  # an unreadable document is the feed's error, not a traceback
        return [], [ItemError(source, url, f"upstream: {url}: unreadable document: {_why(exc)}")]
    items: list[SourceItem] = []
    errors: list[ItemError] = []
    for position, entry in enumerate(entries, start=1):
        try:
            result = _source_item(entry, language, source, url, position)
        except Exception as exc:  # one bad entry never stops the others (issue 12 item 2)
            name = entry.guid or entry.link or f"#{position}"
            result = ItemError(source, name, f"upstream: {url}: entry {name}: {_why(exc)}")
        (errors if isinstance(result, ItemError) else items).append(result)  # type: ignore[arg-type]
    return items, errors


def _why(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


class _Refused(Exception):
    """The whole document is unusable; the message says why."""


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    declared = "json" in (content_type or "").lower()
    return declared or body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


# XML (RSS, Atom): feedparser behind a defusedxml gate


def _xml_entries(
    body: bytes, url: str, content_type: str | None
) -> tuple[list[_Entry], str | None]:
    if _declares_entities(body):
        raise _Refused("document declares XML entities (refused)")
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    # bytes in a BytesIO: feedparser would treat a str as a URL or a file name
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    entries = [_feedparser_entry(e, parsed.feed, url) for e in parsed.entries]
    problem = parsed.get("bozo_exception")
    # a charset quibble keeps the entries; a broken document without usable entries fails
    benign = problem is None or isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe)
    if not benign and not any(e.title or e.content_html for e in entries):
        raise _Refused(f"not well-formed XML: {_describe(problem)}")
    if not parsed.version and not entries:
        raise _Refused("not an RSS, Atom or JSON Feed document")
    return entries, parsed.feed.get("language")


def _describe(exc: Any) -> str:
    if hasattr(exc, "getMessage") and hasattr(exc, "getLineNumber"):
        return f"{exc.getMessage()} (line {exc.getLineNumber()}, column {exc.getColumnNumber()})"
    return str(exc)


def _declares_entities(body: bytes) -> bool:
    """True when a DTD declares entities (XXE, entity-expansion bombs): defusedxml decides."""
    try:
        _defused_parse(body)
    except DefusedXmlException:
        return True
    except ValueError:  # pyexpat takes multi-byte encodings (GB18030, Shift_JIS…) only as text
        match = _ENCODING_DECL.match(body)
        try:
            _defused_parse(body.decode(match.group(1).decode() if match else "utf-8", "replace"))
        except DefusedXmlException:
            return True
        except (ValueError, LookupError, SyntaxError):
            pass
    except SyntaxError:  # ParseError: not well-formed; feedparser's loose mode takes it from here
        pass
    # The parser may stop before the DTD: refuse any declaration it did not get to (UTF-16 too)
    return bool(_ENTITY_DECL.search(body) or _ENTITY_DECL.search(body.replace(b"\x00", b"")))


def _defused_parse(document: bytes | str) -> None:
    DefusedET.fromstring(document, forbid_dtd=False, forbid_entities=True, forbid_external=True)


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    try:  # feedparser gives UTC struct_time; year 0 or month 13 is treated as undated
        return datetime(*value[:6], tzinfo=UTC) if value else None
    except (ValueError, OverflowError, TypeError):
        return None


def _feedparser_entry(entry: Any, feed: Any, url: str) -> _Entry:
    title_detail = entry.get("title_detail") or {}
    title = title_detail.get("value", "")
    if title_detail.get("type") in _HTML_TYPES:
        title = _html_to_text(title)
    content, summary = entry.get("content") or [], entry.get("summary_detail")
    main = content[0] if content else summary
    content_html = _detail_html(main) if main else ""
    summary_text = None
    if content and summary:
        summary_text = _html_to_text(_detail_html(summary)) or None
        if summary_text == _html_to_text(content_html):
            summary_text = None
    link = entry.get("link")
    # An explicit xml:base (RFC 3986 §5.1.1) governs; RSS has none, so the entry link does.
    base = (main or {}).get("base") or url
    if base == url and link:
        base = _join(url, link)
    author = (entry.get("author_detail") or {}).get("name") or entry.get("author")
    author = author or (feed.get("author_detail") or {}).get("name")
    tags = entry.get("tags") or []
    return _Entry(
        guid=entry.get("id") or None,
        link=_join(url, link) if link else None,
        title=title,
        content_html=content_html,
        summary=summary_text,
        published=_struct_to_datetime(entry.get("published_parsed")),
        # dict.get: FeedParserDict would fall back to published_parsed (with a warning)
        updated=_struct_to_datetime(dict.get(entry, "updated_parsed")),
        categories=tuple(t.get("label") or t.get("term") or "" for t in tags),
        author=author,
        base=base,
        image=feedparser_image(entry),
    )


def _join(base: str, link: str) -> str:
    """``link`` against ``base``; one urljoin cannot read is kept (the URL check refuses it)."""
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def _detail_html(detail: Mapping[str, Any]) -> str:
    value = detail.get("value") or ""
    return value if detail.get("type") in _HTML_TYPES else _text_to_html(value)


# JSON Feed 1.0 / 1.1


def _json_entries(body: bytes, url: str) -> tuple[list[_Entry], str | None]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _Refused(f"not valid JSON: {exc}") from exc
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise _Refused("not a JSON Feed (no jsonfeed.org version)")
    if not isinstance(doc.get("items"), list):
        raise _Refused("not a JSON Feed (items is not a list)")
    feed_author = _json_author(doc)
    entries = [
        _json_entry(item if isinstance(item, dict) else {}, url, feed_author)
        for item in doc["items"]
    ]
    language = doc.get("language")
    return entries, language if isinstance(language, str) else None


def _json_author(obj: Mapping[str, Any]) -> str | None:
    authors = obj.get("authors")  # 1.1; "author" is 1.0
    for author in authors if isinstance(authors, list) else [obj.get("author")]:
        if isinstance(author, dict) and isinstance(author.get("name"), str):
            return author["name"]
    return None


def _json_entry(item: Mapping[str, Any], url: str, feed_author: str | None) -> _Entry:
    def text(key: str) -> str | None:
        value = item.get(key)
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None

    link = text("url") or text("external_url")
    link = _join(url, link) if link else None
    content_html = text("content_html") or _text_to_html(text("content_text") or "")
    summary = text("summary")
    if not (text("content_html") or text("content_text")):
        content_html, summary = _text_to_html(summary or ""), None
    tags = item.get("tags")
    tags = tags if isinstance(tags, list) else []
    return _Entry(
        guid=text("id"),
        link=link,
        title=text("title") or "",
        content_html=content_html,
        summary=summary if summary and summary != _html_to_text(content_html) else None,
        published=parse_rfc3339(text("date_published"), lenient=True),
        updated=parse_rfc3339(text("date_modified"), lenient=True),
        categories=tuple(t for t in tags if isinstance(t, str)),
        author=_json_author(item) or feed_author,
        base=link or url,
        image=json_image(item),
    )


# neutral entry -> SourceItem


def _source_item(
    entry: _Entry, language: str | None, source: str, url: str, position: int
) -> SourceItem | ItemError:
    title = collapse_whitespace(strip_control_chars(entry.title))
    date = entry.published or entry.updated
    key = entry.guid or entry.link
    if not key:
        seed = title + (date.isoformat() if date else "")
        key = hashlib.sha256(seed.encode("utf-8")).hexdigest()
    if not title and not _html_to_text(entry.content_html):
        name = entry.guid or entry.link or f"#{position}"
        return ItemError(source, name, f"upstream: {url}: entry {name}: no title and no content")
    link = None
    if entry.link:
        try:
            link = urls.publishable_url(strip_control_chars(entry.link).strip(), url)
        except urls.UnsafeURL as exc:
            name = entry.guid or entry.link[:80]
            return ItemError(source, name, f"upstream: {url}: entry {name}: link {exc}")
    try:  # relative to the document, as feedparser leaves media URLs
        image = urls.publishable_url(_join(url, entry.image), None) if entry.image else None
    except urls.UnsafeURL as exc:
        name = entry.guid or entry.link or f"#{position}"
        return ItemError(source, name, f"upstream: {url}: entry {name}: image {exc}")
    content_html = sanitize_html(entry.content_html, entry.base)
    title = title or _title_from(content_html)
    summary = strip_control_chars(entry.summary).strip() if entry.summary else None
    categories, author = _clean_all(entry.categories), _clean(entry.author)
    # every field a reader sees goes into the hash, so an upstream edit is an update
    hashed = [title, content_html, summary, entry.published, entry.updated, categories, author]
    hashed += [link] if image is None else [link, image]  # posts stored before covers keep theirs
    digest = hashlib.sha256(json.dumps(hashed, default=str).encode("utf-8"))
    return SourceItem(
        external_key=strip_control_chars(key).strip(),
        title=title,
        content_html=content_html,
        content_hash=digest.hexdigest(),
        summary=summary or None,
        published=entry.published,
        updated=entry.updated,
        categories=categories,
        author=author,
        url=link,
        image=image,
        language=language,
    )


def _clean(value: str | None) -> str | None:
    return collapse_whitespace(strip_control_chars(value)) or None if value else None


def _clean_all(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in (_clean(v) for v in values) if v))


def _html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (script/style dropped), whitespace collapsed."""
    spaced = _BLOCK_TAG.sub(r" \g<0>", fragment)  # "<p>a</p><p>b</p>" reads "a b", not "ab"
    stripped = nh3.clean(spaced, tags=set(), clean_content_tags={"script", "style"})
    return collapse_whitespace(html.unescape(stripped))


def _text_to_html(text: str) -> str:
    paragraphs = (p.strip() for p in re.split(r"\n\s*\n", text))
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs if p)


def _title_from(content_html: str) -> str:
    text, limit = _html_to_text(content_html), TITLE_FROM_CONTENT_LENGTH
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
