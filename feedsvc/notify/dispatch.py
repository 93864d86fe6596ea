"""The outbox dispatcher: turns each post event into deliveries, exactly once.

An event is claimed with a conditional UPDATE (``dispatched_at IS NULL``) in the same transaction
that creates its deliveries, so however many workers run, each event is dispatched once, and a
crash leaves it undispatched (to be done again), never half done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.kinds import DeliveryKind, DeliveryStatus
from feedsvc.notify import distribution
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, Event, Webhook
from feedsvc.timefmt import rfc3339

log = logging.getLogger("feedsvc.dispatch")

# Called as hook(session, event, now) for every event, inside its dispatch transaction: it may
# add more deliveries; if it raises, the event is left undispatched and retried next round.
EventHook = Callable[[Session, Event, datetime], None]
BATCH = 100


def default_hooks(db: Database, cfg: Config) -> list[EventHook]:
    """What every event does besides webhooks: WebSub content distribution and hub pings."""

    def websub(session: Session, event: Event, now: datetime) -> None:
        distribution.distribute(session, db, cfg, event, now)

    return [websub]


def message_body(event: Event) -> bytes:
    """The webhook payload: compact UTF-8 JSON ``{"type", "timestamp", "data"}``."""
    message = {"type": event.type, "timestamp": rfc3339(event.created_at), "data": event.payload}
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def matches(hook: Webhook, event: Event) -> bool:
    if event.type not in hook.events:
        return False
    return not hook.categories or bool(set(hook.categories) & set(event.categories or ()))


def dispatch(
    db: Database,
    cfg: Config,
    clock: Clock,
    *,
    hooks: Sequence[EventHook] | None = None,
    batch: int = BATCH,
) -> int:
    """Dispatch undispatched events in order; returns how many were dispatched.

    ``hooks`` (default: ``default_hooks``) run for every event in its transaction.
    """
    hooks = default_hooks(db, cfg) if hooks is None else list(dict.fromkeys(hooks))
    total = 0
    while True:
        done, seen = _dispatch_batch(db, clock.now(), batch, hooks)
        total += done
        if seen < batch or not done:  # a batch that only failed waits for the next round
            return total


def _dispatch_batch(
    db: Database, now: datetime, batch: int, event_hooks: Sequence[EventHook]
) -> tuple[int, int]:
    done = 0
    with db.write() as session:
        query = select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.id).limit(batch)
        if not db.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
            query = query.with_for_update(skip_locked=True)
        pending = list(session.scalars(query))
        hooks = list(session.scalars(select(Webhook).where(Webhook.enabled.is_(True))))
        for event in pending:
            done += _dispatch_one(session, event, hooks, event_hooks, now)
    return done, len(pending)


def _dispatch_one(
    session: Session,
    event: Event,
    hooks: list[Webhook],
    event_hooks: Sequence[EventHook],
    now: datetime,
) -> int:
    """Claim and fan out one event inside a savepoint; 0 when someone else had it or it failed."""
    try:
        with session.begin_nested():
            claimed = session.execute(
                update(Event)
                .where(Event.id == event.id, Event.dispatched_at.is_(None))
                .values(dispatched_at=now)
                .execution_options(synchronize_session=False)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return 0
            body = message_body(event)
            for hook in hooks:
                if matches(hook, event):
                    session.add(_webhook_delivery(event, hook, body, now))
            for fn in event_hooks:
                fn(session, event, now)
            session.flush()
    except Exception:
        log.exception("event dispatch failed", extra={"event_id": event.id, "type": event.type})
        return 0
    return 1


def _webhook_delivery(event: Event, hook: Webhook, body: bytes, now: datetime) -> Delivery:
    return Delivery(
        kind=DeliveryKind.WEBHOOK,
        msg_id=event.msg_id,  # the event's webhook-id: the same at every receiver and retry
        event_id=event.id,
        event_type=event.type,
        webhook_id=hook.id,
        url=hook.url,
        body=body,
        headers={},
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
