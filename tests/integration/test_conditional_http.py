"""Conditional requests through the real app: every case x GET/HEAD x gzip/identity."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import pytest

D = datetime(2026, 1, 11, 1, 30, tzinfo=UTC)
URL = "/feed.atom"
SAME_HEADERS = (
    "ETag",
    "Last-Modified",
    "Cache-Control",
    "Vary",
    "Content-Type",
    "Content-Encoding",
    "Link",
)


@dataclass(frozen=True)
class Reference:
    """What a plain 200 said, per encoding."""

    etag: dict[str, str]
    last_modified: datetime
    headers: dict[str, dict[str, str | None]]
    body: bytes  # identity bytes


def fetch(client: Any, method: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], bytes]:
    response = client.open(URL, method=method, headers=headers)
    try:
        return response.status_code, response.headers, bytes(response.data)
    finally:
        response.close()


def accept(encoding: str) -> dict[str, str]:
    return {"Accept-Encoding": "gzip" if encoding == "gzip" else "identity"}


@pytest.fixture
def ref(client: Any, add_post: Any) -> Reference:
    add_post("a.md", "条件请求", published=D, categories=("Python",))
    etags, headers = {}, {}
    body = b""
    for encoding in ("identity", "gzip"):
        status, hdrs, data = fetch(client, "GET", accept(encoding))
        assert status == 200
        etags[encoding] = hdrs["ETag"]
        headers[encoding] = {name: hdrs.get(name) for name in SAME_HEADERS}
        if encoding == "identity":
            body = data
        else:
            assert hdrs["Content-Encoding"] == "gzip"
            assert gzip.decompress(data) == body
    assert etags["identity"] != etags["gzip"]
    assert etags["identity"].startswith('"')  # strong
    last_modified = parsedate_to_datetime(headers["identity"]["Last-Modified"])
    return Reference(etags, last_modified, headers, body)


def http_date(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC), usegmt=True)


def other(encoding: str) -> str:
    return "gzip" if encoding == "identity" else "identity"


# (name, conditional headers from (reference, encoding), expected status)
CASES = [
    ("no validators", lambda r, e: {}, 200),
    ("matching etag", lambda r, e: {"If-None-Match": r.etag[e]}, 304),
    ("weak form of the etag", lambda r, e: {"If-None-Match": "W/" + r.etag[e]}, 304),
    ("list with the etag", lambda r, e: {"If-None-Match": f'"nope", {r.etag[e]}'}, 304),
    ("list without the etag", lambda r, e: {"If-None-Match": '"a", W/"b"'}, 200),
    ("star", lambda r, e: {"If-None-Match": "*"}, 304),
    ("other variant's etag", lambda r, e: {"If-None-Match": r.etag[other(e)]}, 200),
    # RFC 9110 §13.2.2: If-None-Match is evaluated first; If-Modified-Since is then ignored
    (
        "etag mismatch beats a matching date",
        lambda r, e: {"If-None-Match": '"nope"', "If-Modified-Since": http_date(r.last_modified)},
        200,
    ),
    (
        "etag match beats an old date",
        lambda r, e: {
            "If-None-Match": r.etag[e],
            "If-Modified-Since": http_date(r.last_modified - timedelta(days=1)),
        },
        304,
    ),
    ("date equal", lambda r, e: {"If-Modified-Since": http_date(r.last_modified)}, 304),
    (
        "date newer",
        lambda r, e: {"If-Modified-Since": http_date(r.last_modified + timedelta(days=1))},
        304,
    ),
    (
        "date older",
        lambda r, e: {"If-Modified-Since": http_date(r.last_modified - timedelta(seconds=1))},
        200,
    ),
    ("date invalid", lambda r, e: {"If-Modified-Since": "yesterday"}, 200),
]


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(("name", "conditions", "expected"), CASES, ids=[c[0] for c in CASES])
def test_conditional(client, ref, method, encoding, name, conditions, expected):
    status, headers, body = fetch(client, method, {**accept(encoding), **conditions(ref, encoding)})
    assert status == expected
    assert {h: headers.get(h) for h in SAME_HEADERS} == ref.headers[encoding]
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers["Vary"] == "Accept-Encoding, Accept"  # Atom: a browser gets application/xml
    if status == 304 or method == "HEAD":
        assert body == b""
    else:
        assert (gzip.decompress(body) if encoding == "gzip" else body) == ref.body
    if status == 304:
        assert "Content-Length" not in headers
    elif method == "HEAD":
        _, got, full = fetch(client, "GET", accept(encoding))
        assert headers["Content-Length"] == got["Content-Length"] == str(len(full))


def test_feed_responses_advertise_hub_and_self(client, ref):
    assert ref.headers["identity"]["Link"] == (
        '<https://example.org/hub>; rel="hub", <https://example.org/feed.atom>; rel="self"'
    )


def test_content_change_invalidates_the_old_etag_within_a_second(client, ref, add_post):
    add_post("b.md", "新的一篇", published=D + timedelta(days=1))
    deadline = time.monotonic() + 1.0
    while True:
        status, headers, _ = fetch(client, "GET", {"If-None-Match": ref.etag["identity"]})
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200
    assert headers["ETag"] != ref.etag["identity"]
    assert parsedate_to_datetime(headers["Last-Modified"]) > ref.last_modified


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_first_request_for_a_url_answers_through_flask_alike(client, ref, method, encoding):
    # a URL not seen before misses the WSGI fast path: Flask's view answers it
    for n, expected in enumerate((304, 200)):
        tag = ref.etag[encoding] if expected == 304 else '"nope"'
        response = client.open(
            f"{URL}?via=flask-{n}",
            method=method,
            headers={**accept(encoding), "If-None-Match": tag},
        )
        try:
            assert response.status_code == expected
            assert {h: response.headers.get(h) for h in SAME_HEADERS} == ref.headers[encoding]
            assert ("Content-Length" in response.headers) == (expected == 200)
            body = bytes(response.data)
            if expected == 304 or method == "HEAD":
                assert body == b""
            else:
                assert (gzip.decompress(body) if encoding == "gzip" else body) == ref.body
        finally:
            response.close()
