"""Counters and histograms (prometheus_client), shared by every process of one ``serve``.

``serve`` points PROMETHEUS_MULTIPROC_DIR at a fresh temporary folder before it starts the
scheduler and the web workers, so each process writes its samples there and whichever worker
answers /metrics sums them all (prometheus_client's multiprocess mode): the ingest passes and
deliveries, which run in the scheduler process, are counted like the requests. Outside ``serve``
(tests, ``feedsvc ingest``) the samples live in the process that made them. The gauges of
/metrics (posts, deliveries by status, sources) are read from the database, not from here.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_RESPONSES = Counter(
    "feedsvc_http_responses", "HTTP responses by route and status code.", ["route", "status"]
)
HTTP_SECONDS = Histogram(
    "feedsvc_http_request_duration_seconds", "Time to answer a request, by route.", ["route"]
)
FEED_BUILDS = Counter(
    "feedsvc_feed_builds", "Feed pages built (not served from cache).", ["format"]
)
FEED_BUILD_SECONDS = Histogram("feedsvc_feed_build_seconds", "Time to build one feed page.")
INGESTED_ITEMS = Counter(
    "feedsvc_ingested_items", "Items seen by ingest passes, by source and outcome.",
    ["source", "outcome"],
)  # fmt: skip
INGEST_PASS_SECONDS = Histogram(
    "feedsvc_ingest_pass_seconds", "Time of one ingest pass, by source.", ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)  # fmt: skip
DELIVERY_ATTEMPTS = Counter(
    "feedsvc_delivery_attempts", "Delivery attempts by kind and outcome (succeeded, retry, dead).",
    ["kind", "outcome"],
)  # fmt: skip
DELIVERY_SECONDS = Histogram("feedsvc_delivery_seconds", "Time of one delivery attempt.")


def exposition() -> bytes:
    """Every process's samples in the text format (this process's alone outside serve)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
