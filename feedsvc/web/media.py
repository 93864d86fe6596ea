"""/media/<source>/<path>: asset files (images…) beside the posts of a markdown source."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Response, abort, send_from_directory
from werkzeug.security import safe_join

from feedsvc.sources.markdown import SUFFIXES
from feedsvc.web.state import state

# Files come from the operator's directory but are served from our origin: keep them inert.
MEDIA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


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


def media(source: str, path: str) -> Response:
    """Serve one asset of a markdown source; 404 for anything else."""
    cfg = state().cfg
    src = next((s for s in cfg.sources if s.name == source and s.kind == "markdown"), None)
    if src is None:
        abort(404)
    real = asset_path(src.path, path)
    if real is None:
        abort(404)
    real_root = os.path.realpath(src.path)
    response = send_from_directory(
        real_root, Path(real).relative_to(real_root).as_posix(), max_age=cfg.feeds.cache_max_age
    )
    response.headers.update(MEDIA_HEADERS)
    return response
