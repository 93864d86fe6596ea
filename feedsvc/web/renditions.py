"""The web's side of shared renditions: built bytes go to the database's rendition store and
come back as a Prepared, so every worker and instance answers with the same bytes and ETags."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from feedsvc.feeds.renditions import Encoded, Rendered, RenditionStore
from feedsvc.web import conditional
from feedsvc.web.feedcache import Headers, Prepared
from feedsvc.web.state import AppState

IDENTITY = "identity"


def store_for(app_state: AppState) -> RenditionStore:
    """The process's rendition store for this app (created on first use)."""
    store = app_state.caches.get("renditions")
    if store is None:
        store = app_state.caches.setdefault(
            "renditions", RenditionStore(app_state.db, app_state.cfg)
        )
    return store  # type: ignore[no-any-return]


def rendered(rep: conditional.Representation) -> Rendered:
    """A representation's variants as they are stored."""
    assert rep.last_modified is not None
    variants = [rep.identity, rep.gzip] + ([rep.br] if rep.br is not None else [])
    encoded = tuple(Encoded(v.encoding or IDENTITY, v.body, v.etag) for v in variants)
    return Rendered(rep.content_type, rep.last_modified, encoded)


def representation(stored: Rendered) -> conditional.Representation:
    """Stored variants as a representation to negotiate and answer from."""
    found = {
        v.encoding: conditional.Variant(
            v.body, v.etag, None if v.encoding == IDENTITY else v.encoding
        )
        for v in stored.variants
    }
    return conditional.Representation(
        content_type=stored.content_type,
        last_modified=stored.last_modified,
        identity=found[IDENTITY],
        gzip=found["gzip"],
        br=found.get("br"),
    )


def shared(
    app_state: AppState,
    kind: str | None,
    slug: str | None,
    fmt: str,
    page: int,
    make: Callable[[], tuple[bytes, str, datetime] | None],
    extra: Headers,
    vary: str = "Accept-Encoding",
    *,
    on_build: Callable[[conditional.Representation], None] | None = None,
    prepared: Callable[..., Prepared] = Prepared,
) -> Prepared | None:
    """The page's Prepared from the shared store, building ``make()`` (body, content type,
    Last-Modified) only when no worker or instance has built it at this scope version;
    ``on_build(representation)`` after a build here; ``prepared`` makes the answer (a subclass
    of Prepared taking the same arguments)."""

    def build() -> Rendered | None:
        made = make()
        if made is None:
            return None
        body, content_type, last_modified = made
        rep = conditional.make_representation(body, content_type, last_modified)
        if on_build is not None:
            on_build(rep)
        return rendered(rep)

    found = store_for(app_state).get_or_build(kind, slug, fmt, page, build)
    if found is None:
        return None
    rep = representation(found)
    body = rep.identity.body
    max_age = app_state.cfg.feeds.cache_max_age
    return prepared(body, rep.content_type, found.last_modified, max_age, extra, vary, rep=rep)
