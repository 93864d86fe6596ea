"""The sender: claims due deliveries, sends them concurrently, records outcomes and retries.

A worker claims rows with a conditional UPDATE (``claimed_by``/``claimed_until``) in a write
transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so each delivery is sent by one worker
or instance at a time. A worker that dies mid-send leaves its claim to expire: the delivery is
then sent again with the same ``msg_id`` (at-least-once; receivers dedupe on ``webhook-id``).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.net import (
    DEFAULT_USER_AGENT,
    BlockedDestination,
    FetchError,
    OutboundClient,
    OutboundPolicy,
)
from feedsvc.notify.dispatch import dispatch
from feedsvc.notify.signing import sign
from feedsvc.notify.webhooks import cancel_pending
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, Webhook, WebSubSubscription

log = logging.getLogger("feedsvc.delivery")

OWNER = f"{socket.gethostname()}:{os.getpid()}"
MAX_RETRY_AFTER = 86400.0  # a receiver cannot push a retry further than a day
MAX_RESPONSE_BYTES = 1_000_000  # the body is not used; only a sane cap
PENDING, SUCCEEDED, DEAD, CANCELLED = "pending", "succeeded", "dead", "cancelled"
STATUSES = (PENDING, SUCCEEDED, DEAD, CANCELLED)


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


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def claim_ttl(cfg: Config) -> float:
    """How long a claim holds: a row may wait behind two rounds of sends, then be sent."""
    return cfg.delivery.timeout * 4 + 30.0


def make_client(cfg: Config) -> OutboundClient:
    return OutboundClient(
        OutboundPolicy(allow_private_networks=cfg.network.allow_private_networks),
        timeout=cfg.delivery.timeout,
        max_bytes=MAX_RESPONSE_BYTES,
        user_agent=cfg.network.user_agent or DEFAULT_USER_AGENT,
        max_redirects=0,
    )


def _due(now: datetime) -> ColumnElement[bool]:
    return (
        (Delivery.status == PENDING)
        & (Delivery.next_attempt_at <= now)
        & (Delivery.claimed_until.is_(None) | (Delivery.claimed_until <= now))
    )


def claim_due(
    db: Database, now: datetime, limit: int, ttl: float, exclude: set[int] | None = None
) -> list[Outgoing]:
    """Claim up to ``limit`` due deliveries for this worker, oldest due first.

    An empty list means nothing is due (batches that were all cancelled are skipped).
    """
    while True:
        claimed, ready = _claim_batch(db, now, limit, ttl, exclude)
        if ready or not claimed:
            return ready


def _claim_batch(
    db: Database, now: datetime, limit: int, ttl: float, exclude: set[int] | None
) -> tuple[int, list[Outgoing]]:
    claim = f"{OWNER}:{uuid.uuid4().hex[:12]}"
    with db.write() as session:
        query = select(Delivery.id).where(_due(now))
        if exclude:
            query = query.where(Delivery.id.not_in(exclude))
        query = query.order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
        if not db.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
            query = query.with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
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
    hook_ids = {r.webhook_id for r in rows if r.kind == "webhook" and r.webhook_id is not None}
    sub_ids = {r.subscription_id for r in rows if r.kind == "websub" and r.subscription_id}
    session.scalars(select(Webhook).where(Webhook.id.in_(hook_ids))).all()
    session.scalars(select(WebSubSubscription).where(WebSubSubscription.id.in_(sub_ids))).all()
    ready = []
    for row in sorted(rows, key=lambda r: (r.next_attempt_at, r.id)):
        gone = subscriber_gone(session, row, now)
        if gone is not None:
            row.status, row.claimed_by, row.claimed_until = CANCELLED, None, None
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
    if row.kind == "webhook":
        hook = session.get(Webhook, row.webhook_id) if row.webhook_id is not None else None
        if hook is None:
            return "webhook removed"
        return None if hook.enabled else "webhook disabled"
    if row.kind != "websub":  # a publish ping to an external hub has no subscription
        return None
    sub = session.get(WebSubSubscription, row.subscription_id) if row.subscription_id else None
    if sub is None or sub.expires_at <= now:
        return "WebSub subscription ended"
    return None


def request_headers(item: Outgoing, timestamp: int) -> dict[str, str]:
    """Standard Webhooks headers for a webhook; a WebSub row's stored headers as they are."""
    if item.kind != "webhook":
        return dict(item.headers)
    assert item.secret is not None
    return {
        **item.headers,
        "webhook-id": item.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(item.secret, item.msg_id, timestamp, item.body),
        "content-type": "application/json",
    }


