"""A new renderer re-renders stored posts: new HTML and summary, same hash, same dates, no event."""

from __future__ import annotations

import dataclasses
import hashlib

from sqlalchemy import select, update

from feedsvc.content.markdown import render_stamp
from feedsvc.content.messages import messages_for
from feedsvc.posts.rerender import rerender_stale
from feedsvc.scheduler import StaleSweep, publish_due_job
from feedsvc.storage import content_state, scopes
from feedsvc.storage.db import Database
from feedsvc.storage.models import Event, Post
from feedsvc.web.state import state
from tests.integration.test_api import AUTH
from tests.integration.test_ingest_markdown import all_posts, post_md, run, write
from tests.unit.test_sanitize import parse

OLD_HTML = '<p>old <span class="math inline">\\(x^2\\)</span></p>'  # what renderer "1" stored


def as_if_rendered_by_version_1(db: Database) -> int:
    """Every post as the previous renderer left it (before render versions were recorded)."""
    with db.write() as session:
        session.execute(update(Post).values(render_version=None, content_html=OLD_HTML))
        return content_state.current(session)


def event_count(db: Database) -> int:
    with db.read() as session:
        return len(list(session.scalars(select(Event))))


def test_a_pass_re_renders_unchanged_files_without_an_event(db, cfg, clock, posts_dir):
    write(posts_dir / "a.md", post_md("A", "Energy $E=mc^2$ here."))
    run(db, cfg, clock)
    before = all_posts(db)["a.md"]
    version = as_if_rendered_by_version_1(db)
    with db.read() as session:
        site_version = scopes.stats(session, scopes.SITE).version
    events_before = event_count(db)
    clock.advance(hours=1)
    report = run(db, cfg, clock)
    assert (report.new, report.updated, report.unchanged, report.errors) == (0, 0, 1, [])
    after = all_posts(db)["a.md"]
    (math,) = parse(after.content_html).iter("math")
    assert math.iter("annotation")[0].text() == "E=mc^2"
    assert after.render_version == render_stamp(cfg.site.language) == "2-zh"
    assert after.summary == "Energy [公式] here."  # the test site is zh-CN
    assert (after.content_hash, after.updated) == (before.content_hash, before.updated)
    assert event_count(db) == events_before
    with db.read() as session:
        assert content_state.current(session) > version  # feeds are built again
        # and so are the stored renditions of every scope it is in (a new scope version)
        assert scopes.stats(session, scopes.SITE).version > site_version
    # and nothing more to do on the next pass: no further bump
    with db.read() as session:
        version = content_state.current(session)
    run(db, cfg, clock)
    with db.read() as session:
        assert content_state.current(session) == version


def test_stored_hashes_of_renderer_1_stay_valid(db, cfg, clock, posts_dir):
    """The hash is of the file's meaning: RENDER_VERSION "1" was in it, and stays in it as "1"."""
    raw = post_md("A", "text").encode()
    write(posts_dir / "a.md", raw)
    run(db, cfg, clock)
    stored_by_renderer_1 = hashlib.sha256(raw + b"\0" + cfg.site.base_url.encode() + b"1")
    assert all_posts(db)["a.md"].content_hash == stored_by_renderer_1.hexdigest()


def test_pushed_posts_are_re_rendered_by_the_publish_job(api_app, api_client, clock):
    body = {"title": "T", "markdown": "See [pic](img.png) and $\\alpha$."}
    created = api_client.post("/api/v1/posts", json=body, headers=AUTH).json
    st = state(api_app)
    version = as_if_rendered_by_version_1(st.db)
    events_before = event_count(st.db)
    publish_due_job(st.db, st.cfg, clock)
    post = api_client.get(f"/api/v1/posts/{created['key']}", headers=AUTH).json
    tree = parse(post["content_html"])
    assert tree.iter("a")[0].attrs["href"] == "https://example.org/posts/t/img.png"
    assert tree.iter("annotation")[0].text() == "\\alpha"
    assert post["updated"] == created["updated"]
    assert event_count(st.db) == events_before
    with st.db.read() as session:
        assert content_state.current(session) > version
    assert rerender_stale(st.db, st.cfg) == 0  # done once


def test_a_new_site_language_re_renders_the_page_words_without_an_event(db, cfg, clock, posts_dir):
    write(posts_dir / "a.md", post_md("A", "Said so.[^1]\n\n[^1]: A note."))
    run(db, cfg, clock)

    def backlink_titles() -> set[str]:
        html = parse(all_posts(db)["a.md"].content_html)
        return {
            a.attrs["title"]
            for a in html.iter("a")
            if "footnote-backref" in (a.attrs.get("class") or "")
        }

    assert backlink_titles() == {messages_for("zh-CN").footnote_backlink % 1}
    events_before, hash_before = event_count(db), all_posts(db)["a.md"].content_hash
    english = dataclasses.replace(cfg, site=dataclasses.replace(cfg.site, language="en"))
    clock.advance(hours=1)
    report = run(db, english, clock)
    assert (report.new, report.updated, report.errors) == (0, 0, [])
    assert backlink_titles() == {messages_for("en").footnote_backlink % 1}
    assert messages_for("en").footnote_backlink != messages_for("zh-CN").footnote_backlink
    after = all_posts(db)["a.md"]
    assert (after.render_version, after.content_hash) == ("2-en", hash_before)
    assert event_count(db) == events_before


def test_the_scheduled_sweep_stops_asking_once_nothing_is_stale(db, cfg, clock, posts_dir):
    write(posts_dir / "a.md", post_md("A", "Energy $E=mc^2$ here."))
    run(db, cfg, clock)
    as_if_rendered_by_version_1(db)
    sweep = StaleSweep()
    publish_due_job(db, cfg, clock, sweep)  # re-renders the post
    assert not sweep.clean and all_posts(db)["a.md"].render_version == render_stamp("zh-CN")
    publish_due_job(db, cfg, clock, sweep)  # finds nothing left: stops asking
    assert sweep.clean
    as_if_rendered_by_version_1(db)  # (cannot happen within one process: shows it is skipped)
    publish_due_job(db, cfg, clock, sweep)
    assert all_posts(db)["a.md"].render_version is None
