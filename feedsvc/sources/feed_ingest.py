"""Upstream feed sources: poll politely, apply entries, and keep back-off state."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from feedsvc.clock import Clock
from feedsvc.config import Config, SourceConfig
from feedsvc.kinds import SourceStatus
from feedsvc.net import BlockedDestination, FetchError, OutboundClient, make_client
from feedsvc.sources.report import IngestReport, ItemError, apply_reported
from feedsvc.sources.upstream import FetchResult, RetryLater, fetch_feed, parse_feed
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database

log = logging.getLogger("feedsvc.upstream")

MAX_BACKOFF = 86400.0


@dataclass(frozen=True)
class PollOutcome:
    """What to remember about one poll (written to the source's state)."""

    status: str  # ok, not_modified, error, deferred
    etag: str | None = None
    last_modified: str | None = None
    next_run_at: datetime | None = None
    error: str | None = None
    result: FetchResult | None = None


def backoff_delay(interval: float, failures: int) -> float:
    """Exponential back-off: 2, 4, 8… intervals after consecutive failures, at most a day."""
    return float(min(interval * 2**failures, MAX_BACKOFF))


def ingest_feed(
    db: Database,
    cfg: Config,
    source: SourceConfig,
    clock: Clock,
    report: IngestReport,
) -> None:
    """One poll of an upstream feed; entries that left its window are kept (feeds are windows)."""
    now = clock.now()
    with db.read() as session:
        state = source_store.get_state(session, source.name, source.kind)
        etag, modified = state.http_etag, state.http_last_modified
    with make_client(cfg, timeout=source.timeout, max_bytes=source.max_file_bytes) as client:
        outcome = _poll(client, source, etag, modified, now)
        if outcome.status == "ok":
            _apply_entries(db, cfg, source, outcome, clock, report)
    if outcome.error:
        report.fail(ItemError(source.name, source.url, outcome.error))
    _save_state(db, source, outcome, now)


def _poll(
    client: OutboundClient,
    source: SourceConfig,
    etag: str | None,
    modified: str | None,
    now: datetime,
) -> PollOutcome:
    try:
        result = fetch_feed(client, source.url, etag=etag, last_modified=modified, now=now)
    except RetryLater as exc:
        retry_at = exc.retry_at or now + timedelta(seconds=source.interval)
        return PollOutcome(
            "deferred", etag, modified, retry_at, f"upstream asked to retry later: {exc}"
        )
    except (FetchError, BlockedDestination) as exc:
        return PollOutcome("error", etag, modified, None, str(exc))
    next_run = now + timedelta(seconds=source.interval)
    if result.fresh_until and result.fresh_until > next_run:
        next_run = result.fresh_until  # Cache-Control max-age / Expires: do not ask before
    status = "not_modified" if result.status == "not_modified" else "ok"
    # A 304 may carry newer validators: keep them (RFC 9110 §15.4.5).
    return PollOutcome(
        status, result.etag or etag, result.last_modified or modified, next_run, None, result
    )


def _apply_entries(
    db: Database,
    cfg: Config,
    source: SourceConfig,
    outcome: PollOutcome,
    clock: Clock,
    report: IngestReport,
) -> None:
    result = outcome.result
    assert result is not None
    items, errors = parse_feed(
        result.body or b"",
        url=result.final_url,
        content_type=result.content_type,
        source=source.name,
    )
    for error in errors:
        report.fail(error)
    for item in items:
        apply_reported(db, cfg, source.name, item, clock.now(), report)


def _save_state(db: Database, source: SourceConfig, outcome: PollOutcome, now: datetime) -> None:
    with db.write() as session:
        state = source_store.get_state(session, source.name, source.kind)
        state.http_etag, state.http_last_modified = outcome.etag, outcome.last_modified
        if outcome.status == "error":
            state.consecutive_failures += 1
            delay = backoff_delay(source.interval, state.consecutive_failures)
            state.backoff_until = now + timedelta(seconds=delay)
            state.next_run_at = state.backoff_until
            state.status = SourceStatus.BACKOFF
            state.last_error = outcome.error
            log.warning(
                "upstream poll failed; backing off",
                extra={"source": source.name, "url": source.url, "delay": delay},
            )
            return
        state.consecutive_failures = (
            0 if outcome.status != "deferred" else state.consecutive_failures
        )
        state.backoff_until = outcome.next_run_at if outcome.status == "deferred" else None
        state.next_run_at = outcome.next_run_at
        deferred = outcome.status == "deferred"
        state.status = SourceStatus.DEFERRED if deferred else SourceStatus.OK
        state.last_error = outcome.error
