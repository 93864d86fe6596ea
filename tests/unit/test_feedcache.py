"""The per-process representation cache: version checks, LRU bound, races, the fast path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from feedsvc.storage import content_state
from feedsvc.storage.db import Database, DatabaseUnavailable
from feedsvc.web.feedcache import FastPath, Prepared, RepresentationCache, url_key

LM = datetime(2026, 1, 11, 1, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Versions:
    def __init__(self) -> None:
        self.value = 1
        self.reads = 0
        self.fail = False

    def __call__(self) -> int:
        self.reads += 1
        if self.fail:
            raise DatabaseUnavailable("database is locked")
        return self.value


def prepared(text: str = "body") -> Prepared:
    return Prepared(text.encode(), "text/plain; charset=utf-8", LM, 60, [("Link", "<x>")])


@pytest.fixture
def parts() -> tuple[RepresentationCache, Clock, Versions]:
    clock, versions = Clock(), Versions()
    return RepresentationCache(versions, max_entries=3, monotonic=clock), clock, versions


def test_version_is_read_at_most_every_quarter_second(parts):
    cache, clock, versions = parts
    cache.get_or_build("a", prepared)
    for _ in range(50):
        cache.get("a")
        clock.now += 0.004
    assert versions.reads == 1
    clock.now += 0.1
    cache.get("a")
    assert versions.reads == 2


def test_a_version_change_drops_everything(parts):
    cache, clock, versions = parts
    first = cache.get_or_build("a", prepared)
    assert cache.get_or_build("a", lambda: pytest.fail("built twice")) is first
    versions.value += 1
    assert cache.get("a")[0] is first  # not looked at yet: within the interval
    clock.now += 0.25
    assert cache.get("a")[0] is None
    assert cache.get_or_build("a", lambda: prepared("new")) is not first


def test_lru_bound(parts):
    cache, _, _ = parts
    for key in "abc":
        cache.get_or_build(key, prepared)
    cache.get("a")  # most recently used now
    cache.get_or_build("d", prepared)
    assert len(cache) == 3
    assert cache.get("b")[0] is None
    assert all(cache.get(k)[0] is not None for k in "acd")


def test_not_found_is_not_cached(parts):
    cache, _, _ = parts
    calls = []
    for _ in range(3):
        assert cache.get_or_build("x", lambda: calls.append(1)) is None
    assert len(calls) == 3 and len(cache) == 0


def test_a_build_overtaken_by_a_change_is_not_kept(parts):
    cache, clock, versions = parts
    cache.get("warm")

    def build() -> Prepared:
        versions.value += 1  # a post changes while the old content is being built
        clock.now += 0.3
        cache.get("other")  # some other request notices and drops the cache
        return prepared("old")

    assert cache.get_or_build("a", build, alias="url") is not None
    assert cache.get("a")[0] is None and cache.get("url")[0] is None


def test_a_failing_version_check_keeps_serving(parts):
    cache, clock, versions = parts
    first = cache.get_or_build("a", prepared)
    versions.fail = True
    clock.now += 1
    assert cache.get("a")[0] is first


def test_fast_path_answers_only_cached_urls(parts):
    cache, _, _ = parts
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["REQUEST_METHOD"])
        start_response("404 Not Found", [])
        return [b"flask"]

    fast = FastPath(app, cache)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/feed.atom", "QUERY_STRING": ""}
    cache.get_or_build("k", prepared, alias=url_key(environ))
    answers: list[tuple[str, dict[str, str]]] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answers.append((status, dict(headers)))

    assert fast(dict(environ), start_response) == [b"body"]
    assert answers[-1][0] == "200 OK" and answers[-1][1]["Content-Length"] == "4"
    etag = answers[-1][1]["ETag"]
    assert fast({**environ, "REQUEST_METHOD": "HEAD"}, start_response) == []
    assert answers[-1][1]["Content-Length"] == "4"
    assert fast({**environ, "HTTP_IF_NONE_MATCH": etag}, start_response) == []
    assert answers[-1][0] == "304 Not Modified" and answers[-1][1]["ETag"] == etag
    assert "Content-Length" not in answers[-1][1]
    assert answers[-1][1]["Link"] == "<x>"
    assert fast({**environ, "QUERY_STRING": "page=2"}, start_response) == [b"flask"]
    assert fast({**environ, "REQUEST_METHOD": "POST"}, start_response) == [b"flask"]
    # a browser opening the URL gets another representation (application/xml): not this one
    browser = {**environ, "HTTP_ACCEPT": "text/html,application/xml;q=0.9,*/*;q=0.8"}
    assert fast(browser, start_response) == [b"flask"]
    assert seen == ["GET", "POST", "GET"]


def test_the_version_reader_turns_a_database_error_into_database_unavailable(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # no schema: no content_state table
    try:
        with pytest.raises(DatabaseUnavailable, match="content_state"):
            content_state.read_version(db)
    finally:
        db.dispose()
