"""Stylesheets made at startup: /code.css (Pygments colours) and /feed.xsl (feeds as a page)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, render_template, request

from feedsvc import urls
from feedsvc.content.codestyle import code_style_css
from feedsvc.content.messages import messages_for
from feedsvc.web.feedcache import Prepared
from feedsvc.web.state import AppState, state

CSS = "text/css; charset=utf-8"
XSLT = "application/xslt+xml; charset=utf-8"  # W3C XSLT 2.0 Appendix B.1 registers it
# The XSLT's page is the feed's document: it is read by the browser, never run as a page itself
ASSET_HEADERS = [("X-Content-Type-Options", "nosniff")]


def feed_stylesheet(app_state: AppState) -> bytes:
    """The XSLT that turns this site's Atom and RSS into a page in its language and scheme."""
    cfg = app_state.cfg
    site = cfg.site
    return render_template(
        "feed.xsl",
        site=site,
        text=messages_for(site.language),
        home=urls.absolute(site.base_url, "/"),
        style=urls.absolute(site.base_url, "/static/style.css"),
    ).encode("utf-8")


def _asset(name: str, content_type: str, make: Callable[[AppState], bytes]) -> Response:
    """One generated asset, built once per process (it depends on the code and config only)."""
    app_state = state()
    key = f"asset:{name}"
    prepared = app_state.caches.get(key)
    if prepared is None:
        # no Last-Modified: the strong ETag of the bytes is the validator (RFC 9110 §8.8.3)
        prepared = Prepared(
            make(app_state), content_type, None, app_state.cfg.feeds.cache_max_age, ASSET_HEADERS
        )
        prepared = app_state.caches.setdefault(key, prepared)
    return prepared.respond(request.environ)  # type: ignore[no-any-return]


def code_css() -> Response:
    """/code.css."""
    return _asset("code.css", CSS, lambda _: code_style_css().encode("utf-8"))


def feed_xsl() -> Response:
    """/feed.xsl."""
    return _asset("feed.xsl", XSLT, feed_stylesheet)
