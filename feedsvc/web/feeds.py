"""Feed routes: /feed.<fmt> and /<kind>/<slug>/feed.<fmt>, ?page=N, with HTTP caching."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, abort, request

from feedsvc.feeds import service
from feedsvc.feeds.service import FeedKey
from feedsvc.web import renditions
from feedsvc.web.feedcache import Prepared, cache_for, link_header, url_key
from feedsvc.web.state import AppState, state

_PAGE = re.compile(r"[1-9][0-9]{0,8}")


def page_number(environ: Mapping[str, Any]) -> int | None:
    """The ``page`` query parameter: 1 when absent, None when it is not a positive integer."""
    query = environ.get("QUERY_STRING", "")
    if not query:
        return 1
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "page"]
    if not values:
        return 1
    if len(values) > 1 or not _PAGE.fullmatch(values[0]):
        return None
    return int(values[0])


def prepare_feed(app_state: AppState, key: FeedKey, page: int) -> Prepared | None:
    """One feed page with what every response for it needs: from the shared rendition store,
    built only when no worker or instance has built it since its scope last changed."""
    cfg = app_state.cfg

    def make() -> tuple[bytes, str, datetime] | None:
        built = service.build_feed(app_state.db, cfg, key, page)
        return None if built is None else (built.body, built.content_type, built.last_modified)

    links = [(service.hub_url(cfg), "hub"), (service.topic_for(cfg, key, page), "self")]
    # WebSub §4: discovery by Link headers
    return renditions.shared(
        app_state, key.kind, key.slug, key.fmt, page, make, [link_header(links)]
    )


def serve_feed(fmt: str, kind: str | None = None, slug: str | None = None) -> Response:
    """A feed page from the per-process cache: 200 or 304, gzip when accepted."""
    environ = request.environ
    page = page_number(environ)
    if page is None:
        abort(404)
    app_state = state()
    key = FeedKey(fmt, kind, slug)
    prepared = cache_for(app_state).get_or_build(
        ("feed", key, page), lambda: prepare_feed(app_state, key, page), url_key(environ)
    )
    if prepared is None:
        abort(404)
    return prepared.respond(environ)
