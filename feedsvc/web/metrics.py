"""/metrics: Prometheus text format. Gauges are read from the database at scrape time; counters
and histograms come from prometheus_client, summed over every process of ``serve``
(feedsvc/telemetry.py), so any worker answers the same."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flask import Response

from feedsvc import telemetry
from feedsvc.storage.stats import Stats, read_stats
from feedsvc.web.state import state

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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


def exposition(stats: Stats) -> str:
    """The whole scrape body."""
    lines = gauge(
        "feedsvc_posts",
        "Posts by state.",
        (({"state": k}, v) for k, v in stats.posts.items()),
    )
    lines += gauge(
        "feedsvc_content_version",
        "Version of what feeds show; it goes up with every change.",
        [({}, stats.content_version)],
    )
    lines += gauge(
        "feedsvc_source_last_run_timestamp_seconds",
        "When each source was last ingested (Unix time).",
        (({"source": s.name}, s.last_run_at) for s in stats.sources if s.last_run_at is not None),
    )
    lines += gauge(
        "feedsvc_source_consecutive_failures",
        "Failed runs in a row per source.",
        (({"source": s.name}, s.consecutive_failures) for s in stats.sources),
    )
    lines += gauge(
        "feedsvc_deliveries",
        "Webhook and WebSub deliveries by status.",
        (({"status": k}, v) for k, v in stats.deliveries.items()),
    )
    return "\n".join(lines) + "\n"


def metrics() -> Response:
    body = exposition(read_stats(state().db)) + telemetry.exposition().decode("utf-8")
    return Response(body, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
