"""Public URLs (DESIGN.md: permanent, people subscribe to them). One place builds them all."""

from __future__ import annotations

from urllib.parse import quote

FORMATS = ("atom", "rss", "json")
FEED_KINDS = ("categories", "tags", "authors")


def absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def post_path(slug: str) -> str:
    return "/posts/" + quote(slug, safe="")


def feed_path(fmt: str, kind: str | None = None, slug: str | None = None) -> str:
    if kind is None:
        return f"/feed.{fmt}"
    return f"/{kind}/{quote(slug or '', safe='')}/feed.{fmt}"


def with_page(url: str, page: int) -> str:
    return url if page <= 1 else f"{url}?page={page}"


def media_path(source: str, relpath: str) -> str:
    return f"/media/{quote(source, safe='')}/{quote(relpath)}"
