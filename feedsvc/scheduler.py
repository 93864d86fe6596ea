"""The scheduler (APScheduler): a composition root that names every job it runs. Jobs only call
services; a lease in the database gates each one so that, however many processes or instances
run, a source is polled once per interval and each round runs once."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN, SchedulerEvent
from apscheduler.schedulers.background import BackgroundScheduler

from feedsvc.clock import Clock, SystemClock
from feedsvc.config import Config, SourceConfig
from feedsvc.kinds import SourceKind
from feedsvc.notify import jobs as notify_jobs
from feedsvc.notify.delivery import make_delivery_client
from feedsvc.notify.sender import Sender
from feedsvc.posts.rerender import rerender_stale
from feedsvc.posts.store import publish_due
from feedsvc.sources import ingest
from feedsvc.sources.report import IngestReport
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.storage.leases import OWNER, acquire_lease

log = logging.getLogger("feedsvc.scheduler")

PUBLISH_DUE_INTERVAL = 15.0


class _SkippedRunFilter(logging.Filter):
    """Drop APScheduler's "maximum number of running instances reached" warning.

    Delivery and verification jobs tick every second and a round may take longer: skipping the
    overlapping tick is the intended behaviour (``max_instances=1``), not something to warn about.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_skipped_run_filter = _SkippedRunFilter()


def run_source_once_per_interval(
    db: Database, cfg: Config, source: SourceConfig, clock: Clock
) -> bool:
    """Run one pass if this process wins the source's lease for this interval."""
    now = clock.now()
    # The lease outlives the run on purpose: it is held for (almost) a whole interval, so a
    # second instance firing in the same interval finds it taken and skips.
    ttl = max(source.interval * 0.9, source.interval - 5)
    if not acquire_lease(db, f"source:{source.name}", OWNER, now, ttl):
        return False
    if _deferred(db, source, now):
        return False
    report = ingest.ingest_source(db, cfg, source, clock)
    log_pass(report)
    return True


def log_pass(report: IngestReport) -> None:
    """One INFO line for a pass that did something (each failed item has its own WARNING line,
    from the report); a pass that changed nothing logs nothing: idle is quiet at INFO."""
    counts = report.counts()
    if any(counts.get(k) for k in ("new", "updated", "removed", "failed")):
        log.info(
            "ingest pass: %s: new %d, updated %d, removed %d, failed %d (%.2fs)",
            report.source,
            counts.get("new", 0),
            counts.get("updated", 0),
            counts.get("removed", 0),
            counts.get("failed", 0),
            report.duration,
            extra={"source": report.source, **counts, "duration": round(report.duration, 3)},
        )


def _deferred(db: Database, source: SourceConfig, now: datetime) -> bool:
    """A source in back-off, or told by its upstream to come back later, waits."""
    with db.read() as session:
        state = source_store.all_states(session).get(source.name)
    if state is None:
        return False
    next_run = state.next_run_at if source.kind == SourceKind.FEED else None
    return any(until is not None and until > now for until in (state.backoff_until, next_run))


class StaleSweep:
    """Re-rendering posts an older renderer (or another site language) made, for every source,
    pushed posts included (they have no pass). The query reads every post, so once a sweep
    finds none left this process stops asking: posts it writes carry the current stamp."""

    def __init__(self) -> None:
        self.clean = False

    def __call__(self, db: Database, cfg: Config) -> None:
        if not self.clean:
            self.clean = rerender_stale(db, cfg) == 0


def publish_due_job(
    db: Database, cfg: Config, clock: Clock, sweep: StaleSweep | None = None
) -> None:
    if acquire_lease(db, "publish-due", OWNER, clock.now(), PUBLISH_DUE_INTERVAL * 0.8):
        (sweep or StaleSweep())(db, cfg)
        publish_due(db, cfg, clock.now())


def build_scheduler(db: Database, cfg: Config, clock: Clock | None = None) -> BackgroundScheduler:
    """Every job feedsvc runs: sources, publishing when due, deliveries, WebSub verification."""
    clock = clock or SystemClock()
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if _skipped_run_filter not in scheduler_log.filters:
        scheduler_log.addFilter(_skipped_run_filter)
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
    )
    for source in cfg.sources:
        scheduler.add_job(
            _safe(run_source_once_per_interval, source.name),
            "interval",
            seconds=source.interval,
            args=(db, cfg, source, clock),
            id=f"source:{source.name}",
            next_run_time=clock.now(),
            misfire_grace_time=max(1, int(source.interval)),
        )
    scheduler.add_job(
        _safe(publish_due_job, "publish-due"),
        "interval",
        seconds=PUBLISH_DUE_INTERVAL,
        args=(db, cfg, clock, StaleSweep()),
        id="publish-due",
    )
    _add_notify_jobs(scheduler, db, cfg, clock)
    return scheduler


def _add_notify_jobs(
    scheduler: BackgroundScheduler, db: Database, cfg: Config, clock: Clock
) -> None:
    """Webhooks: sync ``[[webhooks]]`` now, then dispatch and send every tick; WebSub rounds."""
    notify_jobs.sync_once(db, cfg, clock)
    client = make_delivery_client(cfg)  # one client (and its connection pool) for the life
    sender = Sender(db, cfg, client)  # one pool of sends in flight across rounds

    def close_client(_event: SchedulerEvent) -> None:
        sender.close(clock)
        client.close()

    scheduler.add_listener(close_client, EVENT_SCHEDULER_SHUTDOWN)
    common = {"max_instances": 1, "coalesce": True, "next_run_time": clock.now()}
    scheduler.add_job(
        notify_jobs.delivery_round, "interval", seconds=max(cfg.delivery.poll_interval, 0.1),
        args=(db, cfg, clock, sender), id="deliveries", **common,
    )  # fmt: skip
    scheduler.add_job(
        notify_jobs.verify_job, "interval", seconds=notify_jobs.VERIFY_INTERVAL,
        args=(db, cfg, clock), id="websub-verify", **common,
    )  # fmt: skip
    scheduler.add_job(
        notify_jobs.expire_job, "interval", seconds=notify_jobs.EXPIRE_INTERVAL,
        args=(db, clock), id="websub-expire", **common,
    )  # fmt: skip


def _safe(fn: Callable[..., object], name: str) -> Callable[..., None]:
    """A job that fails logs and waits for its next run; it never kills the scheduler."""

    def job(*args: object) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("job failed", extra={"job": name})

    job.__name__ = f"job_{name}"
    return job


def run_forever(
    db: Database, cfg: Config, stop: threading.Event, parent_pid: int | None = None
) -> None:
    """Run the scheduler until ``stop`` is set (or the parent process is gone)."""
    scheduler = build_scheduler(db, cfg)
    scheduler.start()
    try:
        while not stop.wait(1.0):
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("parent process is gone; scheduler stopping")
                break
    finally:
        scheduler.shutdown(wait=True)
