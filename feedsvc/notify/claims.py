"""Claiming due deliveries: each is sent by one worker or instance at a time.

A worker claims rows with a conditional UPDATE (``claimed_by``/``claimed_until``) in a write
transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). A worker that dies mid-send leaves its
claim to expire: the delivery is then sent again with the same ``msg_id`` (at-least-once;
receivers dedupe on ``webhook-id``). Rows whose subscriber is gone are cancelled, not sent.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, not_, or_, select, update
from sqlalchemy.orm import Session

from feedsvc.config import Config
from feedsvc.kinds import DeliveryKind, DeliveryStatus
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, Webhook, WebSubSubscription

OWNER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery, detached from its session: everything a sender thread needs."""

    id: int
    kind: str
    url: str
    body: bytes
    msg_id: str
    claim: str
    headers: dict[str, str] = field(default_factory=dict)
    secret: str | None = None  # webhook deliveries only


def target_of(url: str) -> str:
    """The receiver a delivery goes to, as ``[delivery] per_host_concurrency`` counts it: its
    origin (scheme, host and port), so two services on one machine are two targets."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass(frozen=True)
class TargetRoom:
    """How many more sends each target may take now: ``per_target`` minus those in flight."""

    per_target: int
    in_flight: Mapping[str, int] = field(default_factory=dict)

    def full(self) -> list[str]:
        return sorted(t for t, n in self.in_flight.items() if n >= self.per_target)

    def pick(self, rows: Sequence[tuple[int, str]], limit: int) -> list[int]:
        """Of due ``(id, url)`` rows (oldest first), the ids that fit, at most ``limit``."""
        taken: dict[str, int] = dict(self.in_flight)
        ids = []
        for row_id, url in rows:
            target = target_of(url)
            if taken.get(target, 0) < self.per_target:
                taken[target] = taken.get(target, 0) + 1
                ids.append(row_id)
                if len(ids) == limit:
                    break
        return ids


def _not_to(targets: Sequence[str]) -> ColumnElement[bool]:
    """Rows whose URL is not at one of ``targets`` (a cheap filter; ``pick`` decides)."""
    at = [Delivery.url.startswith(t + suffix, autoescape=True) for t in targets for suffix in "/?"]
    return not_(or_(*at, Delivery.url.in_(targets)))


def claim_ttl(cfg: Config) -> float:
    """How long a claim holds: a row may wait behind two rounds of sends, then be sent."""
    return cfg.delivery.timeout * 4 + 30.0


def _due(now: datetime) -> ColumnElement[bool]:
    return (
        (Delivery.status == DeliveryStatus.PENDING)
        & (Delivery.next_attempt_at <= now)
        & (Delivery.claimed_until.is_(None) | (Delivery.claimed_until <= now))
    )


def claim_due(
    db: Database,
    now: datetime,
    limit: int,
    ttl: float,
    exclude: set[int] | None = None,
    room: TargetRoom | None = None,
) -> list[Outgoing]:
    """Claim up to ``limit`` due deliveries for this worker, oldest due first; with ``room``,
    no more per target than it has room for (rows of a full target are left unclaimed, for
    this worker's next round or another worker).

    An empty list means nothing is due that fits (batches that were all cancelled are skipped).
    """
    while True:
        claimed, ready = _claim_batch(db, now, limit, ttl, exclude, room)
        if ready or not claimed:
            return ready


def _claim_batch(
    db: Database,
    now: datetime,
    limit: int,
    ttl: float,
    exclude: set[int] | None,
    room: TargetRoom | None,
) -> tuple[int, list[Outgoing]]:
    claim = f"{OWNER}:{uuid.uuid4().hex[:12]}"
    with db.write() as session:
        query = select(Delivery.id, Delivery.url).where(_due(now))
        if exclude:
            query = query.where(Delivery.id.not_in(exclude))
        if room is not None and (full := room.full()):
            query = query.where(_not_to(full))
        # with per-target room, look further than ``limit``: the oldest rows may share a target
        scan = limit if room is None else limit * 8
        query = query.order_by(Delivery.next_attempt_at, Delivery.id).limit(scan)
        if not db.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
            query = query.with_for_update(skip_locked=True)
        due = [(row_id, url) for row_id, url in session.execute(query)]
        ids = [i for i, _ in due][:limit] if room is None else room.pick(due, limit)
        if not ids:
            return 0, []
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), _due(now))
            .values(claimed_by=claim, claimed_until=now + timedelta(seconds=ttl))
            .execution_options(synchronize_session=False)
        )
        rows = session.scalars(
            select(Delivery).where(Delivery.id.in_(ids), Delivery.claimed_by == claim)
        ).all()
        return len(rows), _prepare(session, list(rows), claim, now)


def _prepare(session: Session, rows: list[Delivery], claim: str, now: datetime) -> list[Outgoing]:
    """Detach claimed rows; rows whose subscriber is gone, disabled or expired are cancelled."""
    # one query per kind loads the subscribers into the session: the lookups below are then
    # answered from its identity map
    hook_ids = {
        r.webhook_id for r in rows if r.kind == DeliveryKind.WEBHOOK and r.webhook_id is not None
    }
    sub_ids = {
        r.subscription_id for r in rows if r.kind == DeliveryKind.WEBSUB and r.subscription_id
    }
    session.scalars(select(Webhook).where(Webhook.id.in_(hook_ids))).all()
    session.scalars(select(WebSubSubscription).where(WebSubSubscription.id.in_(sub_ids))).all()
    ready = []
    for row in sorted(rows, key=lambda r: (r.next_attempt_at, r.id)):
        gone = subscriber_gone(session, row, now)
        if gone is not None:
            row.status, row.claimed_by, row.claimed_until = DeliveryStatus.CANCELLED, None, None
            row.last_error, row.updated_at = gone, now
            continue
        hook = session.get(Webhook, row.webhook_id) if row.webhook_id is not None else None
        ready.append(
            Outgoing(
                id=row.id,
                kind=row.kind,
                url=row.url,
                body=row.body,
                msg_id=row.msg_id,
                claim=claim,
                headers=dict(row.headers or {}),
                secret=hook.secret if hook is not None else None,
            )
        )
    return ready


def subscriber_gone(session: Session, row: Delivery, now: datetime) -> str | None:
    """Why ``row`` must not be sent (its webhook removed or disabled, its WebSub subscription
    ended or past its lease, §5.3.1), or None when its subscriber is still there."""
    if row.kind == DeliveryKind.WEBHOOK:
        hook = session.get(Webhook, row.webhook_id) if row.webhook_id is not None else None
        if hook is None:
            return "webhook removed"
        return None if hook.enabled else "webhook disabled"
    if row.kind != DeliveryKind.WEBSUB:  # a publish ping to an external hub has no subscription
        return None
    sub = session.get(WebSubSubscription, row.subscription_id) if row.subscription_id else None
    if sub is None or sub.expires_at <= now:
        return "WebSub subscription ended"
    return None
