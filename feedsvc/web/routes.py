"""All routes, visible in one place."""

from __future__ import annotations

from flask import Flask

from feedsvc import urls
from feedsvc.web import (
    api_posts,
    api_sources,
    api_webhooks,
    assets,
    auth,
    feedcache,
    feeds,
    health,
    hub,
    instrument,
    media,
    metrics,
    pages,
    polllimit,
)

_FMT = "<any(atom,rss,json):fmt>"
_KIND = "<any(categories,tags,authors):kind>"


def register_routes(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", health.healthz)
    app.add_url_rule("/metrics", "metrics", metrics.metrics)
    app.add_url_rule(f"/feed.{_FMT}", "feed", feeds.serve_feed)
    app.add_url_rule(f"/{_KIND}/<slug>/feed.{_FMT}", "scoped_feed", feeds.serve_feed)
    app.add_url_rule("/", "home", pages.list_page)
    app.add_url_rule(f"/{_KIND}/<slug>/", "scoped_list", pages.list_page)
    app.add_url_rule("/posts/<slug>", "post", pages.post_page)
    app.add_url_rule("/media/<source>/<path:path>", "media", media.media)
    app.add_url_rule(urls.CODE_STYLE_PATH, "code_css", assets.code_css)
    app.add_url_rule(urls.FEED_STYLESHEET_PATH, "feed_xsl", assets.feed_xsl)
    app.register_error_handler(404, pages.not_found)
    # cached feed/page URLs are answered in front of Flask (web/feedcache.py: polls are cheap)
    feedcache.install_fast_path(app)
    # [server] poll_limit: in front of the fast path, so a spent budget is a 429 (off by default)
    polllimit.install_poll_limit(app)
    app.add_url_rule("/hub", "hub", hub.hub, methods=["POST"])  # WebSub hub
    app.register_blueprint(api_posts.bp)  # /api/v1/posts…
    app.register_blueprint(api_sources.bp)  # /api/v1/sources…
    app.register_blueprint(api_webhooks.bp)  # /api/v1/webhooks…, /api/v1/deliveries…
    app.register_blueprint(auth.fallback)  # any other /api/v1/*: JSON 404/405 behind the gate
    instrument.install(app)  # outermost: counts and times every response, fast path included
