"""The outbox: event rows written in the same transaction as the post change they describe."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.storage import posts
from feedsvc.storage.models import Event, Post

PUBLISHED = "post.published"
UPDATED = "post.updated"
DELETED = "post.deleted"


def new_msg_id() -> str:
    """A unique message id (Standard Webhooks ``webhook-id``), reused on every retry."""
    return "msg_" + secrets.token_hex(16)


Scope = tuple[str, str]  # ("categories" | "tags" | "authors", slug): a feed a post is in


def scopes_of(post: Post) -> set[Scope]:
    """The category, tag and author feeds ``post`` appears in (besides the site's)."""
    scopes = {("categories", c.slug) for c in post.categories}
    scopes |= {("tags", t.slug) for t in post.tags}
    if post.author_slug:
        scopes.add(("authors", post.author_slug))
    return scopes


def record(
    session: Session,
    type_: str,
    post: Post,
    base_url: str,
    now: datetime,
    left: Iterable[Scope] = (),
) -> Event:
    """Append one event for ``post`` to the outbox (caller's transaction).

    ``left`` are the scopes the post was in before this change and is not in now: a webhook
    filtered on a category the post left, and that category's WebSub subscribers, hear of it.
    """
    left = sorted(set(left) - scopes_of(post))
    categories = [c.slug for c in post.categories]
    categories += [slug for kind, slug in left if kind == "categories"]
    event = Event(
        msg_id=new_msg_id(),
        type=type_,
        post_id=post.id,
        categories=categories,
        scopes_left=[list(scope) for scope in left] or None,
        payload=posts.snapshot(post, base_url),
        created_at=now,
    )
    session.add(event)
    return event


def undispatched(session: Session, limit: int = 100) -> list[Event]:
    query = select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.id).limit(limit)
    return list(session.scalars(query))
