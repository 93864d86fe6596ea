"""The notification work the scheduler runs each tick. Each round only calls services, and a
failure is logged and left to the next round (nothing is lost)."""

from __future__ import annotations

import logging

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.notify import websub
from feedsvc.notify.dispatch import dispatch
from feedsvc.notify.sender import Sender
from feedsvc.notify.webhooks import WebhookError, sync_config_webhooks
from feedsvc.storage.db import Database
from feedsvc.storage.leases import OWNER, acquire_lease

log = logging.getLogger("feedsvc.notify")

VERIFY_INTERVAL = 1.0
EXPIRE_INTERVAL = 60.0


def delivery_round(db: Database, cfg: Config, clock: Clock, sender: Sender) -> None:
    """Dispatch new events and start sending what is due, for about ``[delivery]
    poll_interval``: slow sends stay in flight in the sender's pool while the next round
    dispatches again (a hanging receiver slows only itself)."""
    try:
        dispatch(db, cfg, clock)
        sender.pump(clock, budget=max(cfg.delivery.poll_interval, 0.1))
    except Exception:
        log.exception("delivery round failed", extra={"job": "deliveries"})


def sync_once(db: Database, cfg: Config, clock: Clock) -> None:
    """Sync ``[[webhooks]]``; a bad entry is logged and the delivery job still starts."""
    try:
        count = sync_config_webhooks(db, cfg, now=clock.now())
    except WebhookError as exc:
        log.error("config webhooks not synced: %s", exc, extra={"job": "webhooks-sync"})
        return
    log.info("config webhooks synced", extra={"count": count})


def verify_job(db: Database, cfg: Config, clock: Clock) -> None:
    """Verify due requests; the lease keeps instances from contending (rows are claimed too)."""
    try:
        now = clock.now()
        if not acquire_lease(db, "websub:verify", OWNER, now, VERIFY_INTERVAL * 0.8):
            return
        if websub.has_due(db, now):
            with websub.make_verify_client(cfg) as client:
                websub.verify_pending(db, cfg, clock, client)
    except Exception:
        log.exception("websub verification round failed", extra={"job": "websub-verify"})


def expire_job(db: Database, clock: Clock) -> None:
    try:
        now = clock.now()
        if acquire_lease(db, "websub:expire", OWNER, now, EXPIRE_INTERVAL * 0.8):
            websub.expire_leases(db, now)
    except Exception:
        log.exception("websub lease expiry failed", extra={"job": "websub-expire"})
