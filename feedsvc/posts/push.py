"""Posts pushed through the admin API (source "api"): create, replace, patch, remove, read.

``ident`` names a post by its numeric ``key`` or its stable ``id`` (the tag URI). Creation is
idempotent: a replay (same Idempotency-Key, or same client ``id``, with the same body) changes
nothing and answers what the first request made.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedsvc.config import Config
from feedsvc.kinds import API_SOURCE
from feedsvc.posts.document import build_item, digest, stored_document, validate_post
from feedsvc.posts.errors import InvalidIdempotencyKey, InvalidPost, PostConflict, PostNotFound
from feedsvc.posts.store import apply_item, claim_slug, remove_post
from feedsvc.storage import posts
from feedsvc.storage.db import Database
from feedsvc.storage.models import Post

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_NUMERIC_KEY = re.compile(r"[0-9]{1,18}")


def representation(post: Post, base_url: str) -> dict[str, Any]:
    """The API's view of a post: the event snapshot plus ``key``, ``external_id``, ``visible``."""
    return {
        **posts.snapshot(post, base_url),
        "key": post.id,
        "external_id": post.external_key,
        "visible": post.visible,
    }


def list_posts(
    db: Database, cfg: Config, source: str | None, page: int, per_page: int
) -> tuple[list[dict[str, Any]], int]:
    """Live posts of every source (or one), newest first: one page and the total."""
    with db.read() as session:
        rows, total = posts.admin_page(session, source, page, per_page)
        return [representation(p, cfg.site.base_url) for p in rows], total


def find_post(session: Session, ident: str, *, lock: bool = False) -> Post:
    """The live post named by numeric key or guid; PostNotFound otherwise (``lock``: a writer's
    row lock, see ``posts.locked``)."""
    if _NUMERIC_KEY.fullmatch(ident):
        post = posts.get_by_id(session, int(ident), lock=lock)
    else:
        post = posts.get_by_guid(session, ident, lock=lock)
    if post is None or post.removed:
        raise PostNotFound(f"no post {ident!r}")
    return post


def get_post(db: Database, cfg: Config, ident: str) -> dict[str, Any]:
    with db.read() as session:
        return representation(find_post(session, ident), cfg.site.base_url)


def _pushed_post(session: Session, ident: str) -> Post:
    post = find_post(session, ident, lock=True)
    if post.source != API_SOURCE:
        raise PostConflict(
            f"post {ident!r} comes from source {post.source!r}: change it there, not here"
        )
    return post


def _slug(session: Session, doc: dict[str, Any], post: Post | None, key: str) -> str:
    return claim_slug(session, key, doc["title"], post, explicit=doc.get("slug"))


def _apply(session: Session, cfg: Config, doc: dict[str, Any], post: Post | None, key: str,
           published: datetime, now: datetime) -> Post:  # fmt: skip
    item = build_item(cfg, key, doc, _slug(session, doc, post, key), published)
    apply_item(session, cfg, API_SOURCE, item, now)
    stored = posts.get_by_key(session, API_SOURCE, key)
    assert stored is not None
    return stored


def create(
    db: Database, cfg: Config, body: dict[str, Any], idempotency_key: str | None, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Create a post; (its representation, True) — or (the first one's, False) for a replay."""
    doc = validate_post(body)
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidIdempotencyKey("Idempotency-Key must be 1 to 255 visible ASCII characters")
    try:
        return _create(db, cfg, doc, idempotency_key, now)
    except IntegrityError:
        # A concurrent twin won the unique (source, key) race; the retry replays it.
        return _create(db, cfg, doc, idempotency_key, now)


def _create(
    db: Database, cfg: Config, doc: dict[str, Any], idem: str | None, now: datetime
) -> tuple[dict[str, Any], bool]:
    base_url = cfg.site.base_url
    idem_digest = hashlib.sha256(idem.encode()).hexdigest() if idem else None
    stamp = f"{idem_digest}:{digest(doc)}" if idem_digest else None
    with db.write() as session:
        if idem_digest and (replay := posts.get_by_idempotency_prefix(session, idem_digest + ":")):
            if replay.idempotency_key != stamp:
                raise PostConflict("Idempotency-Key was already used with a different request")
            if replay.removed:
                raise PostConflict("the post created with this Idempotency-Key has been deleted")
            return representation(replay, base_url), False
        key = doc.get("id") or (idem_digest[:32] if idem_digest else uuid.uuid4().hex)
        existing = posts.get_by_key(session, API_SOURCE, key, lock=True)
        if existing is not None and not existing.removed:
            slug = doc.get("slug") or existing.slug  # compared, not claimed: nothing changes
            item = build_item(cfg, key, doc, slug, existing.first_seen)
            if existing.content_hash != item.content_hash:
                raise PostConflict(
                    f"a post with id {key!r} exists with other content: use PUT to change it",
                    key=existing.id,
                )
            return representation(existing, base_url), False
        # a post deleted and created again keeps its date, as it keeps its id
        published = existing.first_seen if existing is not None else now
        post = _apply(session, cfg, doc, existing, key, published, now)
        if stamp:
            post.idempotency_key = stamp
            session.flush()
        return representation(post, base_url), True


def _same_id(doc: dict[str, Any], post: Post) -> dict[str, Any]:
    """The document without ``id``, which may repeat the post's own but not change it."""
    if doc.pop("id", post.external_key) != post.external_key:
        raise InvalidPost({"id": "cannot be changed"})
    return doc


def replace(
    db: Database, cfg: Config, ident: str, body: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Replace every field; an omitted slug or published keeps the post's, updated is now."""
    doc = validate_post(body)
    with db.write() as session:
        post = _pushed_post(session, ident)
        doc = _same_id(doc, post)
        stored = _apply(session, cfg, doc, post, post.external_key, post.published, now)
        return representation(stored, cfg.site.base_url)


def patch(
    db: Database, cfg: Config, ident: str, changes: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """JSON merge patch (RFC 7396) over the stored fields; null removes an optional field."""
    with db.write() as session:
        post = _pushed_post(session, ident)
        current = stored_document(post)
        merged = dict(current)
        if "markdown" in changes or "html" in changes:
            merged.pop("markdown", None)
            merged.pop("html", None)
        merged.update(changes)
        doc = _same_id(validate_post(merged), post)
        if doc == current:
            return representation(post, cfg.site.base_url)
        stored = _apply(session, cfg, doc, post, post.external_key, post.published, now)
        return representation(stored, cfg.site.base_url)


def delete(db: Database, cfg: Config, ident: str, now: datetime) -> None:
    """Take the post out of the feeds (a post.deleted event when it was visible)."""
    with db.write() as session:
        remove_post(session, cfg, _pushed_post(session, ident), now)
