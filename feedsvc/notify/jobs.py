"""The notification work the scheduler runs each tick. Each round only calls services, and a
failure is logged and left to the next round (nothing is lost)."""

from __future__ import annotations

import logging

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.net import OutboundClient
from feedsvc.notify import websub
from feedsvc.notify.delivery import process_due
from feedsvc.notify.webhooks import WebhookError, sync_config_webhooks
from feedsvc.storage.db import Database
from feedsvc.storage.leases import OWNER, acquire_lease

log = logging.getLogger("feedsvc.notify")

VERIFY_INTERVAL = 1.0
EXPIRE_INTERVAL = 60.0


def delivery_round(db: Database, cfg: Config, clock: Clock, client: OutboundClient) -> None:
    """Dispatch new events and send what is due."""
    try:
        process_due(db, cfg, clock, client)
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
