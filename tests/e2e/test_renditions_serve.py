"""Two `feedsvc serve` instances on one SQLite file answer with the same bytes and ETags, and a
change made through one is served by the other (shared renditions, scope versions)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser
import httpx
import pytest

from tests.e2e.test_serve import (
    Server,
    free_port,
    post_md,
    running,
    start_serve,
    stop,
    wait_healthy,
)

pytestmark = pytest.mark.e2e

URLS = ["/feed.atom", "/feed.rss", "/feed.json", "/categories/python/feed.atom", "/"]


@contextmanager
def second_instance(first: Server, tmp_path: Path) -> Iterator[str]:
    """Another `serve` with the same config (same database and base URL) on another port."""
    port = free_port()
    log = tmp_path / "second.log"
    proc = start_serve(first.config, log, "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + "/healthz", proc, log)
        yield base
    finally:
        stop(proc)


def snapshot(base: str) -> dict[str, tuple[int, bytes, str, str]]:
    found = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        for url in URLS:
            resp = client.get(url, headers={"Accept-Encoding": "gzip"})
            found[url] = (
                resp.status_code,
                resp.content,  # decoded by httpx: the identity bytes
                resp.headers["ETag"],
                resp.headers["Last-Modified"],
            )
    return found


def test_two_serve_instances_share_renditions(tmp_path: Path) -> None:
    with running(tmp_path) as first:
        result = first.run("ingest")
        assert result.returncode == 0, result.stdout + result.stderr
        with second_instance(first, tmp_path) as other:
            one, two = snapshot(first.base), snapshot(other)
            assert one == two
            assert all(status == 200 for status, *_ in one.values())
            parsed = feedparser.parse(one["/feed.atom"][1])
            assert not parsed.bozo and [e.title for e in parsed.entries] == ["第一篇"]

            second = post_md("第二篇", "2026-01-12T09:30:00+08:00")
            (first.posts / "second.md").write_text(second, "utf-8")
            result = first.run("ingest")
            assert result.returncode == 0, result.stdout + result.stderr
            deadline = time.monotonic() + 5
            while snapshot(other)["/feed.atom"][2] == one["/feed.atom"][2]:
                assert time.monotonic() < deadline, "the change never reached the other instance"
                time.sleep(0.1)
            after_other = snapshot(other)
            assert snapshot(first.base) == after_other
            titles = [e.title for e in feedparser.parse(after_other["/feed.atom"][1]).entries]
            assert titles == ["第二篇", "第一篇"]
