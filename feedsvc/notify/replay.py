"""Replaying deliveries: send again from scratch (attempts reset, same ``webhook-id``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select

from feedsvc.kinds import DeliveryStatus
from feedsvc.notify.claims import subscriber_gone
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery

log = logging.getLogger("feedsvc.delivery")


class ReplayRefused(Exception):
    """The delivery's subscriber is gone or disabled: sending it again would reach no one."""


def replay(db: Database, delivery_id: int, *, now: datetime | None = None) -> Delivery | None:
    """Send a delivery again from scratch (attempts reset, same ``msg_id``); None if unknown.

    :raises ReplayRefused: its webhook was removed or is disabled, or its WebSub subscription
        has ended (a hub sends nothing past unsubscription or a lease, W3C WebSub §5.3.1).
    """
    now = now or datetime.now(UTC)
    with db.write() as session:
        row = session.get(Delivery, delivery_id)
        if row is None:
            return None
        gone = subscriber_gone(session, row, now)
        if gone is not None:
            hint = ": enable it first" if gone == "webhook disabled" else ""
            raise ReplayRefused(f"delivery {delivery_id} cannot be sent again: {gone}{hint}")
        _reset(row, now)
    log.info("delivery replayed", extra={"delivery_id": row.id, "url": row.url})
    return row


def replay_dead(db: Database, *, now: datetime | None = None) -> int:
    """Replay every dead-lettered delivery whose subscriber is still there; returns how many."""
    now = now or datetime.now(UTC)
    replayed = 0
    with db.write() as session:
        rows = session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.DEAD)).all()
        for row in rows:
            if subscriber_gone(session, row, now) is None:
                _reset(row, now)
                replayed += 1
    log.info("dead deliveries replayed", extra={"count": replayed, "skipped": len(rows) - replayed})
    return replayed


def _reset(row: Delivery, now: datetime) -> None:
    # A claim in progress is left alone: that send records its outcome, then this one runs.
    row.status, row.attempts = DeliveryStatus.PENDING, 0
    row.next_attempt_at = row.updated_at = now
