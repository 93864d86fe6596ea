"""Scheduler jobs for the WebSub hub, and the outbox hook that turns post events into content
distribution. Importing this module registers the jobs; nothing runs until the scheduler does."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.net import DEFAULT_USER_AGENT, OutboundClient, OutboundPolicy
from feedsvc.notify import websub
from feedsvc.notify.dispatch import register_event_hook
from feedsvc.scheduler import OWNER, register_jobs
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.storage.models import Event

log = logging.getLogger("feedsvc.websub")

VERIFY_INTERVAL = 1.0
EXPIRE_INTERVAL = 60.0
VERIFY_MAX_BYTES = 65_536  # a verification answer is the challenge: small

# The dispatcher calls hooks with (session, event, now) only; the hub also needs its Database
# and Config. They are bound here per database URL by enable_distribution().
_hubs: dict[str, tuple[Database, Config]] = {}


def enable_distribution(db: Database, cfg: Config) -> None:
    """Have this process's dispatcher enqueue WebSub content distribution for ``db``."""
    _hubs[db.url] = (db, cfg)
    register_event_hook(distribution_hook)


def disable_distribution(db: Database) -> None:
    _hubs.pop(db.url, None)


def distribution_hook(session: Session, event: Event, now: datetime) -> None:
    bound = _hubs.get(session.get_bind().engine.url.render_as_string(hide_password=False))
    if bound is not None:
        websub.distribute(session, bound[0], bound[1], event, now)


def make_verify_client(cfg: Config) -> OutboundClient:
    """Verification and denial GETs go through the private-network guard like every request."""
    return OutboundClient(
        OutboundPolicy(allow_private_networks=cfg.network.allow_private_networks),
        timeout=cfg.delivery.timeout,
        max_bytes=VERIFY_MAX_BYTES,
        user_agent=cfg.network.user_agent or DEFAULT_USER_AGENT,
        max_redirects=0,
    )


def verify_job(db: Database, cfg: Config, clock: Clock) -> None:
    """Verify due requests; the lease keeps instances from contending (rows are claimed too)."""
    try:
        now = clock.now()
        lease_ttl = VERIFY_INTERVAL * 0.8
        if not source_store.acquire_lease(db, "websub:verify", OWNER, now, lease_ttl):
            return
        if websub.has_due(db, now):
            with make_verify_client(cfg) as client:
                websub.verify_pending(db, cfg, clock, client)
    except Exception:
        log.exception("websub verification round failed", extra={"job": "websub-verify"})


def expire_job(db: Database, clock: Clock) -> None:
    try:
        now = clock.now()
        if source_store.acquire_lease(db, "websub:expire", OWNER, now, EXPIRE_INTERVAL * 0.8):
            websub.expire_leases(db, now)
    except Exception:
        log.exception("websub lease expiry failed", extra={"job": "websub-expire"})


@register_jobs
def add_websub_jobs(
    scheduler: BackgroundScheduler, db: Database, cfg: Config, clock: Clock
) -> None:
    enable_distribution(db, cfg)
    common = {"max_instances": 1, "coalesce": True, "next_run_time": clock.now()}
    scheduler.add_job(
        verify_job, "interval", seconds=VERIFY_INTERVAL, args=(db, cfg, clock),
        id="websub-verify", **common,
    )  # fmt: skip
    scheduler.add_job(
        expire_job, "interval", seconds=EXPIRE_INTERVAL, args=(db, clock),
        id="websub-expire", **common,
    )  # fmt: skip
