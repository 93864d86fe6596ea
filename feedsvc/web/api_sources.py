"""Admin API for sources: their status, and running one now."""

from __future__ import annotations

from flask import Response, jsonify
from werkzeug.exceptions import NotFound

from feedsvc.sources.ingest import ingest_source
from feedsvc.sources.status import source_statuses
from feedsvc.web.auth import api_blueprint
from feedsvc.web.state import state

bp = api_blueprint("api_sources", __name__)


@bp.get("/sources")
def list_sources() -> Response:
    """Every configured source with its last run (counts, errors), next run and back-off."""
    st = state()
    return jsonify(sources=source_statuses(st.db, st.cfg))


@bp.post("/sources/<name>/run")
def run_source(name: str) -> Response:
    """One ingest pass now, in this request (like ``feedsvc ingest --source NAME``)."""
    st = state()
    try:
        source = st.cfg.source(name)
    except KeyError:
        raise NotFound(f"no source named {name!r}") from None
    report = ingest_source(st.db, st.cfg, source, st.clock)
    return jsonify(
        source=report.source,
        counts=report.counts(),
        errors=[{"item": e.item, "reason": e.reason} for e in report.errors],
        duration=report.duration,
    )
