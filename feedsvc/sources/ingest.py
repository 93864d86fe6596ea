"""The ingest service: one pass over one source, its items stored by the post service (a
Markdown pass in batches, a transaction each; a feed pass item by item); per-item failures are
reported, never raised."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from feedsvc.clock import Clock
from feedsvc.config import Config, SourceConfig
from feedsvc.config_sections import ingest_workers
from feedsvc.kinds import Outcome, SourceKind, SourceStatus
from feedsvc.posts.batch import BATCH_SIZE, apply_batch
from feedsvc.posts.errors import ItemFailed
from feedsvc.posts.model import SourceItem
from feedsvc.posts.rerender import rerender_stale
from feedsvc.posts.store import Summarizer, publish_due, remove_by_key
from feedsvc.sources import markdown, render_pool
from feedsvc.sources.feed_ingest import backoff_delay, ingest_feed
from feedsvc.sources.report import IngestReport, ItemError
from feedsvc.storage import posts
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.storage.models import IngestError, IngestRun
from feedsvc.telemetry import INGEST_PASS_SECONDS, INGESTED_ITEMS
from feedsvc.timefmt import later

log = logging.getLogger("feedsvc.ingest")
PASS_ITEM = "(whole pass)"  # the item named by an error of the pass itself

Progress = Callable[[int, int | None], None]


def ingest_source(
    db: Database,
    cfg: Config,
    source: SourceConfig,
    clock: Clock,
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """One pass over one source; per-item failures are reported, never raised."""
    started = time.monotonic()
    report = IngestReport(source=source.name)
    run_id: int | None = None
    pass_error: str | None = None
    try:
        run_id = _start_run(db, source, clock.now())
        if source.kind == SourceKind.MARKDOWN:
            _ingest_markdown(db, cfg, source, clock, report, progress)
        else:
            ingest_feed(db, cfg, source, clock, report)
        rerender_stale(db, cfg, source.name)  # posts an older renderer made (files unchanged)
        publish_due(db, cfg, clock.now())
    except Exception as exc:  # the whole pass failed (database, disk): recorded, not raised
        log.exception("ingest pass failed", extra={"source": source.name})
        pass_error = f"ingest pass failed: {_reason(exc)}"
        report.fail(ItemError(source.name, PASS_ITEM, pass_error))
    report.duration = time.monotonic() - started
    try:
        _finish_run(db, run_id, source, report, clock.now(), pass_error)
    except Exception as exc:  # e.g. the disk is still full: the report still says so
        log.exception("ingest run could not be recorded", extra={"source": source.name})
        report.fail(ItemError(source.name, PASS_ITEM, f"run not recorded: {_reason(exc)}"))
    for outcome, count in report.counts().items():
        INGESTED_ITEMS.labels(source.name, outcome).inc(count)
    INGEST_PASS_SECONDS.labels(source.name).observe(report.duration)
    return report


def _reason(exc: BaseException) -> str:
    """The database's own words ("database or disk is full"), not SQLAlchemy's wrapper."""
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split())[:300]
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def _ingest_markdown(
    db: Database,
    cfg: Config,
    source: SourceConfig,
    clock: Clock,
    report: IngestReport,
    progress: Progress | None,
) -> None:
    """Stat every file first (cheap), then read, render and summarise only the changed ones
    (in worker processes when there are many, see render_pool) and store them in batches."""
    root = Path(source.path)
    with db.read() as session:
        known = posts.stamps_for_source(session, source.name)
    if not root.is_dir():
        report.fail(ItemError(source.name, str(root), "source directory does not exist"))
        return
    seen: set[str] = set()
    stats = list(markdown.stat_files(source.name, root, known))
    changed: list[markdown.Changed] = []
    for event in stats:
        if isinstance(event, markdown.Changed):
            changed.append(event)
        elif isinstance(event, markdown.Unchanged):
            seen.add(event.key)
            report.count(Outcome.UNCHANGED)
        else:
            seen.add(event.item)  # a file that fails keeps its stored post: nothing is lost
            report.fail(event)
    done = len(stats) - len(changed)
    if progress and (done or not changed):
        progress(done, len(stats))
    job = render_pool.RenderJob(
        source=source.name,
        root=str(root.resolve()),
        base_url=cfg.site.base_url,
        max_bytes=source.max_file_bytes,
        language=cfg.site.language,
        summarizer=Summarizer.from_config(cfg),
    )
    batch: list[SourceItem] = []
    for result in render_pool.prepared(job, changed, ingest_workers(cfg.ingest)):
        if isinstance(result, ItemError):
            seen.add(result.item)
            report.fail(result)
        else:
            seen.add(result.external_key)
            batch.append(result)
        done += 1
        if len(batch) >= BATCH_SIZE or done == len(stats):
            _store(db, cfg, source.name, batch, clock.now(), report)
            batch = []
            if progress:
                progress(done, len(stats))
    _remove_missing(db, cfg, source.name, set(known) - seen, clock.now(), report)


def _store(
    db: Database,
    cfg: Config,
    source: str,
    batch: list[SourceItem],
    now: datetime,
    report: IngestReport,
) -> None:
    for item, result in zip(batch, apply_batch(db, cfg, source, batch, now), strict=True):
        if isinstance(result, ItemFailed):
            report.fail(ItemError(source, item.external_key, str(result)))
        else:
            report.count(result)


def _remove_missing(
    db: Database, cfg: Config, source: str, gone: Iterable[str], now: datetime, report: IngestReport
) -> None:
    for key in sorted(gone):
        if remove_by_key(db, cfg, source, key, now):
            report.count(Outcome.REMOVED)


def _start_run(db: Database, source: SourceConfig, now: datetime) -> int:
    with db.write() as session:
        source_store.get_state(session, source.name, source.kind)
        run = IngestRun(source=source.name, started_at=now)
        session.add(run)
        session.flush()
        return run.id


def _finish_run(
    db: Database,
    run_id: int | None,
    source: SourceConfig,
    report: IngestReport,
    now: datetime,
    pass_error: str | None,
) -> None:
    with db.write() as session:
        run = session.get(IngestRun, run_id) if run_id is not None else None
        if run is None:  # the pass failed before its run was recorded
            run = IngestRun(source=source.name, started_at=now)
            session.add(run)
        run.finished_at = now
        for key, value in report.counts().items():
            setattr(run, key, value)
        for err in report.errors:
            run.errors.append(IngestError(source=err.source, item=err.item, reason=err.reason))
        state = source_store.get_state(session, source.name, source.kind)
        state.last_run_at = now
        state.last_duration = report.duration
        state.last_counts = report.counts()
        state.last_error = report.errors[0].reason if report.errors else None
        if pass_error is not None:  # backs the source off like a failed upstream poll
            state.status = SourceStatus.ERROR
            state.consecutive_failures += 1
            delay = backoff_delay(source.interval, state.consecutive_failures)
            state.backoff_until = later(now, delay)
            state.next_run_at = state.backoff_until
            state.last_error = pass_error
        elif source.kind == SourceKind.MARKDOWN:
            state.status = SourceStatus.ERROR if report.failed else SourceStatus.OK
            state.consecutive_failures = 0
            state.backoff_until = None
