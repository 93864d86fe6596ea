"""RFC 3229 ``A-IM: feed`` on feed URLs: 226 IM Used with only the entries a client lacks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from flask import Response

from feedsvc.feeds import deltas
from feedsvc.feeds.model import FeedDoc
from feedsvc.feeds.service import FeedKey
from feedsvc.web import conditional
from feedsvc.web.feedcache import FinalResponse, Headers, Prepared
from feedsvc.web.state import AppState

IM_USED = "226 IM Used"
# RFC 3229 §10.5.2: "no-store" keeps IM-unaware caches from storing a delta at all, "im" lets
# an IM-aware one; Vary names what picked this body besides the URL (RFC 9110 §12.5.5)
DELTA_CACHE_CONTROL = "no-store, im"
DELTA_VARY = "Accept-Encoding, A-IM, If-None-Match"
_MAX_TAGS = 8  # If-None-Match members looked up per request
_MAX_MEMO = 256  # answers (delta or "none") remembered per feed version


class FeedPrepared(Prepared):
    """A feed page's Prepared with what its deltas need; deltas are memoised per old ETag.

    The page's FeedDoc (its entries) is loaded only when a delta is first asked for: a page that
    came from the shared rendition store was built elsewhere, and most requests need no delta.
    """

    __slots__ = ("key", "page", "_doc", "_load_doc", "_memo", "_memo_lock")
    im = True

    def __init__(
        self, body: bytes, content_type: str, last_modified: datetime | None, max_age: int,
        extra: Headers, vary: str = "Accept-Encoding", *, rep: conditional.Representation | None
        = None, key: FeedKey, page: int, load_doc: Callable[[], FeedDoc | None],
    ) -> None:  # fmt: skip
        super().__init__(body, content_type, last_modified, max_age, extra, vary, rep=rep)
        self.key, self.page = key, page
        self._doc: FeedDoc | None = None
        self._load_doc = load_doc
        self._memo: dict[tuple[str, str | None], tuple[Headers, bytes] | None] = {}
        self._memo_lock = threading.Lock()

    def document(self) -> FeedDoc | None:
        """The page's FeedDoc as built (loaded once)."""
        if self._doc is None:
            self._doc = self._load_doc()
        return self._doc

    def etags(self) -> dict[str | None, str]:
        """The ETag of each encoding this version is sent in."""
        variants = (self.rep.identity, self.rep.gzip, self.rep.br)
        return {v.encoding: v.etag for v in variants if v is not None}


def answer_delta(
    app_state: AppState, prepared: FeedPrepared, environ: Mapping[str, Any]
) -> Response | None:
    """The 226 for an ``A-IM: feed`` request naming a kept older version, else None."""
    if not conditional.accepts_feed_im(environ.get("HTTP_A_IM")):
        return None
    inm = environ.get("HTTP_IF_NONE_MATCH")
    tags = conditional.parse_etag_list(inm) if inm else "*"
    if tags == "*":
        return None
    variant, _, _ = prepared.negotiate(environ.get("HTTP_ACCEPT_ENCODING", ""))
    opaque = [tag for _, tag in tags]  # RFC 9110 §13.1.2: weak comparison
    if variant.etag in opaque:
        return None  # the current version: a 304 on the ordinary path
    for tag in opaque[:_MAX_TAGS]:
        found = _delta(app_state, prepared, tag, variant)
        if found is not None:
            headers, body = found
            sent = (body,) if body and environ.get("REQUEST_METHOD") == "GET" else ()
            return FinalResponse(sent, status=IM_USED, headers=headers)
    return None


def _delta(
    app_state: AppState, prepared: FeedPrepared, tag: str, variant: conditional.Variant
) -> tuple[Headers, bytes] | None:
    memo_key = (tag, variant.encoding)
    with prepared._memo_lock:
        if memo_key in prepared._memo:
            return prepared._memo[memo_key]
    found = None
    cfg, key = app_state.cfg, prepared.key
    old = deltas.find_version(app_state.db, cfg, key, prepared.page, tag, app_state.clock.now())
    # the ETag must be one sent for this encoding: each coding has its own (conditional.py)
    doc = prepared.document() if old is not None else None
    if old is not None and doc is not None and old.etags.get(variant.encoding) == tag:
        document, _ = deltas.build_delta(key.fmt, doc, old)
        body = conditional.encode(document, variant.encoding)
        found = (_headers(prepared, variant, len(body)), body)
    with prepared._memo_lock:
        if len(prepared._memo) < _MAX_MEMO:
            prepared._memo[memo_key] = found
    return found


def _headers(prepared: Prepared, variant: conditional.Variant, length: int) -> Headers:
    """The 226's headers: the current version's validators (the result of applying the delta is
    the current instance, RFC 3229 §10.5.1), IM: feed, and caching that keeps it private."""
    headers: Headers = []
    for name, value in conditional.cache_headers(variant, prepared.rep, prepared.max_age):
        if name == "Cache-Control":
            value = DELTA_CACHE_CONTROL
        elif name == "Vary":
            value = DELTA_VARY
        headers.append((name, value))
    headers.append(("IM", "feed"))
    return headers + prepared.extra + [("Content-Length", str(length))]