def send_one(client: OutboundClient, item: Outgoing, timeout: float, now: datetime) -> Outcome:
    """POST one delivery, never following redirects; failures come back as an Outcome."""
    try:
        # Signed with the wall clock, not the service clock: receivers reject stale timestamps.
        headers = request_headers(item, int(time.time()))
        resp = client.request(
            "POST",
            item.url,
            headers=headers,
            content=item.body,
            follow_redirects=False,
            timeout=timeout,
        )
    except BlockedDestination as exc:
        return Outcome(error=f"delivery: destination refused: {exc}")
    except FetchError as exc:
        return Outcome(error=f"delivery: {exc}")
    except Exception as exc:  # a bad secret or a bug must not kill the round
        log.exception("delivery failed", extra={"delivery_id": item.id, "url": item.url})
        return Outcome(error=f"delivery: unexpected error: {exc!r}")
    if 200 <= resp.status < 300:
        return Outcome(resp.status)
    error = f"delivery: {item.url}: HTTP {resp.status}"
    if 300 <= resp.status < 400:
        error += f" (redirect to {resp.headers.get('location', '?')} not followed)"
    return Outcome(resp.status, error, parse_retry_after(resp.headers.get("retry-after"), now))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (RFC 9110 §10.2.3: delay-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_delay(
    schedule: tuple[float, ...],
    attempts: int,
    retry_after: float | None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds until the next attempt after ``attempts`` failures; None when dead-lettered."""
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * (0.9 + 0.2 * rand())  # ±10% jitter spreads retry storms
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def record_outcomes(
    db: Database, cfg: Config, results: list[tuple[Outgoing, Outcome]], now: datetime
) -> None:
    """Write a batch of outcomes in one transaction (only rows this worker still holds)."""
    with db.write() as session:
        for item, outcome in results:
            row = session.get(Delivery, item.id)
            if row is None or row.claimed_by != item.claim:
                log.warning(
                    "delivery claim lost before its outcome was recorded",
                    extra={"delivery_id": item.id, "url": item.url},
                )
                continue
            _apply(session, cfg, row, outcome, now)


def _apply(session: Session, cfg: Config, row: Delivery, outcome: Outcome, now: datetime) -> None:
    row.attempts += 1
    row.last_attempt_at = row.updated_at = now
    row.last_status_code, row.last_error = outcome.status_code, outcome.error
    row.claimed_by = row.claimed_until = None
    extra = {"delivery_id": row.id, "url": row.url, "status_code": outcome.status_code}
    if outcome.ok:
        row.status = SUCCEEDED
        log.info("delivery succeeded", extra=extra)
        return
    delay = (
        None
        if outcome.gone
        else retry_delay(cfg.delivery.retry_schedule, row.attempts, outcome.retry_after)
    )
    if delay is None:
        row.status = DEAD
        log.warning("delivery dead-lettered", extra={**extra, "error": outcome.error})
        if outcome.gone:
            session.flush()
            _receiver_gone(session, row, now)
        return
    row.next_attempt_at = now + timedelta(seconds=delay)
    log.info("delivery failed; will retry", extra={**extra, "error": outcome.error})


def _receiver_gone(session: Session, row: Delivery, now: datetime) -> None:
    """410 Gone: the receiver asks us to stop (webhook disabled, WebSub subscription deleted)."""
    reason = f"receiver answered 410 Gone at {now.isoformat()}"
    if row.kind == "webhook" and row.webhook_id is not None:
        hook = session.get(Webhook, row.webhook_id)
        if hook is not None:
            hook.enabled, hook.disabled_reason = False, reason
        cancel_pending(session, row.webhook_id, f"webhook disabled: {reason}")
    elif row.kind == "websub" and row.subscription_id is not None:
        session.execute(
            update(Delivery)
            .where(Delivery.subscription_id == row.subscription_id, Delivery.status == PENDING)
            .values(status=CANCELLED, last_error=f"subscription deleted: {reason}")
        )
        session.execute(
            delete(WebSubSubscription).where(WebSubSubscription.id == row.subscription_id)
        )
    log.warning(
        "receiver gone; subscription stopped", extra={"delivery_id": row.id, "url": row.url}
    )


def send_due(db: Database, cfg: Config, clock: Clock, client: OutboundClient) -> int:
    """Send every delivery due now, ``[delivery] concurrency`` at a time; returns how many.

    Claims are taken a batch at a time while earlier sends are in flight, so one slow receiver
    holds one thread for at most ``[delivery] timeout`` and never the others.
    """
    concurrency = max(1, cfg.delivery.concurrency)
    ttl, timeout = claim_ttl(cfg), cfg.delivery.timeout
    seen: set[int] = set()
    in_flight: dict[Future[Outcome], Outgoing] = {}
    exhausted = False
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="delivery") as pool:
        while True:
            if not exhausted and len(in_flight) < 2 * concurrency:
                batch = claim_due(db, clock.now(), concurrency, ttl, exclude=seen)
                exhausted = not batch
                for item in batch:
                    seen.add(item.id)
                    in_flight[pool.submit(send_one, client, item, timeout, clock.now())] = item
            if not in_flight:
                return len(seen)
            if exhausted or len(in_flight) >= 2 * concurrency:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            else:
                done = {f for f in in_flight if f.done()}
            results = [(in_flight.pop(f), f.result()) for f in done]
            if results:
                record_outcomes(db, cfg, results, clock.now())


def process_due(
    db: Database, cfg: Config, clock: Clock, client: OutboundClient | None = None
) -> int:
    """One round: dispatch new events, then send what is due; returns deliveries attempted."""
    dispatch(db, clock)
    own = client is None
    client = client or make_client(cfg)
    try:
        return send_due(db, cfg, clock, client)
    finally:
        if own:
            client.close()


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
        rows = session.scalars(select(Delivery).where(Delivery.status == DEAD)).all()
        for row in rows:
            if subscriber_gone(session, row, now) is None:
                _reset(row, now)
                replayed += 1
    log.info("dead deliveries replayed", extra={"count": replayed, "skipped": len(rows) - replayed})
    return replayed


def _reset(row: Delivery, now: datetime) -> None:
    # A claim in progress is left alone: that send records its outcome, then this one runs.
    row.status, row.attempts = PENDING, 0
    row.next_attempt_at = row.updated_at = now
