"""Sending one delivery and recording outcomes (retries, dead letters, 410 Gone); the pool
that runs the sends is ``notify.sender``."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from feedsvc import timefmt
from feedsvc.config import Config
from feedsvc.kinds import DeliveryKind, DeliveryStatus
from feedsvc.net import BlockedDestination, FetchError, OutboundClient, make_client
from feedsvc.notify.claims import Outgoing
from feedsvc.notify.webhooks import cancel_pending
from feedsvc.signing import sign
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, Webhook, WebSubSubscription
from feedsvc.telemetry import DELIVERY_ATTEMPTS, DELIVERY_SECONDS

log = logging.getLogger("feedsvc.delivery")

MAX_RESPONSE_BYTES = 1_000_000  # the body is not used; only a sane cap
STATUSES = tuple(DeliveryStatus)


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


def make_delivery_client(cfg: Config) -> OutboundClient:
    """Deliveries never follow redirects (a 3xx is a failed attempt)."""
    return make_client(
        cfg, timeout=cfg.delivery.timeout, max_bytes=MAX_RESPONSE_BYTES, max_redirects=0
    )


def request_headers(item: Outgoing, timestamp: int) -> dict[str, str]:
    """Standard Webhooks headers for a webhook; a WebSub row's stored headers as they are."""
    if item.kind != DeliveryKind.WEBHOOK:
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
    started = time.perf_counter()
    try:
        return _send_one(client, item, timeout, now)
    finally:
        DELIVERY_SECONDS.observe(time.perf_counter() - started)


def _send_one(client: OutboundClient, item: Outgoing, timeout: float, now: datetime) -> Outcome:
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
    return Outcome(resp.status, error, timefmt.retry_after(resp.headers.get("retry-after"), now))


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
        delay = max(delay, min(retry_after, timefmt.MAX_RETRY_AFTER))
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
        row.status = DeliveryStatus.SUCCEEDED
        DELIVERY_ATTEMPTS.labels(row.kind, "succeeded").inc()
        log.debug("delivery succeeded", extra=extra)
        return
    delay = (
        None
        if outcome.gone
        else retry_delay(cfg.delivery.retry_schedule, row.attempts, outcome.retry_after)
    )
    if delay is None:
        row.status = DeliveryStatus.DEAD
        DELIVERY_ATTEMPTS.labels(row.kind, "dead").inc()
        log.warning("delivery dead-lettered", extra={**extra, "error": outcome.error})
        if outcome.gone:
            session.flush()
            _receiver_gone(session, row, now)
        return
    row.next_attempt_at = now + timedelta(seconds=delay)
    DELIVERY_ATTEMPTS.labels(row.kind, "retry").inc()
    log.warning("delivery failed; will retry", extra={**extra, "error": outcome.error})


def _receiver_gone(session: Session, row: Delivery, now: datetime) -> None:
    """410 Gone: the receiver asks us to stop (webhook disabled, WebSub subscription deleted)."""
    reason = f"receiver answered 410 Gone at {now.isoformat()}"
    if row.kind == DeliveryKind.WEBHOOK and row.webhook_id is not None:
        hook = session.get(Webhook, row.webhook_id)
        if hook is not None:
            hook.enabled, hook.disabled_reason = False, reason
        cancel_pending(session, row.webhook_id, f"webhook disabled: {reason}")
    elif row.kind == DeliveryKind.WEBSUB and row.subscription_id is not None:
        session.execute(
            update(Delivery)
            .where(
                Delivery.subscription_id == row.subscription_id,
                Delivery.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.CANCELLED, last_error=f"subscription deleted: {reason}")
        )
        session.execute(
            delete(WebSubSubscription).where(WebSubSubscription.id == row.subscription_id)
        )
    log.warning(
        "receiver gone; subscription stopped", extra={"delivery_id": row.id, "url": row.url}
    )
