"""Per-process cache of ready-to-send representations, tied to the content version.

The version is looked at no more than every ``CHANGE_CHECK_INTERVAL`` seconds (monotonic clock),
so a poll whose answer has not changed costs no query, no build and no hashing; when the version
has moved the whole cache is dropped and a change is visible within a second of its commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime
from typing import Any

from flask import Flask, Response

from feedsvc.storage import content_state
from feedsvc.storage.db import DatabaseUnavailable
from feedsvc.web import conditional
from feedsvc.web.state import AppState, state

log = logging.getLogger("feedsvc.web.feedcache")

CHANGE_CHECK_INTERVAL = 0.25
MAX_ENTRIES = 512
_MAX_ACCEPT_ENCODINGS = 64  # distinct Accept-Encoding values remembered per representation

Headers = list[tuple[str, str]]
OK, NOT_MODIFIED = "200 OK", "304 Not Modified"


class FinalResponse(Response):
    """A response whose precomputed headers are sent exactly as they are."""

    # werkzeug strips Content-Type and Last-Modified from a 304, but a 304 carries what the
    # 200 would (RFC 9110 §15.4.5); re-checking precomputed headers is wasted work anyway

    automatically_set_content_length = False

    def get_wsgi_headers(self, environ: Any) -> Any:
        return self.headers


class Prepared:
    """One representation with its variants' bodies, ETags and full header lists precomputed."""

    __slots__ = ("rep", "last_modified", "max_age", "extra", "vary", "_negotiated")
    # True where an RFC 3229 delta may answer (feeds): A-IM requests with another ETag go to
    # the slow path, which looks the ETag up in the feed's history
    im = False

    def __init__(
        self,
        body: bytes,
        content_type: str,
        last_modified: datetime | None,
        max_age: int,
        extra: Headers,
        vary: str = "Accept-Encoding",
        *,
        rep: conditional.Representation | None = None,
    ) -> None:
        # ``rep``: variants already encoded (a stored rendition); else they are made here
        self.rep = rep or conditional.make_representation(body, content_type, last_modified)
        self.last_modified = last_modified
        self.max_age = max_age
        self.extra = extra
        self.vary = vary
        self._negotiated: dict[str, tuple[Any, Headers, Headers]] = {}

    def negotiate(self, accept_encoding: str) -> tuple[Any, Headers, Headers]:
        """The variant for an Accept-Encoding value with its 304 and 200 headers (memoised)."""
        found = self._negotiated.get(accept_encoding)
        if found is None:
            variant = self.rep.select(accept_encoding)
            headers = conditional.cache_headers(variant, self.rep, self.max_age, self.vary)
            headers += self.extra
            found = (variant, headers, headers + [("Content-Length", str(len(variant.body)))])
            if len(self._negotiated) < _MAX_ACCEPT_ENCODINGS:
                self._negotiated[accept_encoding] = found
        return found

    def answer(
        self, environ: Mapping[str, Any], defer_im: bool = True
    ) -> tuple[str, Headers, bytes] | None:
        """Status line, headers and body of a 200 or a 304 (RFC 9110 §13.2.2); None when
        ``defer_im`` and the request may be answered by a delta (see ``im``)."""
        # a 304 carries the 200's headers minus Content-Length (RFC 9110 §15.4.5)
        variant, headers, full = self.negotiate(environ.get("HTTP_ACCEPT_ENCODING", ""))
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm is None and environ.get("HTTP_IF_MODIFIED_SINCE") is None:
            return OK, full, variant.body
        if inm == variant.etag:  # the common poll: one exact ETag (RFC 9110 §13.1.2)
            return NOT_MODIFIED, headers, b""
        if self.im and defer_im and inm is not None and "HTTP_A_IM" in environ:
            return None
        status = conditional.evaluate(
            environ["REQUEST_METHOD"],
            inm,
            environ.get("HTTP_IF_MODIFIED_SINCE"),
            variant.etag,
            self.last_modified,
        )
        if status == 304:
            return NOT_MODIFIED, headers, b""
        return OK, full, variant.body

    def respond(self, environ: Mapping[str, Any]) -> Response:
        """The answer as a Flask response (the first request for a URL goes through Flask)."""
        answer = self.answer(environ, defer_im=False)
        assert answer is not None  # only a deferred answer is None
        status, headers, body = answer
        return FinalResponse((body,) if body else (), status=status, headers=headers)


