"""``[server] poll_limit`` against a running `feedsvc serve` with two workers and real clients."""

from __future__ import annotations

from pathlib import Path

import feedparser
import httpx
import pytest

from tests.e2e.test_serve import running

pytestmark = pytest.mark.e2e

LIMIT = 3
WORKERS = 2  # the budget is counted in each worker process (see feedsvc/web/polllimit.py)


def fetch(url: str, client: str, etag: str | None = None) -> httpx.Response:
    """One request on a fresh connection (so the kernel may hand it to either worker)."""
    headers = {"X-Forwarded-For": client, "Connection": "close"}
    if etag:
        headers["If-None-Match"] = etag
    return httpx.get(url, headers=headers, timeout=10)


def test_a_poller_over_its_budget_gets_429_from_every_worker(tmp_path: Path) -> None:
    server_extra = f'poll_limit = "{LIMIT}/1h"\ntrusted_proxies = ["127.0.0.1"]\n'
    with running(tmp_path, server_extra=server_extra) as server:
        assert server.run("ingest").returncode == 0
        url = server.base + "/feed.atom"
        first = fetch(url, "198.51.100.7")
        assert first.status_code == 200
        etag = first.headers["ETag"]
        answers = [fetch(url, "198.51.100.7", etag) for _ in range(4 * LIMIT * WORKERS)]
        statuses = [a.status_code for a in answers]
        served = 1 + sum(1 for s in statuses if s == 304)
        assert set(statuses) <= {304, 429}, statuses
        # at least one worker's budget was spent; no worker served more than its own budget
        assert LIMIT <= served <= LIMIT * WORKERS, statuses
        refused = [a for a in answers if a.status_code == 429]
        assert refused, statuses
        for answer in refused:
            assert 3500 <= int(answer.headers["Retry-After"]) <= 3600
            assert answer.headers["Cache-Control"] == "no-store"
            assert "ETag" not in answer.headers

        # another client, another feed of the same client, and pages that are no feed: not counted
        assert fetch(url, "198.51.100.8").status_code == 200
        assert fetch(server.base + "/feed.rss", "198.51.100.7").status_code == 200
        assert all(fetch(server.base + "/", "198.51.100.7").status_code == 200 for _ in range(8))

        # a real poller sees the 429 for what it is: a status, no entries, nothing malformed
        spent = [
            feedparser.parse(url, request_headers={"X-Forwarded-For": "198.51.100.7"})
            for _ in range(4)
        ]
        assert 429 in [parsed.status for parsed in spent]
        assert all(parsed.entries == [] for parsed in spent if parsed.status == 429)


def test_without_poll_limit_a_busy_poller_is_never_refused(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        assert server.run("ingest").returncode == 0
        url = server.base + "/feed.atom"
        etag = fetch(url, "198.51.100.7").headers["ETag"]
        statuses = {fetch(url, "198.51.100.7", etag).status_code for _ in range(30)}
        assert statuses == {304}
