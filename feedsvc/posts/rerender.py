"""Stored posts rendered again when the renderer or the site language changes (render_stamp).

The HTML of a post made from Markdown records the renderer's version. A post rendered by an
older one is rendered again from its stored Markdown: its HTML and summary change, and the feeds
with them (the change signal is bumped), but not its content hash, its ``updated`` date or its
events: what the author wrote has not changed, so subscribers are not told of a new version of
every post. An ingest pass does this for its source; the publish-due job for every source (so
pushed posts follow too, as they have no pass).
"""

from __future__ import annotations

import logging

from feedsvc import urls
from feedsvc.config import Config
from feedsvc.content.markdown import RenderError, render_markdown, render_stamp
from feedsvc.kinds import API_SOURCE
from feedsvc.posts.store import refresh_render
from feedsvc.storage import posts
from feedsvc.storage.db import Database
from feedsvc.storage.models import Post

log = logging.getLogger("feedsvc.posts")


def base_for(cfg: Config, post: Post) -> str:
    """What the post's relative links resolve against, as when it was first rendered."""
    if post.source == API_SOURCE:
        return urls.absolute(cfg.site.base_url, urls.post_path(post.slug) + "/")
    return urls.markdown_base(cfg.site.base_url, post.source, post.external_key)


def rerender_stale(db: Database, cfg: Config, source: str | None = None) -> int:
    """Render again every stored post (of ``source``, or all) an older renderer made; how many."""
    stamp = render_stamp(cfg.site.language)
    with db.read() as session:
        stale = posts.stale_render_ids(session, stamp, source)
    done = 0
    for post_id in stale:
        with db.write() as session:
            post = session.get(Post, post_id)
            if post is None or post.markdown is None or post.render_version == stamp:
                continue
            try:
                html = render_markdown(
                    post.markdown, base_url=base_for(cfg, post), language=cfg.site.language
                )
            except RenderError as exc:  # keeps the HTML it has; not tried again for this version
                log.warning("post not re-rendered: %s", exc, extra={"post": post.guid})
                post.render_version = stamp
                continue
            refresh_render(session, cfg, post, html, stamp)
            done += 1
    if done:
        log.info("posts re-rendered", extra={"count": done, "render_version": stamp})
    return done
