"""Public URLs (DESIGN.md: permanent, people subscribe to them) and ids. One place builds them."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote, urljoin, urlsplit

from feedsvc.kinds import FeedFormat, ScopeKind

FORMATS = tuple(FeedFormat)
FEED_KINDS = tuple(ScopeKind)
FEED_STYLESHEET_PATH = "/feed.xsl"  # the XSLT that shows Atom and RSS as a page
CODE_STYLE_PATH = "/code.css"  # Pygments colours for highlighted code, light and dark


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def host_of(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


# RFC 4151 §2.1: the characters a tag's specific part may hold as they are
TAG_SAFE = "/-._~!$&'()*+,;=:@"
MAX_URL_LENGTH = 2000
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\<>\"`]")


class UnsafeURL(ValueError):
    """A URL feedsvc will not publish; the message is the reason (for an item error)."""


def has_scheme(value: str) -> bool:
    """Whether a URL reference starts with a scheme (``https:``, ``javascript:``…)."""
    return bool(_SCHEME.match(value))


def publishable_url(value: object, base_url: str | None) -> str:
    """The one check for every URL feedsvc publishes (entry links, images, author URIs).

    An absolute ``http``/``https`` URL is kept as it is; a relative reference (``/a``, ``a/b``,
    ``//host/x`` is refused) is resolved against the site. Anything else — ``javascript:``,
    ``data:``, ``vbscript:``, other schemes, whitespace or control characters, no host, longer
    than MAX_URL_LENGTH — raises UnsafeURL. With ``base_url=None`` only absolute URLs pass.
    """
    if not isinstance(value, str) or not value:
        raise UnsafeURL("must be a non-empty string")
    if len(value) > MAX_URL_LENGTH:
        raise UnsafeURL(f"must be at most {MAX_URL_LENGTH} characters")
    if _UNSAFE_CHARS.search(value):
        raise UnsafeURL("must not contain spaces, control characters, quotes, < > ` or \\")
    if value.startswith("//"):
        raise UnsafeURL("must be an absolute http or https URL, or a path on this site")
    if has_scheme(value):
        absolute_url = value
    elif base_url is None:
        raise UnsafeURL("must be an absolute http or https URL")
    else:
        absolute_url = urljoin(base_url.rstrip("/") + "/", value)
    try:
        parts = urlsplit(absolute_url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        raise UnsafeURL("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise UnsafeURL("must be an absolute http or https URL, or a path on this site")
    return absolute_url


def tag_uri(host: str, date: str, specific: str) -> str:
    """An RFC 4151 tag URI ``tag:<host>,<date>:<specific>``, stable forever once minted.

    ``specific`` must already be encoded (``quote(…, safe=TAG_SAFE)``): ids minted before must
    come out byte for byte the same, so the callers keep their own encoding.
    """
    return f"tag:{host},{date}:{specific}"


def post_path(slug: str) -> str:
    return "/posts/" + quote(slug, safe="")


def feed_path(fmt: str, kind: str | None = None, slug: str | None = None) -> str:
    if kind is None:
        return f"/feed.{fmt}"
    return f"/{kind}/{quote(slug or '', safe='')}/feed.{fmt}"


def list_path(kind: str | None, slug: str | None) -> str:
    """The HTML page listing a scope's posts ("/" or "/<kind>/<slug>/")."""
    if kind is None:
        return "/"
    return f"/{kind}/{quote(slug or '', safe='')}/"


def with_page(url: str, page: int) -> str:
    return url if page <= 1 else f"{url}?page={page}"


def media_path(source: str, relpath: str) -> str:
    return f"/media/{quote(source, safe='')}/{quote(relpath)}"


def markdown_base(base_url: str, source: str, key: str) -> str:
    """What a Markdown file's relative links resolve against: its directory under /media/."""
    reldir = str(PurePosixPath(key).parent)
    return absolute(base_url, media_path(source, "" if reldir == "." else reldir + "/"))


def hub_path() -> str:
    return "/hub"
