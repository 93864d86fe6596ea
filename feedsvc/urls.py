"""Public URLs (DESIGN.md: permanent, people subscribe to them) and ids. One place builds them."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from feedsvc.kinds import FeedFormat, ScopeKind

FORMATS = tuple(FeedFormat)
FEED_KINDS = tuple(ScopeKind)


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def host_of(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


# RFC 4151 §2.1: the characters a tag's specific part may hold as they are
TAG_SAFE = "/-._~!$&'()*+,;=:@"


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


def hub_path() -> str:
    return "/hub"
