"""Upstream feeds against a real local HTTP server: conditional GETs, back-off, hostile input."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from feedsvc.net import BlockedDestination, FetchError, OutboundClient, OutboundPolicy
from feedsvc.posts.model import SourceItem
from feedsvc.sources.report import ItemError
from feedsvc.sources.upstream import ACCEPT, RetryLater, fetch_feed, parse_feed
from tests.httpserver import Reply, ScriptedServer

DATA = Path(__file__).resolve().parent.parent / "data" / "upstream"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RSS = {"Content-Type": "application/rss+xml"}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    policy = OutboundPolicy(allow_private_networks=True)
    with OutboundClient(policy, timeout=2.0, max_bytes=100_000) as c:
        yield c


def fetch(client: OutboundClient, url: str, **validators: str | None):
    return fetch_feed(
        client,
        url,
        etag=validators.get("etag"),
        last_modified=validators.get("last_modified"),
        now=T0,
    )


def serve_and_parse(
    server: ScriptedServer, client: OutboundClient, name: str, content_type: str
) -> tuple[list[SourceItem], list[ItemError], str]:
    server.route(f"/{name}", Reply(200, {"Content-Type": content_type}, (DATA / name).read_bytes()))
    result = fetch(client, server.url(f"/{name}"))
    assert result.status == "ok" and result.body is not None
    items, errors = parse_feed(
        result.body, url=result.final_url, content_type=result.content_type, source="up"
    )
    return items, errors, result.final_url


def test_conditional_get_keeps_new_validators_from_a_304(
    server: ScriptedServer, client: OutboundClient
) -> None:
    body = (DATA / "rss20.xml").read_bytes()
    first_headers = {
        **RSS,
        "ETag": '"v1"',
        "Last-Modified": "Sun, 01 Mar 2026 10:00:00 GMT",
        "Cache-Control": "public, max-age=300",
    }
    server.route(
        "/feed",
        Reply(200, first_headers, body),
        Reply(304, {"Last-Modified": "Sun, 01 Mar 2026 11:00:00 GMT"}),
    )
    first = fetch(client, server.url("/feed"))
    assert (first.status, first.body, first.content_type) == ("ok", body, "application/rss+xml")
    assert (first.etag, first.last_modified) == ('"v1"', "Sun, 01 Mar 2026 10:00:00 GMT")
    assert first.fresh_until == T0 + timedelta(seconds=300)
    second = fetch(client, server.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert (second.status, second.body, second.final_url) == ("not_modified", None, first.final_url)
    assert (second.etag, second.last_modified) == ('"v1"', "Sun, 01 Mar 2026 11:00:00 GMT")
    sent = server.requests_to("/feed")
    assert sent[0].header("If-None-Match") is None and sent[0].header("Accept") == ACCEPT
    assert sent[1].header("If-None-Match") == '"v1"'
    assert sent[1].header("If-Modified-Since") == "Sun, 01 Mar 2026 10:00:00 GMT"


def test_429_with_retry_after_seconds(server: ScriptedServer, client: OutboundClient) -> None:
    server.route("/feed", Reply(429, {"Retry-After": "120"}))
    with pytest.raises(RetryLater) as info:
        fetch(client, server.url("/feed"))
    assert info.value.retry_at == T0 + timedelta(seconds=120)
    assert str(info.value).startswith(f"upstream: {server.url('/feed')}: HTTP 429 Too Many")


def test_503_with_retry_after_date_and_without(
    server: ScriptedServer, client: OutboundClient
) -> None:
    server.route("/feed", Reply(503, {"Retry-After": "Sun, 01 Mar 2026 12:30:00 GMT"}), Reply(503))
    with pytest.raises(RetryLater) as info:
        fetch(client, server.url("/feed"))
    assert info.value.retry_at == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with pytest.raises(RetryLater) as info:
        fetch(client, server.url("/feed"))
    assert info.value.retry_at is None


def test_other_errors_name_the_status(server: ScriptedServer, client: OutboundClient) -> None:
    server.route("/feed", Reply(404, body=b"gone"))
    with pytest.raises(FetchError) as info:
        fetch(client, server.url("/feed"))
    assert not isinstance(info.value, RetryLater)
    assert str(info.value) == f"upstream: {server.url('/feed')}: HTTP 404 Not Found"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Cache-Control": "max-age=600", "Age": "100"}, T0 + timedelta(seconds=500)),
        ({"Cache-Control": "no-store, max-age=600"}, None),
        ({"Cache-Control": "max-age=0"}, None),
        ({}, None),
    ],
)
def test_fresh_until_from_cache_control(
    server: ScriptedServer, client: OutboundClient, headers: dict[str, str], expected: datetime
) -> None:
    server.route("/feed", Reply(200, headers, b"<rss/>"))
    assert fetch(client, server.url("/feed")).fresh_until == expected


def test_fresh_until_from_expires_is_relative_to_the_date_header(
    server: ScriptedServer, client: OutboundClient
) -> None:
    # the server stamps Date with the real clock: Expires one hour later means fresh for an hour
    expires = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    server.route("/feed", Reply(200, {"Expires": expires}, b"<rss/>"))
    fresh_until = fetch(client, server.url("/feed")).fresh_until
    assert fresh_until is not None
    assert abs(fresh_until - (T0 + timedelta(hours=1))) <= timedelta(seconds=2)


def test_slow_upstream_times_out_quickly(server: ScriptedServer) -> None:
    server.route("/feed", Reply(200, RSS, b"<rss/>", delay=5))
    policy = OutboundPolicy(allow_private_networks=True)
    with OutboundClient(policy, timeout=0.5) as slow_client:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"timed out after 0\.5s"):
            fetch(slow_client, server.url("/feed"))
    assert time.monotonic() - started < 1.5


def test_oversized_body_is_refused(server: ScriptedServer, client: OutboundClient) -> None:
    server.route("/feed", Reply(200, RSS, b"<rss>" + b" " * 200_000 + b"</rss>"))
    with pytest.raises(FetchError, match="response body exceeds 100000 bytes"):
        fetch(client, server.url("/feed"))


def test_loopback_upstream_is_refused_before_any_request(server: ScriptedServer) -> None:
    server.route("/feed", Reply(302, {"Location": "http://127.0.0.1:1/"}))
    with OutboundClient(OutboundPolicy()) as guarded, pytest.raises(BlockedDestination) as info:
        fetch(guarded, server.url("/feed"))
    assert "127.0.0.1 is a loopback address" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe_passwd.xml", "external_dtd.xml"])
def test_hostile_documents_are_refused_quickly(
    server: ScriptedServer, client: OutboundClient, name: str
) -> None:
    # point the external DTD at our server, to prove nothing ever fetches it
    body = (DATA / name).read_bytes().replace(b"http://127.0.0.1:9/", server.url("/").encode())
    server.route("/feed", Reply(200, RSS, body))
    started = time.monotonic()
    result = fetch(client, server.url("/feed"))
    assert result.body is not None
    items, errors = parse_feed(result.body, url=result.final_url, content_type=None, source="up")
    assert time.monotonic() - started < 1.0
    assert items == []
    assert errors == [
        ItemError(
            "up",
            server.url("/feed"),
            f"upstream: {server.url('/feed')}: document declares XML entities (refused)",
        )
    ]
    assert "root:" not in repr(errors)
    assert [r.path for r in server.requests] == ["/feed"]


def test_doctype_naming_a_local_file_is_never_read(
    server: ScriptedServer, client: OutboundClient
) -> None:
    items, errors, _ = serve_and_parse(
        server, client, "doctype_system_passwd.xml", RSS["Content-Type"]
    )
    assert errors == []
    assert [(i.title, i.content_html) for i in items] == [("harmless", "Nothing to expand.")]
    assert "root:" not in repr(items)


def test_malformed_xml_names_the_url_and_the_parser_message(
    server: ScriptedServer, client: OutboundClient
) -> None:
    items, errors, url = serve_and_parse(server, client, "malformed.xml", "application/xml")
    assert items == []
    assert [e.reason for e in errors] == [
        f"upstream: {url}: not well-formed XML: mismatched tag (line 6, column 4)"
    ]


def test_rss20(server: ScriptedServer, client: OutboundClient) -> None:
    items, errors, url = serve_and_parse(server, client, "rss20.xml", "application/rss+xml")
    first, no_guid, untitled = items
    assert first.external_key == "post-42"
    # a raw U+0008 makes the XML not well-formed: feedparser's loose mode keeps the entries
    assert first.title == "Linear regression from scratch"  # and the control char is stripped
    assert first.updated is None  # RSS has no updated date (no fallback to pubDate)
    assert first.published == datetime(2026, 1, 11, 1, 15, tzinfo=UTC)
    assert first.categories == ("Python", "Machine Learning")
    assert first.author == "Zhang San"
    assert first.url == "https://blog.example.com/posts/linear-regression/"
    assert first.summary == "Fitting a line with numpy."
    assert first.content_html == (
        "<p>We fit <code>y = wx + b</code>.</p><p>"
        '<img src="https://blog.example.com/posts/linear-regression/img/fit.png" alt="fit"> '
        '<a href="https://blog.example.com/posts/gradient/" rel="noopener noreferrer">next</a> '
        '<a rel="noopener noreferrer">bad</a></p>'
    )
    assert no_guid.external_key == "https://blog.example.com/posts/no-guid/"
    assert no_guid.summary is None  # only a description: the service summarises
    assert 'href="https://blog.example.com/posts/no-guid/rel/link"' in no_guid.content_html
    assert len(untitled.external_key) == 64 and untitled.title == "Untitled, unlinked, no guid."
    assert errors == [
        ItemError("up", "empty-1", f"upstream: {url}: entry empty-1: no title and no content")
    ]


def test_rss091_with_netscape_doctype(server: ScriptedServer, client: OutboundClient) -> None:
    items, errors, _ = serve_and_parse(server, client, "rss091.xml", "application/rss+xml")
    assert errors == []
    assert [(i.external_key, i.title) for i in items] == [
        ("https://old.example.com/2001/cafe.html", "Café opening"),
        ("https://old.example.com/2001/second.html", "Second note"),
    ]
    assert 'href="https://old.example.com/2001/menu.html"' in items[0].content_html
    assert items[0].language == "en-us" and items[0].published is None


def test_rss10(server: ScriptedServer, client: OutboundClient) -> None:
    items, errors, _ = serve_and_parse(server, client, "rss10.rdf", "application/rdf+xml")
    assert errors == []
    (item,) = items
    assert (item.external_key, item.title) == (
        "https://rdf.example.org/notes/1",
        "Gradient descent, again",
    )
    assert item.updated == datetime(2026, 1, 11, 0, 30, tzinfo=UTC)  # dc:date, +08:00 -> UTC
    assert (item.categories, item.author, item.summary) == (
        ("Python",),
        "Li Wei",
        "A short abstract.",
    )
    assert 'src="https://rdf.example.org/img/loss.png"' in item.content_html
    assert 'href="https://rdf.example.org/about"' in item.content_html


def test_atom(server: ScriptedServer, client: OutboundClient) -> None:
    items, errors, _ = serve_and_parse(server, client, "atom.xml", "application/atom+xml")
    assert errors == []
    attention, plain, xhtml = items
    assert attention.external_key == "tag:atom.example.net,2026:attention"
    assert attention.title == "Attention & transformers"  # HTML title -> text
    assert attention.published == datetime(2026, 1, 20, 2, 0, tzinfo=UTC)
    assert attention.updated == datetime(2026, 1, 21, 8, 30, tzinfo=UTC)
    assert attention.categories == ("Deep Learning", "nlp")
    assert (attention.author, attention.summary) == ("Wang Wu", "Why attention works.")
    assert attention.url == "https://atom.example.net/blog/posts/attention"
    # the content's own xml:base governs its relative URLs; <script> is gone
    assert attention.content_html == (
        '<p>See <img src="https://cdn.example.net/assets/attn.png" alt="attention map"> and '
        '<a href="https://cdn.example.net/papers/vaswani" rel="noopener noreferrer">the paper</a>'
        ".</p>"
    )
    assert plain.content_html == "<p>1 &lt; 2 &amp; two lines</p>" and plain.summary is None
    assert 'href="https://atom.example.net/blog/files/doc.pdf"' in xhtml.content_html
    assert xhtml.summary == "Summary only, relative not a link"


def test_json_feed_11(server: ScriptedServer, client: OutboundClient) -> None:
    items, errors, url = serve_and_parse(server, client, "feed11.json", "application/feed+json")
    first, second = items
    assert first.external_key == "https://json.example.org/p/1"
    assert first.title == "Bell and whistle"  # U+0007 and U+0085 stripped
    assert first.content_html == (
        '<p>Hello <a href="https://json.example.org/p/2" rel="noopener noreferrer">two</a></p>'
    )
    assert (first.published, first.updated) == (
        datetime(2026, 1, 11, 0, 0, tzinfo=UTC),
        datetime(2026, 1, 12, 0, 0, tzinfo=UTC),
    )
    assert (first.categories, first.author, first.summary) == (
        ("Python", "Notes"),
        "Item Author",
        "A greeting.",
    )
    assert (second.external_key, second.url) == ("2", url.rsplit("/", 1)[0] + "/p/2")
    assert (
        second.content_html == "<p>Just text &lt;b&gt;not html&lt;/b&gt;</p><p>Second paragraph</p>"
    )
    assert second.title == "Just text <b>not html</b> Second paragraph"
    assert second.author == "Feed Author"
    assert [(e.item, e.reason) for e in errors] == [
        ("3", f"upstream: {url}: entry 3: no title and no content")
    ]


@pytest.mark.parametrize(
    ("name", "content_type", "title", "content"),
    [
        ("windows1252.xml", "application/rss+xml", "“Smart” quotes – café €5", "Naïve — résumé"),
        ("windows1252.xml", "text/xml", "“Smart” quotes – café €5", "Naïve — résumé"),
        ("gb18030.xml", "application/rss+xml", "线性回归：从零开始", "梯度下降与损失函数 [公式]"),
        ("gbk_http_charset.xml", "application/xml; charset=GBK", "卷积神经网络", "池化层"),
    ],
)
def test_declared_charsets_are_respected(
    server: ScriptedServer,
    client: OutboundClient,
    name: str,
    content_type: str,
    title: str,
    content: str,
) -> None:
    items, errors, _ = serve_and_parse(server, client, name, content_type)
    assert errors == []
    assert [(i.title, i.content_html) for i in items] == [(title, content)]


def test_content_hash_follows_upstream_edits() -> None:
    body = (DATA / "rss20.xml").read_bytes()
    url = "https://blog.example.com/feed.xml"
    before, _ = parse_feed(body, url=url, content_type=None, source="up")
    again, _ = parse_feed(body, url=url, content_type=None, source="up")
    edited_body = body.replace(b"<category>Python</category>", b"<category>Py</category>")
    edited, _ = parse_feed(edited_body, url=url, content_type=None, source="up")
    assert [i.content_hash for i in before] == [i.content_hash for i in again]
    assert before[0].content_hash != edited[0].content_hash
    assert before[1].content_hash == edited[1].content_hash
    assert [i.external_key for i in before] == [i.external_key for i in edited]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"version": "1", "items": []}', "not a JSON Feed (no jsonfeed.org version)"),
        (b"<html><body>hello</body></html>", "not an RSS, Atom or JSON Feed document"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_documents_that_are_not_feeds(body: bytes, reason: str) -> None:
    content_type = "application/json" if body.startswith(b"[") else None
    items, errors = parse_feed(
        body, url="https://x.example/f", content_type=content_type, source="up"
    )
    assert items == []
    assert [e.item for e in errors] == ["https://x.example/f"]
    assert errors[0].reason.startswith(f"upstream: https://x.example/f: {reason}")
