"""Feed routes: /feed.<fmt> and /<kind>/<slug>/feed.<fmt>, ?page=N, with HTTP caching."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, abort, request

from feedsvc.feeds import service
from feedsvc.feeds.service import FeedKey
from feedsvc.telemetry import FEED_BUILD_SECONDS, FEED_BUILDS
from feedsvc.web.conditional import is_navigation
from feedsvc.web.feedcache import Prepared, cache_for, link_header, url_key
from feedsvc.web.state import AppState, state

_PAGE = re.compile(r"[1-9][0-9]{0,8}")
STYLED_FORMATS = ("atom", "rss")  # the XML formats that carry the feed.xsl stylesheet
# What a browser gets for Atom/RSS: a generic XML type it applies the XSLT to. The same XML with
# one newline more after the root element (XML 1.0 §2.8 Misc), so that its strong ETag differs
# from the feed reader's representation's (RFC 9110 §8.8.3: one per representation).
BROWSER_CONTENT_TYPE = "application/xml; charset=utf-8"


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


def prepare_feed(
    app_state: AppState, key: FeedKey, page: int, browser: bool = False
) -> Prepared | None:
    """Build one feed page and precompute what every response for it needs."""
    cfg = app_state.cfg
    started = time.perf_counter()
    built = service.build_feed(app_state.db, cfg, key, page)
    if built is None:
        return None
    FEED_BUILDS.labels(key.fmt).inc()
    FEED_BUILD_SECONDS.observe(time.perf_counter() - started)
    links = [(service.hub_url(cfg), "hub"), (service.topic_for(cfg, key, page), "self")]
    body, content_type, vary = built.body, built.content_type, "Accept-Encoding"
    if key.fmt in STYLED_FORMATS:
        vary = "Accept-Encoding, Accept"
        if browser:
            body, content_type = body + b"\n", BROWSER_CONTENT_TYPE
    return Prepared(
        body,
        content_type,
        built.last_modified,
        cfg.feeds.cache_max_age,
        [link_header(links)],  # WebSub §4: discovery by Link headers
        vary,
    )


def serve_feed(fmt: str, kind: str | None = None, slug: str | None = None) -> Response:
    """A feed page from the per-process cache: 200 or 304, gzip when accepted."""
    environ = request.environ
    page = page_number(environ)
    if page is None:
        abort(404)
    app_state = state()
    key = FeedKey(fmt, kind, slug)
    browser = fmt in STYLED_FORMATS and is_navigation(environ.get("HTTP_ACCEPT", ""))
    prepared = cache_for(app_state).get_or_build(
        ("feed", key, page, browser),
        lambda: prepare_feed(app_state, key, page, browser),
        url_key(environ),
    )
    if prepared is None:
        abort(404)
    return prepared.respond(environ)
