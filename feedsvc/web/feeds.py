"""Feed routes: /feed.<fmt> and /<kind>/<slug>/feed.<fmt>, ?page=N, with HTTP caching."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, abort, request

from feedsvc.feeds import deltas as feed_deltas
from feedsvc.feeds import service
from feedsvc.feeds.model import FeedDoc
from feedsvc.feeds.service import FeedKey
from feedsvc.telemetry import FEED_BUILD_SECONDS, FEED_BUILDS
from feedsvc.web import conditional, renditions
from feedsvc.web.conditional import is_navigation
from feedsvc.web.deltas import FeedPrepared, answer_delta
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
    """One feed page with what every response for it needs: from the shared rendition store,
    built only when no worker or instance has built it since its scope last changed. ``browser``:
    the Atom/RSS variant a browser gets (BROWSER_CONTENT_TYPE), stored as its own format.

    The worker that builds a version records its ETags and entries (RFC 3229 history), so any
    worker or instance can later answer ``A-IM: feed`` against it."""
    cfg = app_state.cfg
    built_doc: list[FeedDoc] = []

    def make() -> tuple[bytes, str, datetime] | None:
        started = time.perf_counter()
        built = service.build_feed(app_state.db, cfg, key, page)
        if built is None:
            return None
        FEED_BUILDS.labels(key.fmt).inc()
        FEED_BUILD_SECONDS.observe(time.perf_counter() - started)
        if built.doc is not None:
            built_doc.append(built.doc)
        if browser:
            return built.body + b"\n", BROWSER_CONTENT_TYPE, built.last_modified
        return built.body, built.content_type, built.last_modified

    def record(rep: conditional.Representation) -> None:
        if built_doc and not browser:
            variants = (rep.identity, rep.gzip, rep.br)
            etags = {v.encoding: v.etag for v in variants if v is not None}
            now = app_state.clock.now()
            feed_deltas.record_version(app_state.db, cfg, key, page, etags, built_doc[0], now)

    def load_doc() -> FeedDoc | None:
        if built_doc:
            return built_doc[0]
        built = service.build_feed(app_state.db, cfg, key, page)
        return None if built is None else built.doc

    def feed_prepared(*args: Any, **kwargs: Any) -> Prepared:
        return FeedPrepared(*args, **kwargs, key=key, page=page, load_doc=load_doc)

    styled = key.fmt in STYLED_FORMATS
    stored_as = f"{key.fmt}-web" if styled and browser else key.fmt
    deltas_on = feed_deltas.enabled(cfg) and not browser
    links = [(service.hub_url(cfg), "hub"), (service.topic_for(cfg, key, page), "self")]
    return renditions.shared(
        app_state,
        key.kind,
        key.slug,
        stored_as,
        page,
        make,
        [link_header(links)],  # WebSub §4: discovery by Link headers
        vary="Accept-Encoding, Accept" if styled else "Accept-Encoding",
        on_build=record if deltas_on else None,
        prepared=feed_prepared if deltas_on else Prepared,
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
    if isinstance(prepared, FeedPrepared):
        delta = answer_delta(app_state, prepared, environ)
        if delta is not None:
            return delta
    return prepared.respond(environ)
