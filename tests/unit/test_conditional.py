"""RFC 9110 conditional requests and content-coding negotiation (pure functions)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.web import conditional
from feedsvc.web.conditional import Representation, Variant

LAST_MODIFIED = datetime(2026, 1, 11, 1, 30, 0, 250_000, tzinfo=UTC)  # sent as 01:30:00
BODY = b"<feed>" + "条件请求".encode() * 50 + b"</feed>"
REP = conditional.make_representation(BODY, "application/atom+xml; charset=utf-8", LAST_MODIFIED)
ETAG = REP.identity.etag
GZIP_ETAG = REP.gzip.etag


def imf(dt: datetime) -> str:
    return conditional.http_date(dt)


# (name, method, If-None-Match, If-Modified-Since, etag evaluated against, expected status)
CASES = [
    ("no validators", "GET", None, None, ETAG, 200),
    ("matching strong etag", "GET", ETAG, None, ETAG, 304),
    ("weak form of the etag", "GET", "W/" + ETAG, None, ETAG, 304),
    ("list with a match in the middle", "GET", f'"a", W/{ETAG}, "b"', None, ETAG, 304),
    ("list without a match", "GET", '"a", W/"b"', None, ETAG, 200),
    ("list without spaces", "GET", f'"a",{ETAG}', None, ETAG, 304),
    ("malformed member never matches", "GET", ETAG.strip('"'), None, ETAG, 200),
    ("star", "GET", "*", None, ETAG, 304),
    ("etag mismatch beats a matching date", "GET", '"nope"', imf(LAST_MODIFIED), ETAG, 200),
    (
        "etag match beats an old date",
        "GET",
        ETAG,
        imf(LAST_MODIFIED - timedelta(days=1)),
        ETAG,
        304,
    ),
    ("date equal (fraction dropped)", "GET", None, "Sun, 11 Jan 2026 01:30:00 GMT", ETAG, 304),
    ("date newer", "GET", None, imf(LAST_MODIFIED + timedelta(hours=1)), ETAG, 304),
    ("date older", "GET", None, imf(LAST_MODIFIED - timedelta(seconds=1)), ETAG, 200),
    ("date in rfc850 form", "GET", None, "Sunday, 11-Jan-26 01:30:00 GMT", ETAG, 304),
    ("date in asctime form", "GET", None, "Sun Jan 11 01:30:00 2026", ETAG, 304),
    ("date invalid", "GET", None, "yesterday", ETAG, 200),
    ("date empty", "GET", None, "", ETAG, 200),
    ("HEAD like GET: etag", "HEAD", ETAG, None, ETAG, 304),
    ("HEAD like GET: date", "HEAD", None, imf(LAST_MODIFIED), ETAG, 304),
    ("HEAD like GET: mismatch", "HEAD", '"nope"', None, ETAG, 200),
    ("POST never 304: etag", "POST", ETAG, None, ETAG, 200),
    ("POST never 304: star", "POST", "*", None, ETAG, 200),
    ("POST never 304: date", "POST", None, imf(LAST_MODIFIED), ETAG, 200),
    ("gzip variant's etag sent back", "GET", GZIP_ETAG, None, GZIP_ETAG, 304),
    ("identity etag against the gzip variant", "GET", ETAG, None, GZIP_ETAG, 200),
    ("gzip etag against the identity variant", "GET", GZIP_ETAG, None, ETAG, 200),
]


@pytest.mark.parametrize(
    ("name", "method", "inm", "ims", "etag", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_evaluate(name, method, inm, ims, etag, expected):
    assert conditional.evaluate(method, inm, ims, etag, LAST_MODIFIED) == expected


def test_if_modified_since_without_last_modified_is_200():
    assert conditional.evaluate("GET", None, imf(LAST_MODIFIED), ETAG, None) == 200


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"abc"', [(False, '"abc"')]),
        ('W/"abc"', [(True, '"abc"')]),
        (' "a" , W/"b",W/""', [(False, '"a"'), (True, '"b"'), (True, '""')]),
        ('abc, "d"', [(False, '"d"')]),
        ('"a"b"', []),
        ("", []),
        (" * ", "*"),
    ],
)
def test_parse_etag_list(header, expected):
    assert conditional.parse_etag_list(header) == expected


def variant(encoding: str | None) -> Variant:
    return Variant(b"body-" + (encoding or "identity").encode(), f'"{encoding}"', encoding)


WITHOUT_BR = Representation("text/plain", None, variant(None), variant("gzip"), None)
WITH_BR = Representation("text/plain", None, variant(None), variant("gzip"), variant("br"))

# (name, Accept-Encoding, encoding chosen without br, with br)
ENCODING_CASES = [
    ("absent header", None, None, None),
    ("empty header", "", None, None),
    ("gzip", "gzip", "gzip", "gzip"),
    ("gzip refused", "gzip;q=0", None, None),
    ("star", "*", "gzip", "br"),
    ("star refused but gzip named", "*;q=0, gzip", "gzip", "gzip"),
    ("identity refused, gzip accepted", "identity;q=0, gzip", "gzip", "gzip"),
    ("br preferred over gzip", "br;q=1, gzip;q=0.5", "gzip", "br"),
    ("gzip preferred over br", "br;q=0.2, gzip;q=0.9", "gzip", "gzip"),
    ("equal q: server prefers br", "gzip, deflate, br", "gzip", "br"),
    ("identity preferred by q", "identity, gzip;q=0.5", None, None),
    ("low q still beats an unnamed identity", "gzip;q=0.1", "gzip", "gzip"),
    ("x-gzip alias", "x-gzip", "gzip", "gzip"),
    ("case-insensitive", "GZip;Q=1.0", "gzip", "gzip"),
    ("invalid qvalue ignored", "gzip;q=2", None, None),
    ("only unknown codings", "compress, deflate", None, None),
    ("nothing acceptable: identity anyway", "identity;q=0", None, None),
]


@pytest.mark.parametrize(
    ("name", "header", "without_br", "with_br"),
    ENCODING_CASES,
    ids=[c[0] for c in ENCODING_CASES],
)
def test_select(name, header, without_br, with_br):
    assert WITHOUT_BR.select(header).encoding == without_br
    assert WITH_BR.select(header).encoding == with_br


def test_make_representation_variants():
    assert REP.identity == Variant(BODY, ETAG, None)
    assert REP.gzip.encoding == "gzip"
    assert gzip.decompress(REP.gzip.body) == BODY
    assert REP.gzip.body[4:8] == b"\0\0\0\0"  # RFC 1952 MTIME unset: bytes depend on body only
    assert ETAG != GZIP_ETAG
    for etag in (ETAG, GZIP_ETAG):
        assert len(etag) == 34 and etag[0] == etag[-1] == '"'  # strong, 128 bits of hex
    assert (REP.content_type, REP.last_modified) == (
        "application/atom+xml; charset=utf-8",
        LAST_MODIFIED,
    )


def test_br_variant_only_with_brotli():
    try:
        import brotli  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        assert REP.br is None
    else:
        assert REP.br is not None and REP.br.encoding == "br"


@given(st.binary(), st.binary())
def test_etag_is_a_function_of_the_bytes(a, b):
    rep_a = conditional.make_representation(a, "text/plain", None)
    again = conditional.make_representation(bytes(a), "text/plain", None)
    rep_b = conditional.make_representation(b, "text/plain", None)
    assert rep_a == again  # gzip with mtime=0 is deterministic too
    assert (rep_a.identity.etag == rep_b.identity.etag) == (a == b)
    assert gzip.decompress(rep_a.gzip.body) == a
    assert rep_a.gzip.etag != rep_a.identity.etag


def test_http_date_is_imf_fixdate():
    assert conditional.http_date(datetime(2026, 1, 11, 9, 30, 5, 999_000, tzinfo=UTC)) == (
        "Sun, 11 Jan 2026 09:30:05 GMT"
    )
    east8 = datetime(2026, 1, 11, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    assert conditional.http_date(east8) == "Sun, 11 Jan 2026 09:30:00 GMT"


@pytest.mark.parametrize("accept", [None, "gzip"])
def test_cache_headers(accept):
    chosen = REP.select(accept)
    headers = conditional.cache_headers(chosen, REP, 300)
    names = [name for name, _ in headers]
    assert len(names) == len(set(names))
    expected = {
        "Content-Type": "application/atom+xml; charset=utf-8",
        "ETag": chosen.etag,
        "Last-Modified": "Sun, 11 Jan 2026 01:30:00 GMT",
        "Cache-Control": "public, max-age=300",
        "Vary": "Accept-Encoding",
    }
    if accept == "gzip":
        expected["Content-Encoding"] = "gzip"
    assert dict(headers) == expected
    # the validators sent are the ones a conditional request is evaluated against
    assert conditional.evaluate("GET", dict(headers)["ETag"], None, chosen.etag, None) == 304
    since = dict(headers)["Last-Modified"]
    assert conditional.evaluate("GET", None, since, chosen.etag, REP.last_modified) == 304


def test_cache_headers_without_last_modified():
    rep = conditional.make_representation(b"x", "text/plain", None)
    assert "Last-Modified" not in dict(conditional.cache_headers(rep.identity, rep, 0))


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("feed", True),
        ("FEED", True),
        ("vcdiff, feed", True),
        ("feed;q=0.5", True),
        ("feed; q=0", False),
        ("feed;q=0.000", False),
        ("feed;q=2", False),  # not a qvalue
        ("vcdiff", False),
        ("feeds", False),
        ("", False),
        (None, False),
    ],
)
def test_a_im_feed(header, accepted):
    assert conditional.accepts_feed_im(header) is accepted
