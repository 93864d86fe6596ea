"""The outbox: event rows written in the same transaction as the post change they describe."""

from __future__ import annotations

import secrets
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


def record(session: Session, type_: str, post: Post, base_url: str, now: datetime) -> Event:
    """Append one event for ``post`` to the outbox (caller's transaction)."""
    event = Event(
        msg_id=new_msg_id(),
        type=type_,
        post_id=post.id,
        categories=[c.slug for c in post.categories],
        payload=posts.snapshot(post, base_url),
        created_at=now,
    )
    session.add(event)
    return event


def undispatched(session: Session, limit: int = 100) -> list[Event]:
    query = select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.id).limit(limit)
    return list(session.scalars(query))
