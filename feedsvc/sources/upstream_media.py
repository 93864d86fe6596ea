"""An upstream entry's cover image, as feedparser or a JSON Feed item gives it (unchecked)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from feedsvc.sources.assets import IMAGE_SUFFIXES


def _is_image(media: Mapping[str, Any], url: str) -> bool:
    """Media RSS: ``medium="image"`` or an image/* type; with neither, an image file name."""
    medium, kind = media.get("medium"), media.get("type")
    if medium or kind:
        return medium == "image" or (isinstance(kind, str) and kind.startswith("image/"))
    return urlsplit(url).path.lower().endswith(IMAGE_SUFFIXES)


def _first(candidates: Any, key: str, *, typed: bool) -> str | None:
    for media in candidates if isinstance(candidates, list) else []:
        url = media.get(key) if isinstance(media, Mapping) else None
        if isinstance(url, str) and url.strip() and (not typed or _is_image(media, url)):
            return url.strip()
    return None


def feedparser_image(entry: Mapping[str, Any]) -> str | None:
    """The first image of ``media:content``, then ``media:thumbnail``, then an image enclosure.

    Enclosures are RSS ``<enclosure>`` and Atom ``<link rel="enclosure">`` alike in feedparser.
    """
    return (
        _first(entry.get("media_content"), "url", typed=True)
        or _first(entry.get("media_thumbnail"), "url", typed=False)
        or _first(entry.get("enclosures"), "href", typed=True)
    )


def json_image(item: Mapping[str, Any]) -> str | None:
    """JSON Feed 1.1 ``image`` (the item's main image), else ``banner_image``."""
    for key in ("image", "banner_image"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
