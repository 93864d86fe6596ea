"""Source status for `feedsvc sources` and GET /api/v1/sources."""

from __future__ import annotations

from typing import Any

from feedsvc.config import Config
from feedsvc.kinds import SourceStatus
from feedsvc.storage import sources as source_store
from feedsvc.storage.db import Database
from feedsvc.timefmt import rfc3339_or_none as _iso


def never_run(cfg: Config) -> list[dict[str, Any]]:
    """Each configured source as it stands before anything has run (no database yet)."""
    return [_status(src, None, None) for src in cfg.sources]


def _status(src: Any, state: Any, last: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": src.name,
        "kind": src.kind,
        "interval": src.interval,
        "status": state.status if state else SourceStatus.IDLE,
        "last_run": last,
        "next_run": _iso(state.next_run_at) if state else None,
        "backoff_until": _iso(state.backoff_until) if state else None,
        "consecutive_failures": state.consecutive_failures if state else 0,
        "last_error": state.last_error if state else None,
    }


def source_statuses(db: Database, cfg: Config) -> list[dict[str, Any]]:
    """Each configured source: last run (when, how long, counts, errors), next run, back-off."""
    out = []
    with db.read() as session:
        states = source_store.all_states(session)
        for src in cfg.sources:
            state = states.get(src.name)
            run = source_store.last_run(session, src.name)
            last = None
            if run is not None:
                last = {
                    "at": _iso(run.started_at),
                    "finished_at": _iso(run.finished_at),
                    "duration": state.last_duration if state else None,
                    "counts": {
                        k: getattr(run, k)
                        for k in ("new", "updated", "unchanged", "removed", "failed")
                    },
                    "errors": [{"item": e.item, "reason": e.reason} for e in run.errors],
                }
            out.append(_status(src, state, last))
    return out