class RepresentationCache:
    """An LRU of Prepared values, dropped whenever the content version moves."""

    def __init__(
        self,
        read_version: Callable[[], int],
        *,
        interval: float = CHANGE_CHECK_INTERVAL,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read_version = read_version
        self._interval = interval
        self._max = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[Hashable, Prepared] = OrderedDict()
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._next_check = float("-inf")
        self._version: int | None = None
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _refresh(self) -> None:
        if self._monotonic() < self._next_check:
            return
        if not self._check_lock.acquire(blocking=False):
            return  # another thread is looking right now
        try:
            if self._monotonic() < self._next_check:
                return
            try:
                version: int | None = self._read_version()
            except DatabaseUnavailable:
                log.warning("content version check failed; serving cached feeds", exc_info=True)
                version = self._version
            self._next_check = self._monotonic() + self._interval
            if version != self._version:
                with self._lock:
                    self._version = version
                    self._entries.clear()
                    self._generation += 1
        finally:
            self._check_lock.release()

    def get(self, key: Hashable) -> tuple[Prepared | None, int]:
        """The cached value (or None) and the generation it belongs to."""
        self._refresh()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry, self._generation

    def get_or_build(
        self, key: Hashable, build: Callable[[], Prepared | None], alias: Hashable = None
    ) -> Prepared | None:
        """The cached value, else ``build()`` once; None (a 404) is not cached."""
        # ``alias`` (the raw request URL) is remembered too, for the WSGI fast path
        entry, generation = self.get(key)
        if entry is None:
            with self._build_lock:
                entry, generation = self.get(key)  # another thread may have built it
                if entry is None:
                    entry = build()
                    if entry is None:
                        return None
                    self._put(key, entry, generation)
        if alias is not None:
            self._put(alias, entry, generation)
        return entry

    def _put(self, key: Hashable, entry: Prepared, generation: int) -> None:
        with self._lock:
            # a value looked up or built before the cache was dropped may be old content
            if generation != self._generation:
                return
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


def cache_for(app_state: AppState) -> RepresentationCache:
    """The process's cache for this app (created on first use)."""
    cache = app_state.caches.get("representations")
    if cache is None:
        cache = app_state.caches.setdefault(
            "representations", RepresentationCache(lambda: content_state.read_version(app_state.db))
        )
    return cache  # type: ignore[no-any-return]


def link_header(links: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """An RFC 8288 Link header from (url, rel) pairs."""
    return ("Link", ", ".join(f'<{url}>; rel="{rel}"' for url, rel in links))


def url_key(environ: Mapping[str, Any]) -> tuple[str, str, str, str, bool]:
    """A request's raw URL as a cache key, and whether a browser is opening it (feeds vary)."""
    return (
        "url",
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        conditional.is_navigation(environ.get("HTTP_ACCEPT", "")),
    )


class FastPath:
    """WSGI middleware answering cached URLs before Flask (no routing, contexts, Response)."""

    # Only URLs that Flask itself answered from this cache since the last content change are
    # found here (get_or_build's alias), so routing and 404s stay Flask's business.

    def __init__(self, app: Callable[..., Any], cache: RepresentationCache) -> None:
        self.app = app
        self.cache = cache

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            prepared, _ = self.cache.get(url_key(environ))
            answer = None if prepared is None else prepared.answer(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, list(headers))  # servers may add to the list
                return [body] if body and method == "GET" else []
        return self.app(environ, start_response)


def install_fast_path(app: Flask) -> None:
    """Put the fast path in front of the app's WSGI callable (Flask's middleware idiom)."""
    app.wsgi_app = FastPath(app.wsgi_app, cache_for(state(app)))  # type: ignore[method-assign]
