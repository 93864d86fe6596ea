"""Pure HTTP caching logic: representations and their variants, content-coding negotiation
(RFC 9110 §12.5.3), conditional requests (RFC 9110 §13) and the headers that go with them."""

from __future__ import annotations

import functools
import gzip as gzip_module
import hashlib
import importlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal

# RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
# RFC 9110 §8.8.3: entity-tag = [ weak ] opaque-tag; etagc = %x21 / %x23-7E / obs-text
_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*')


@dataclass(frozen=True)
class Variant:
    """One encoding of a representation: its bytes, strong ETag and content coding."""

    body: bytes
    etag: str  # quoted strong entity-tag, e.g. '"3f2a…"'
    encoding: str | None  # None = identity, "gzip", "br"


@dataclass(frozen=True)
class Representation:
    """A resource's current representation with every variant it can be sent in."""

    content_type: str
    last_modified: datetime | None
    identity: Variant
    gzip: Variant
    br: Variant | None = None

    def select(self, accept_encoding: str | None) -> Variant:
        """The variant to send for an Accept-Encoding value (RFC 9110 §12.5.3)."""
        if not accept_encoding:
            # An absent or empty field: send identity (§12.5.3 lets an empty value mean
            # "no coding"; with no field at all we do not gamble on what the client decodes).
            return self.identity
        weights = parse_accept_encoding(accept_encoding)
        # (q, server preference br > gzip > identity, variant): the client's q decides first
        scored = [
            (_coding_q(weights, coding), preference, variant)
            for preference, (coding, variant) in enumerate(
                (("identity", self.identity), ("gzip", self.gzip), ("br", self.br))
            )
            if variant is not None
        ]
        q, _, variant = max(scored, key=lambda s: (s[0], s[1]))
        # §12.5.3 allows sending identity when nothing is acceptable (rather than a 406/415)
        return variant if q > 0 else self.identity


def parse_accept_encoding(header: str) -> dict[str, float]:
    """Content coding -> q from an Accept-Encoding value; members with a bad qvalue are dropped."""
    weights: dict[str, float] = {}
    for member in header.split(","):
        coding, *params = (part.strip() for part in member.split(";"))
        coding = coding.lower()
        if not coding or coding in weights:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else -1.0
        if q >= 0:
            weights[coding] = q
    return weights


FEED_MEDIA_TYPES = ("application/atom+xml", "application/rss+xml")


@functools.lru_cache(maxsize=256)
def is_navigation(accept: str) -> bool:
    """A browser opening a URL: its Accept asks for text/html and names no feed media type.

    Chromium shows application/atom+xml and application/rss+xml as plain text and applies no
    XSLT to them, so such a request gets the same feed as application/xml (``Vary: Accept``).
    """
    if "text/html" not in accept.lower():  # feed readers and pollers: no parse on the hot path
        return False
    # Accept (RFC 9110 §12.5.1) has Accept-Encoding's shape: members with an optional q
    weights = parse_accept_encoding(accept)
    if weights.get("text/html", 0.0) <= 0:
        return False
    return not any(weights.get(media, 0.0) > 0 for media in FEED_MEDIA_TYPES)


def _coding_q(weights: dict[str, float], coding: str) -> float:
    """The q a parsed Accept-Encoding gives one coding (RFC 9110 §12.5.3)."""
    if coding in weights:
        return weights[coding]
    if coding == "gzip" and "x-gzip" in weights:  # §8.4.1.3: x-gzip is gzip
        return weights["x-gzip"]
    if coding == "identity":
        # acceptable unless excluded by "identity;q=0" or "*;q=0"; when not named at all it
        # is the least preferred choice, so "gzip;q=0.5" still selects gzip
        return weights.get("*", 0.001)
    return weights.get("*", 0.0)


