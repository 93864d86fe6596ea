"""Asset files beside the posts of a markdown source: which may be served, and cover images."""

from __future__ import annotations

import os
import posixpath

from werkzeug.security import safe_join

from feedsvc import urls

SUFFIXES = (".md", ".markdown")  # Markdown files: posts, never served as assets
# What a cover may be: the suffixes Flask's send_file serves with an image/* content type
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg")


class BadCover(ValueError):
    """A front-matter ``image:`` that cannot be published; the message is the reason."""


def asset_path(root: str, path: str) -> str | None:
    """The real file ``path`` names below ``root``, or None when it must not be served."""
    # refused: traversal, symlink escape, hidden entries, Markdown, directories, missing files
    if "\x00" in path:  # os.path would raise ValueError (a 500): no file has such a name
        return None
    parts = path.split("/")
    if any(not part or part.startswith(".") for part in parts):
        return None
    if path.lower().endswith(SUFFIXES):
        return None
    joined = safe_join(root, path)
    if joined is None:
        return None
    real_root = os.path.realpath(root)
    real = os.path.realpath(joined)
    if os.path.commonpath([real_root, real]) != real_root or not os.path.isfile(real):
        return None
    if real.lower().endswith(SUFFIXES):  # a symlink to a Markdown file
        return None
    return real


def cover_url(value: str, *, root: str, post_dir: str, source: str, base_url: str) -> str:
    """The absolute URL of a cover: an http(s) URL as it is, or an image file of the source.

    A path is relative to the post's folder (``post_dir``, relative to ``root``; ``/a.png`` is
    from the source folder's top) and must stay inside the folder and name an image file that
    the /media route serves. Every URL goes through ``urls.publishable_url``.
    """
    if urls.has_scheme(value) or value.startswith("//"):
        try:
            return urls.publishable_url(value, None)
        except urls.UnsafeURL as exc:
            raise BadCover(str(exc)) from None
    if value.startswith("/"):
        relpath = posixpath.normpath(value.lstrip("/"))
    else:
        relpath = posixpath.normpath(posixpath.join(post_dir, value))
    if relpath == ".." or relpath.startswith("../") or relpath == ".":
        raise BadCover("is outside the source folder")
    if not relpath.lower().endswith(IMAGE_SUFFIXES):
        raise BadCover(f"is not an image file ({', '.join(IMAGE_SUFFIXES)})")
    if asset_path(root, relpath) is None:
        raise BadCover("names no file in the source folder (missing, hidden or outside it)")
    try:
        return urls.publishable_url(urls.absolute(base_url, urls.media_path(source, relpath)), None)
    except urls.UnsafeURL as exc:
        raise BadCover(str(exc)) from None
