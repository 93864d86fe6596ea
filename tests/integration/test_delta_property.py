"""Property: for random changes and random poll times, a client merging each delta into what it
held has exactly the current entries of the page (RFC 3229 feed IM, via the real history)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.feeds import deltas
from feedsvc.feeds.model import FeedDoc, FeedItem
from feedsvc.feeds.service import FeedKey
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from tests.conftest import make_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = 5
KEY = FeedKey("atom")

# ("add",), ("edit", n) or ("poll",): what happens next
steps = st.lists(
    st.one_of(
        st.just(("add",)), st.tuples(st.just("edit"), st.integers(0, 30)), st.just(("poll",))
    ),
    max_size=25,
)


def page_doc(posts: dict[str, datetime]) -> FeedDoc:
    newest = sorted(posts, key=lambda pid: int(pid.rsplit("-", 1)[1]), reverse=True)[:PAGE]
    items = tuple(
        FeedItem(id=pid, url=f"https://example.org/{pid}", title=pid, summary="", content_html=None,
                 published=T0, updated=posts[pid])
        for pid in newest
    )  # fmt: skip
    return FeedDoc(id="tag:example.org,2026:feed", title="t", description="", language=None,
                   home_url="https://example.org/", self_url="https://example.org/feed.atom",
                   author=None, updated=T0, items=items)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(steps)
def test_merging_deltas_gives_the_current_page(ops):
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(Path(tmp), feeds={"delta_history": 100})
        db = Database(cfg.storage.url)
        upgrade(db)
        try:
            run(db, cfg, ops)
        finally:
            db.dispose()


def run(db, cfg, ops):
    now = T0
    posts = {"p-0": T0}
    version = 0

    def publish():
        nonlocal version
        version += 1
        doc = page_doc(posts)
        etags = {None: f'"v{version}"', "gzip": f'"v{version}-gz"'}
        deltas.record_version(db, cfg, KEY, 1, etags, doc, now)
        return doc, etags[None]

    doc, etag = publish()
    latest = etag
    client = {item.id: item.updated for item in doc.items}
    for op in ops:
        now += timedelta(minutes=1)
        if op[0] == "add":
            posts[f"p-{len(posts)}"] = now
            doc, latest = publish()
        elif op[0] == "edit":
            pid = f"p-{op[1] % len(posts)}"
            posts[pid] = now
            doc, latest = publish()
        else:
            old = deltas.find_version(db, cfg, KEY, 1, etag, now)
            assert old is not None
            for item in deltas.delta_doc(doc, old).items:
                client[item.id] = item.updated
            etag = latest  # the 226's ETag: the current version
            current = {item.id: item.updated for item in doc.items}
            assert {pid: client.get(pid) for pid in current} == current
