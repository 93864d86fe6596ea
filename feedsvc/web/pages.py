"""HTML pages: the latest-updates list (site, category, tag, author), post pages, the 404 page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, abort, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from feedsvc import urls
from feedsvc.config import Config
from feedsvc.content.messages import messages_for
from feedsvc.feeds import service, views
from feedsvc.feeds.builder import MEDIA_TYPES
from feedsvc.feeds.renditions import HTML_FORMAT, POST_SCOPE
from feedsvc.web import renditions
from feedsvc.web.feedcache import Prepared, cache_for, url_key
from feedsvc.web.feeds import page_number
from feedsvc.web.state import AppState, state

HTML = "text/html; charset=utf-8"
FEED_NAMES = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
PAGE_WINDOW = 2  # page numbers shown either side of the current one
# HTML pages (not feeds): no inline script can run even if something slipped past the sanitiser;
# images may come from anywhere a post links them (upstream posts), nothing else from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https: http:; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
]


def feed_links(cfg: Config, kind: str | None, slug: str | None, title: str) -> list[dict[str, str]]:
    """The <link rel="alternate"> autodiscovery entries for one scope's feeds."""
    return [
        {
            "type": MEDIA_TYPES[fmt],
            "title": f"{title} ({FEED_NAMES[fmt]})",
            "href": service.topic_for(cfg, service.FeedKey(fmt, kind, slug)),
        }
        for fmt in urls.FORMATS
    ]


def pagination(base: str, page: int, last: int) -> dict[str, Any]:
    """Page-number links around the current page, with first/last and prev/next."""
    shown = {1, last, *range(max(1, page - PAGE_WINDOW), min(last, page + PAGE_WINDOW) + 1)}
    items: list[dict[str, Any]] = []
    for number in sorted(shown):
        if items and number - items[-1]["number"] > 1:
            items.append({"number": number - 1, "gap": True})
        items.append({"number": number, "href": urls.with_page(base, number), "gap": False})
    return {
        "page": page,
        "last": last,
        "items": items,
        "prev": urls.with_page(base, page - 1) if page > 1 else None,
        "next": urls.with_page(base, page + 1) if page < last else None,
    }


def prepare_list(
    app_state: AppState, kind: str | None, slug: str | None, page: int
) -> Prepared | None:
    """The rendered list page for a scope, or None (unknown scope, page out of range)."""
    return renditions.shared(
        app_state,
        kind,
        slug,
        HTML_FORMAT,
        page,
        lambda: _render_list(app_state, kind, slug, page),
        list(PAGE_HEADERS),
    )


def _render_list(
    app_state: AppState, kind: str | None, slug: str | None, page: int
) -> tuple[bytes, str, datetime] | None:
    cfg = app_state.cfg
    view = views.list_view(app_state.db, cfg, kind, slug, page)
    if view is None:
        return None
    base = urls.absolute(cfg.site.base_url, urls.list_path(kind, slug))
    heading = cfg.site.title if view.name is None else f"{cfg.site.title} - {view.name}"
    html = render_template(
        "list.html",
        site=cfg.site,
        text=messages_for(cfg.site.language),
        heading=view.name,
        kind=kind,
        feeds=feed_links(cfg, kind, slug, heading),
        entries=view.entries,
        pager=pagination(base, page, view.last),
        canonical=urls.with_page(base, page),
    )
    return html.encode(), HTML, view.changed


def prepare_post(app_state: AppState, slug: str) -> Prepared | None:
    """The rendered page of one visible post, or None."""
    return renditions.shared(
        app_state,
        POST_SCOPE,
        slug,
        HTML_FORMAT,
        1,
        lambda: _render_post(app_state, slug),
        list(PAGE_HEADERS),
    )


def _render_post(app_state: AppState, slug: str) -> tuple[bytes, str, datetime] | None:
    cfg = app_state.cfg
    post = views.post_view(app_state.db, cfg, slug)
    if post is None:
        return None
    html = render_template(
        "post.html",
        site=cfg.site,
        text=messages_for(cfg.site.language),
        post=post,
        content=Markup(post.content_html),  # sanitised at ingest
        categories=post.categories,
        tags=post.tags,
        author_href=post.author_href,
        feeds=feed_links(cfg, None, None, cfg.site.title),
        canonical=post.href,
    )
    return html.encode(), HTML, post.updated


def list_page(kind: str | None = None, slug: str | None = None) -> Response:
    """/ , /categories/<slug>/ , /tags/<slug>/ , /authors/<slug>/ (with ?page=N)."""
    page = page_number(request.environ)
    if page is None:
        abort(404)
    app_state = state()
    prepared = cache_for(app_state).get_or_build(
        ("list", kind, slug, page),
        lambda: prepare_list(app_state, kind, slug, page),
        url_key(request.environ),
    )
    if prepared is None:
        abort(404)
    return prepared.respond(request.environ)


def post_page(slug: str) -> Response:
    """/posts/<slug>."""
    app_state = state()
    prepared = cache_for(app_state).get_or_build(
        ("post", slug), lambda: prepare_post(app_state, slug), url_key(request.environ)
    )
    if prepared is None:
        abort(404)
    return prepared.respond(request.environ)


def not_found(exc: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
    """A real HTML 404 page (with the pages' security headers)."""
    cfg = state().cfg
    feeds = feed_links(cfg, None, None, cfg.site.title)
    text = messages_for(cfg.site.language)
    html = render_template("404.html", site=cfg.site, text=text, feeds=feeds)
    return html, 404, list(PAGE_HEADERS)
