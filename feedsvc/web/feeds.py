"""Feed routes: /feed.<fmt> and /<kind>/<slug>/feed.<fmt>, ?page=N, with HTTP caching."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, abort, request

from feedsvc.feeds import deltas as feed_deltas
from feedsvc.feeds import service
from feedsvc.feeds.service import FeedKey
from feedsvc.web.deltas import FeedPrepared, answer_delta
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
    """Build one feed page and precompute what every response for it needs."""
    cfg = app_state.cfg
    built = service.build_feed(app_state.db, cfg, key, page)
    if built is None:
        return None
    links = [(service.hub_url(cfg), "hub"), (service.topic_for(cfg, key, page), "self")]
    extra = [link_header(links)]  # WebSub §4: discovery by Link headers
    max_age = cfg.feeds.cache_max_age
    if built.doc is None or not feed_deltas.enabled(cfg):
        return Prepared(built.body, built.content_type, built.last_modified, max_age, extra)
    prepared = FeedPrepared(
        built.body, built.content_type, built.last_modified, max_age, extra, key, page, built.doc
    )
    # every ETag this version is sent with, so a later A-IM request can name it (RFC 3229)
    feed_deltas.record_version(
        app_state.db, cfg, key, page, prepared.etags(), built.doc, app_state.clock.now()
    )
    return prepared


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
    if isinstance(prepared, FeedPrepared):
        delta = answer_delta(app_state, prepared, environ)
        if delta is not None:
            return delta
    return prepared.respond(environ)
