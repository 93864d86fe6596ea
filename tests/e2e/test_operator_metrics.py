"""Issue 14 item 6: /metrics of a real ``feedsvc serve`` (2 workers and the scheduler process),
parsed with prometheus_client's own parser."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.e2e.test_serve import Server, running
from tests.httpserver import Reply, ScriptedServer

pytestmark = pytest.mark.e2e

WAIT = 30.0
FEED_POLLS = 7


@pytest.fixture
def receiver() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        srv.route("/webhook", Reply(204))
        yield srv


def scrape(server: Server) -> dict[str, tuple[str, list[Sample]]]:
    with httpx.Client() as client:  # a new connection: any worker may answer
        resp = client.get(server.base + "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(resp.text)}


def value(families: dict[str, tuple[str, list[Sample]]], sample: str, **labels: str) -> float:
    family = max((n for n in families if sample.startswith(n)), key=len)
    found = [
        s.value for s in families[family][1] if s.name == sample and s.labels == labels
    ]  # fmt: skip
    assert len(found) == 1, (sample, labels, families[family][1])
    return found[0]


def test_counters_and_histograms_from_every_process(
    tmp_path: Path, receiver: ScriptedServer
) -> None:
    extra = (
        "[network]\nallow_private_networks = true\n"
        '[delivery]\npoll_interval = "250ms"\n'
        f'[[webhooks]]\nurl = "{receiver.url("/webhook")}"\nevents = ["post.published"]\n'
    )
    with running(tmp_path, "granian", extra) as server:
        deadline = time.monotonic() + WAIT
        while not receiver.requests_to("/webhook"):  # the scheduler ingested and delivered
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        for _ in range(FEED_POLLS):
            assert httpx.get(server.base + "/feed.atom").status_code == 200
        assert httpx.get(server.base + "/no/such/page").status_code == 404
        while True:  # the delivery's outcome is recorded just after the receiver answered
            families = scrape(server)
            attempts = [s for s in families["feedsvc_delivery_attempts"][1] if s.value]
            if attempts or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        scrapes = [scrape(server) for _ in range(6)]

    types = {name: kind for name, (kind, _) in families.items()}
    assert types["feedsvc_http_responses"] == "counter"
    assert types["feedsvc_feed_builds"] == "counter"
    assert types["feedsvc_ingested_items"] == "counter"
    assert types["feedsvc_delivery_attempts"] == "counter"
    for name in (
        "feedsvc_http_request_duration_seconds",
        "feedsvc_feed_build_seconds",
        "feedsvc_ingest_pass_seconds",
        "feedsvc_delivery_seconds",
    ):
        assert types[name] == "histogram", name
    for gauge in ("feedsvc_posts", "feedsvc_content_version", "feedsvc_deliveries"):
        assert types[gauge] == "gauge", gauge

    # every worker answers with the same sums (the feed polls were spread over both)
    for families in scrapes:
        assert value(families, "feedsvc_http_responses_total", route="feed", status="200") == (
            FEED_POLLS
        )
        assert value(families, "feedsvc_http_request_duration_seconds_count", route="feed") == (
            FEED_POLLS
        )
        assert (
            value(families, "feedsvc_http_responses_total", route="(unmatched)", status="404") == 1
        )
        assert 1 <= value(families, "feedsvc_feed_builds_total", format="atom") <= 2
        # counted in the scheduler process, reported by the web workers
        assert value(families, "feedsvc_ingested_items_total", source="posts", outcome="new") == 1
        assert value(families, "feedsvc_ingest_pass_seconds_count", source="posts") == 1
        assert (
            value(families, "feedsvc_delivery_attempts_total", kind="webhook", outcome="succeeded")
            == 1
        )
        assert value(families, "feedsvc_delivery_seconds_count") == 1
        assert value(families, "feedsvc_posts", state="visible") == 1
