"""Feed deltas against a running `feedsvc serve`, with real clients."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
from reader import make_reader

from tests.e2e.test_serve import post_md, running

pytestmark = pytest.mark.e2e


def wait_for_change(url: str, etag: str) -> httpx.Response:
    deadline = time.monotonic() + 3.0
    while True:
        response = httpx.get(url)
        if response.headers["ETag"] != etag or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_reader_gets_a_226_with_one_entry_and_shows_the_full_list(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        assert server.run("ingest").returncode == 0
        url = server.base + "/feed.atom"
        reader = make_reader(str(tmp_path / "reader.sqlite"))
        seen: list[tuple[int, str | None]] = []

        def hook(session: Any, response: Any, request: Any, **kwargs: Any) -> None:
            seen.append((response.status_code, response.headers.get("IM")))

        reader._parser.get_retriever("http://").response_hooks.append(hook)
        try:
            reader.add_feed(url)
            reader.update_feed(url)
            assert [e.title for e in reader.get_entries()] == ["第一篇"]
            old_etag = httpx.get(url).headers["ETag"]

            second = post_md("第二篇", "2026-01-12T09:30:00+08:00")
            (server.posts / "second.md").write_text(second, "utf-8")
            assert server.run("ingest").returncode == 0
            full = wait_for_change(url, old_etag)
            reader.update_feed(url)
            assert seen == [(200, None), (226, "feed")]
            assert sorted(e.title for e in reader.get_entries()) == ["第一篇", "第二篇"]

            # the same delta by hand: httpx sends A-IM, feedparser reads the 226 body
            delta = httpx.get(url, headers={"A-IM": "feed", "If-None-Match": old_etag})
            assert delta.status_code == 226
            assert delta.headers["ETag"] == full.headers["ETag"]
            parsed = feedparser.parse(delta.content)
            assert not parsed.bozo
            assert [e.title for e in parsed.entries] == ["第二篇"]
            again = httpx.get(url, headers={"A-IM": "feed", "If-None-Match": delta.headers["ETag"]})
            assert again.status_code == 304
        finally:
            reader.close()
