"""Counts for /metrics: posts by state, deliveries by status, each source's last run."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from feedsvc.kinds import DeliveryStatus
from feedsvc.storage import content_state
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, Post, SourceState

POST_STATES = ("visible", "draft", "scheduled", "removed")


@dataclass(frozen=True)
class SourceRun:
    name: str
    last_run_at: float | None  # Unix time
    consecutive_failures: int


@dataclass(frozen=True)
class Stats:
    posts: dict[str, int]
    deliveries: dict[str, int]
    content_version: int
    sources: list[SourceRun] = field(default_factory=list)


def post_counts(session: Session) -> dict[str, int]:
    """Posts by state: visible, draft, scheduled (waiting for their date), removed."""
    state_ = case(
        (Post.removed.is_(True), "removed"),
        (Post.draft.is_(True), "draft"),
        (Post.visible.is_(True), "visible"),
        else_="scheduled",
    )
    counts = dict.fromkeys(POST_STATES, 0)
    for name, count in session.execute(select(state_, func.count()).group_by(state_)):
        counts[name] = int(count)
    return counts


def delivery_counts(session: Session) -> dict[str, int]:
    counts = dict.fromkeys((str(s) for s in DeliveryStatus), 0)
    query = select(Delivery.status, func.count()).group_by(Delivery.status)
    for status, count in session.execute(query):
        counts[status] = int(count)
    return counts


def read_stats(db: Database) -> Stats:
    with db.read() as session:
        sources = [
            SourceRun(
                s.name,
                s.last_run_at.timestamp() if s.last_run_at else None,
                s.consecutive_failures or 0,
            )
            for s in session.scalars(select(SourceState).order_by(SourceState.name))
        ]
        return Stats(
            posts=post_counts(session),
            deliveries=delivery_counts(session),
            content_version=content_state.current(session),
            sources=sources,
        )
