"""Scheduler jobs for webhooks: sync ``[[webhooks]]`` at start, then dispatch + send every tick."""

from __future__ import annotations

import logging

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, SchedulerEvent
from apscheduler.schedulers.background import BackgroundScheduler

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.net import OutboundClient
from feedsvc.notify.delivery import make_client, process_due
from feedsvc.notify.webhooks import WebhookError, sync_config_webhooks
from feedsvc.scheduler import register_jobs
from feedsvc.storage.db import Database

log = logging.getLogger("feedsvc.notify")


def delivery_round(db: Database, cfg: Config, clock: Clock, client: OutboundClient) -> None:
    """One tick; a failure is logged and the next tick tries again (nothing is lost)."""
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


@register_jobs
def add_delivery_jobs(
    scheduler: BackgroundScheduler, db: Database, cfg: Config, clock: Clock
) -> None:
    sync_once(db, cfg, clock)
    client = make_client(cfg)  # one client (and its connection pool) for the scheduler's life

    def close_client(_event: SchedulerEvent) -> None:
        client.close()

    scheduler.add_listener(close_client, EVENT_SCHEDULER_SHUTDOWN)
    scheduler.add_job(
        delivery_round,
        "interval",
        seconds=max(cfg.delivery.poll_interval, 0.1),
        args=(db, cfg, clock, client),
        id="deliveries",
        next_run_time=clock.now(),
        max_instances=1,
        coalesce=True,
    )
