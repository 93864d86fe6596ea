"""/metrics: Prometheus text format, computed from the database at scrape time (any worker)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from feedsvc.storage import content_state
from feedsvc.storage.models import Delivery, Post, SourceState
from feedsvc.web.state import state

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
POST_STATES = ("visible", "draft", "scheduled", "removed")
DELIVERY_STATUSES = ("pending", "delivering", "succeeded", "dead", "cancelled")

Sample = tuple[Mapping[str, str], float]


def escape_label(value: str) -> str:
    """Label values escape backslash, double quote and newline (exposition format 0.0.4)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def gauge(name: str, help_: str, samples: Iterable[Sample]) -> list[str]:
    """One gauge family: HELP and TYPE lines, then one line per sample."""
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
        lines.append(
            f"{name}{{{label_text}}} {format_value(value)}"
            if labels
            else f"{name} {format_value(value)}"
        )
    return lines


def post_counts(session: Session) -> dict[str, int]:
    """Posts by state: visible, draft, scheduled (waiting for their date), removed."""
    state_ = case(
        (Post.removed.is_(True), "removed"),
        (Post.draft.is_(True), "draft"),
        (Post.visible.is_(True), "visible"),
        else_="scheduled",
    )
    counts = dict.fromkeys(POST_STATES, 0)
    for name, count in session.execute(select(state_, func.count()).group_by(state_)):
        counts[name] = int(count)
    return counts


def delivery_counts(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(DELIVERY_STATUSES, 0)
    query = select(Delivery.status, func.count()).group_by(Delivery.status)
    for status, count in session.execute(query):
        counts[status] = int(count)
    return counts


def exposition(session: Session) -> str:
    """The whole scrape body."""
    sources = list(session.scalars(select(SourceState).order_by(SourceState.name)))
    lines = gauge(
        "feedsvc_posts",
        "Posts by state.",
        (({"state": k}, v) for k, v in post_counts(session).items()),
    )
    lines += gauge(
        "feedsvc_content_version",
        "Counter bumped by every change to what feeds show.",
        [({}, content_state.current(session))],
    )
    lines += gauge(
        "feedsvc_source_last_run_timestamp_seconds",
        "When each source was last ingested (Unix time).",
        (({"source": s.name}, s.last_run_at.timestamp()) for s in sources if s.last_run_at),
    )
    lines += gauge(
        "feedsvc_source_consecutive_failures",
        "Failed runs in a row per source.",
        (({"source": s.name}, s.consecutive_failures or 0) for s in sources),
    )
    lines += gauge(
        "feedsvc_deliveries",
        "Webhook and WebSub deliveries by status.",
        (({"status": k}, v) for k, v in delivery_counts(session).items()),
    )
    return "\n".join(lines) + "\n"


def metrics() -> Response:
    with state().db.read() as session:
        body = exposition(session)
    return Response(body, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
