"""The ingest service: one pass over one source, each item stored by the post service in its
own transaction; per-item failures are reported, never raised."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from feedsvc.clock import Clock
from feedsvc.config import Config, SourceConfig
from feedsvc.kinds import Outcome, SourceKind, SourceStatus
from feedsvc.posts.store import publish_due, remove_by_key
from feedsvc.sources import markdown
from feedsvc.sources.feed_ingest import ingest_feed
from feedsvc.sources.report import IngestReport, ItemError, apply_reported
from feedsvc.storage import posts
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.storage.models import IngestError, IngestRun

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
    run_id = _start_run(db, source, clock.now())
    if source.kind == SourceKind.MARKDOWN:
        _ingest_markdown(db, cfg, source, clock, report, progress)
    else:
        ingest_feed(db, cfg, source, clock, report)
    publish_due(db, cfg, clock.now())
    report.duration = time.monotonic() - started
    _finish_run(db, run_id, source, report, clock.now())
    return report


def _ingest_markdown(
    db: Database,
    cfg: Config,
    source: SourceConfig,
    clock: Clock,
    report: IngestReport,
    progress: Progress | None,
) -> None:
    root = Path(source.path)
    with db.read() as session:
        known = posts.stamps_for_source(session, source.name)
    if not root.is_dir():
        report.fail(ItemError(source.name, str(root), "source directory does not exist"))
        return
    seen: set[str] = set()
    total = sum(1 for _ in markdown.iter_files(root)) if progress else None
    events_ = markdown.scan(
        source.name, root, known, base_url=cfg.site.base_url, max_bytes=source.max_file_bytes
    )
    for done, event in enumerate(events_, start=1):
        _apply_scan_event(db, cfg, source.name, event, clock.now(), report, seen)
        if progress:
            progress(done, total)
    _remove_missing(db, cfg, source.name, set(known) - seen, clock.now(), report)


def _apply_scan_event(
    db: Database,
    cfg: Config,
    source: str,
    event: markdown.ScanEvent,
    now: datetime,
    report: IngestReport,
    seen: set[str],
) -> None:
    if isinstance(event, markdown.Unchanged):
        seen.add(event.key)
        report.count(Outcome.UNCHANGED)
    elif isinstance(event, ItemError):
        seen.add(event.item)  # a file that fails keeps its stored post: nothing is lost
        report.fail(event)
    else:
        seen.add(event.external_key)
        apply_reported(db, cfg, source, event, now, report)


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
    db: Database, run_id: int, source: SourceConfig, report: IngestReport, now: datetime
) -> None:
    with db.write() as session:
        run = session.get(IngestRun, run_id)
        assert run is not None
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
        if source.kind == SourceKind.MARKDOWN:
            state.status = SourceStatus.ERROR if report.failed else SourceStatus.OK
