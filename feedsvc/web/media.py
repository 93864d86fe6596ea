"""/media/<source>/<path>: asset files (images…) beside the posts of a markdown source."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Response, abort, send_from_directory

from feedsvc.sources.assets import asset_path
from feedsvc.web.state import state

# Files come from the operator's directory but are served from our origin: keep them inert.
MEDIA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


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