def strong_etag(body: bytes) -> str:
    """A strong entity-tag for exactly these bytes: 128 bits of SHA-256, quoted."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _brotli() -> Any:
    """The optional ``brotli`` module (not a dependency), or None."""
    try:
        return importlib.import_module("brotli")
    except ImportError:
        return None


_BROTLI = _brotli()


def encode(body: bytes, coding: str | None) -> bytes:
    """The body in a content coding: None (identity), "gzip" or "br" (when installed)."""
    if coding == "gzip":
        # mtime=0: the gzip bytes, and so their ETag, are a function of the body alone
        return gzip_module.compress(body, compresslevel=9, mtime=0)
    if coding == "br" and _BROTLI is not None:
        return bytes(_BROTLI.compress(body))
    if coding is None:
        return body
    raise ValueError(f"conditional: unknown content coding {coding!r}")


def accepts_feed_im(header: str | None) -> bool:
    """Whether an A-IM value (RFC 3229) accepts the registered "feed" instance-manipulation."""
    if not header:
        return False
    for member in header.split(","):
        name, *params = (part.strip() for part in member.split(";"))
        if name.lower() != "feed":
            continue
        for param in params:
            key, _, value = (p.strip() for p in param.partition("="))
            if key.lower() == "q" and (not _QVALUE.fullmatch(value) or float(value) == 0):
                return False  # "feed;q=0" refuses it; a broken qvalue is no acceptance
        return True
    return False


def make_representation(
    body: bytes, content_type: str, last_modified: datetime | None
) -> Representation:
    """Identity, gzip and (when brotli is installed) br variants, each with its own ETag."""
    zipped = encode(body, "gzip")
    br = None
    if _BROTLI is not None:
        squeezed = encode(body, "br")
        br = Variant(squeezed, strong_etag(squeezed), "br")
    return Representation(
        content_type=content_type,
        last_modified=last_modified,
        identity=Variant(body, strong_etag(body), None),
        gzip=Variant(zipped, strong_etag(zipped), "gzip"),
        br=br,
    )


def parse_etag_list(header: str) -> list[tuple[bool, str]] | Literal["*"]:
    """(weak, opaque-tag) per member of an If-None-Match value, or "*" (RFC 9110 §13.1.2).

    Members that are not valid entity-tags are skipped: they can never match.
    """
    if header.strip() == "*":
        return "*"
    tags = []
    for member in header.split(","):
        found = _ENTITY_TAG.fullmatch(member)
        if found:
            tags.append((found.group(1) is not None, found.group(2)))
    return tags


def parse_http_date(value: str) -> datetime | None:
    """An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, rfc850 or asctime) as aware UTC, or None."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime and "-0000" carry no zone: HTTP dates are UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def evaluate(
    method: str,
    if_none_match: str | None,
    if_modified_since: str | None,
    etag: str,
    last_modified: datetime | None,
) -> int:
    """200 or 304 for a GET/HEAD with these preconditions (RFC 9110 §13.2.2 order)."""
    # §13.1.2/§13.1.3: only GET and HEAD answer a failed If-None-Match/If-Modified-Since
    # with 304; this service never applies them to other methods
    if method.upper() not in ("GET", "HEAD"):
        return 200
    if if_none_match is not None:
        # §13.2.2 step 3; when If-None-Match is present If-Modified-Since is ignored (step 4)
        tags = parse_etag_list(if_none_match)
        if tags == "*" or any(_weak_match(tag, etag) for _, tag in tags):
            return 304
        return 200
    if if_modified_since is None or last_modified is None:
        return 200
    since = parse_http_date(if_modified_since)
    if since is None:  # §13.1.3: an invalid HTTP-date is ignored
        return 200
    # Last-Modified is sent to the second, so compare at that resolution
    return 304 if _utc(last_modified).replace(microsecond=0) <= since else 200


def _weak_match(tag: str, etag: str) -> bool:
    """§8.8.3.2 weak comparison: opaque-tags equal, whatever either's W/ prefix."""
    return tag == etag.removeprefix("W/")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def http_date(dt: datetime) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 11 Jan 2026 01:30:00 GMT"."""
    return format_datetime(_utc(dt).replace(microsecond=0), usegmt=True)


def cache_headers(
    variant: Variant, rep: Representation, max_age: int, vary: str = "Accept-Encoding"
) -> list[tuple[str, str]]:
    """The validators and caching headers of a response: the same for its 200 and its 304."""
    headers = [("Content-Type", rep.content_type), ("ETag", variant.etag)]
    if rep.last_modified is not None:
        headers.append(("Last-Modified", http_date(rep.last_modified)))
    headers.append(("Cache-Control", f"public, max-age={max_age}"))
    headers.append(("Vary", vary))  # RFC 9110 §12.5.5: what the body depends on
    if variant.encoding is not None:
        headers.append(("Content-Encoding", variant.encoding))
    return headers
