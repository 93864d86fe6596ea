"""Webhook delivery end to end: a real receiver on 127.0.0.1 that verifies Standard Webhooks
signatures with the ``standardwebhooks`` package, a real SQLite file and a fixed clock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as Verifier

from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.notify.claims import claim_ttl
from feedsvc.notify.delivery import retry_delay
from feedsvc.notify.replay import replay, replay_dead
from feedsvc.notify.sender import process_due
from feedsvc.notify.webhooks import add_webhook
from feedsvc.sources.ingest import ingest_source
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Delivery, Event, Webhook, WebSubSubscription
from feedsvc.timefmt import retry_after
from tests import httpserver
from tests.conftest import T0, make_config
from tests.httpserver import RecordedRequest, Reply, ScriptedServer

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 1.0
SCHEDULE = ("5s", "1m", "10m")  # three retries: four attempts in all


def delivery_config(tmp_path: Path, **overrides: object) -> Config:
    delivery = {"timeout": TIMEOUT, "retry_schedule": list(SCHEDULE), "concurrency": 8}
    network = {"allow_private_networks": True}
    delivery.update(overrides.pop("delivery", {}))  # type: ignore[arg-type]
    network.update(overrides.pop("network", {}))  # type: ignore[arg-type]
    return make_config(tmp_path, delivery=delivery, network=network, **overrides)


@pytest.fixture
def cfg(tmp_path: Path, posts_dir: Path) -> Config:
    return delivery_config(tmp_path)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def publish(cfg: Config, db: Database, clock: FixedClock, name: str, **meta: str) -> None:
    """Write (or rewrite) a markdown post and ingest it: one outbox event per change."""
    lines = "".join(f"{k}: {v}\n" for k, v in meta.items())
    path = Path(cfg.sources[0].path) / f"{name}.md"
    path.write_text(f"---\n{lines}---\n\n正文：{meta}\n", encoding="utf-8")
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert report.failed == 0, report.errors


def verified(request: RecordedRequest, secret: str) -> dict:
    """The payload, as a Standard Webhooks receiver would accept it (raises when forged)."""
    return Verifier(secret).verify(request.body, dict(request.headers.items()))


def deliveries(db: Database) -> list[Delivery]:
    with db.read() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def only_delivery(db: Database) -> Delivery:
    rows = deliveries(db)
    assert len(rows) == 1, rows
    return rows[0]


def move_to_next_attempt(clock: FixedClock, db: Database) -> None:
    clock.at = max(clock.at, only_delivery(db).next_attempt_at + timedelta(seconds=1))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server_on(port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    """A ScriptedServer on a chosen port (a receiver coming back up where it was)."""
    base = httpserver._Server

    class FixedPort(base):  # type: ignore[misc, valid-type]
        allow_reuse_address = True

        def __init__(self, _address: object, handler: type) -> None:
            super().__init__(("127.0.0.1", port), handler)

    with monkeypatch.context() as patch:
        patch.setattr(httpserver, "_Server", FixedPort)
        srv = ScriptedServer()
    with srv:
        yield srv


# -- happy path and filters ---------------------------------------------------------------


def test_every_subscriber_of_an_event_gets_the_events_webhook_id(cfg, db, clock, server):
    server.route("/a", Reply(204))
    server.route("/b", Reply(204))
    _, secret_a = add_webhook(db, server.url("/a"), now=clock.now())
    _, secret_b = add_webhook(db, server.url("/b"), now=clock.now())
    publish(cfg, db, clock, "one", title="一")
    publish(cfg, db, clock, "two", title="二")

    assert process_due(db, cfg, clock) == 4

    with db.read() as session:
        event_ids = {e.payload["id"]: e.msg_id for e in session.scalars(select(Event))}
    seen: dict[str, set[str]] = {}
    for path, secret in (("/a", secret_a), ("/b", secret_b)):
        for request in server.requests_to(path):
            post_id = verified(request, secret)["data"]["id"]
            seen.setdefault(post_id, set()).add(request.header("webhook-id"))
    # one id per event, the same at both receivers, and two events never share one
    assert {post_id: ids for post_id, ids in seen.items()} == {
        post_id: {msg_id} for post_id, msg_id in event_ids.items()
    }
    assert len(set(event_ids.values())) == 2


def test_published_post_is_delivered_signed(cfg, db, clock, server):
    server.route("/hook", Reply(204))
    hook, secret = add_webhook(db, server.url("/hook"), now=clock.now())
    publish(cfg, db, clock, "hello", title="你好，世界", categories="[Python]")

    assert process_due(db, cfg, clock) == 1

    [request] = server.requests_to("/hook")
    message = verified(request, secret)
    assert message["type"] == "post.published"
    assert message["timestamp"] == "2026-03-01T12:00:00Z"
    assert message["data"]["title"] == "你好，世界"
    assert message["data"]["categories"] == ["Python"]
    assert message["data"]["url"] == "https://example.org/posts/hello"
    assert request.header("content-type") == "application/json"
    assert request.header("user-agent").startswith("feedsvc/")
    assert abs(int(request.header("webhook-timestamp")) - time.time()) < 60
    row = only_delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 1, 204)
    assert row.webhook_id == hook.id and request.header("webhook-id") == row.msg_id
    with db.read() as session:
        assert session.scalar(select(Event.dispatched_at)) == T0


def test_a_forged_signature_is_rejected_by_the_receiver(cfg, db, clock, server):
    server.route("/hook", Reply(200))
    add_webhook(db, server.url("/hook"), now=clock.now())
    publish(cfg, db, clock, "a", title="A")
    process_due(db, cfg, clock)
    [request] = server.requests_to("/hook")
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        verified(request, "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")


def test_event_and_category_filters(cfg, db, clock, server):
    for path in ("/all", "/updates", "/python", "/rust"):
        server.route(path, Reply(200))
    add_webhook(db, server.url("/all"), now=clock.now())
    add_webhook(db, server.url("/updates"), ["post.updated"], now=clock.now())
    add_webhook(db, server.url("/python"), categories=["python"], now=clock.now())
    add_webhook(db, server.url("/rust"), categories=["Rust"], now=clock.now())

    publish(cfg, db, clock, "p", title="One", categories="[Python, 机器学习]")
    process_due(db, cfg, clock)
    clock.advance(minutes=1)
    publish(cfg, db, clock, "p", title="One, edited", categories="[Python]")
    process_due(db, cfg, clock)

    def types(path: str) -> list[str]:
        return [json.loads(r.body)["type"] for r in server.requests_to(path)]

    assert types("/all") == ["post.published", "post.updated"]
    assert types("/updates") == ["post.updated"]
    assert types("/python") == ["post.published", "post.updated"]
    assert types("/rust") == []


def test_a_post_leaving_a_category_is_told_to_that_categorys_webhook(cfg, db, clock, server):
    for path in ("/python", "/rust", "/go"):
        server.route(path, Reply(200))
    for category in ("python", "rust", "go"):
        add_webhook(db, server.url(f"/{category}"), categories=[category], now=clock.now())

    publish(cfg, db, clock, "p", title="One", categories="[Python]")
    clock.advance(minutes=1)
    publish(cfg, db, clock, "p", title="One", categories="[Rust]")  # moved from Python to Rust
    process_due(db, cfg, clock)

    def received(path: str) -> list[tuple[str, list[str]]]:
        messages = [json.loads(r.body) for r in server.requests_to(path)]
        return sorted((m["type"], m["data"]["categories"]) for m in messages)  # sent in parallel

    assert received("/python") == [("post.published", ["Python"]), ("post.updated", ["Rust"])]
    assert received("/rust") == [("post.updated", ["Rust"])]
    assert received("/go") == []


# -- failures and retries -----------------------------------------------------------------


def test_receiver_down_then_up_gets_it_with_the_same_id(cfg, db, clock, monkeypatch):
    port = free_port()
    _, secret = add_webhook(db, f"http://127.0.0.1:{port}/hook", now=clock.now())
    publish(cfg, db, clock, "a", title="A")

    assert process_due(db, cfg, clock) == 1
    down = only_delivery(db)
    assert (down.status, down.attempts, down.last_status_code) == ("pending", 1, None)
    assert "ConnectError" in down.last_error and str(port) in down.last_error
    assert 4.5 <= (down.next_attempt_at - clock.now()).total_seconds() <= 5.5
    assert process_due(db, cfg, clock) == 0  # not due yet

    with server_on(port, monkeypatch) as srv:
        srv.route("/hook", Reply(200))
        move_to_next_attempt(clock, db)
        assert process_due(db, cfg, clock) == 1
        [request] = srv.requests_to("/hook")
    assert request.header("webhook-id") == down.msg_id
    assert verified(request, secret)["type"] == "post.published"
    up = only_delivery(db)
    assert (up.status, up.attempts, up.last_status_code, up.last_error) == (
        "succeeded",
        2,
        200,
        None,
    )


def test_retry_after_pushes_the_next_attempt(cfg, db, clock, server):
    server.route("/hook", Reply(500, {"Retry-After": "120"}, b"busy"))
    add_webhook(db, server.url("/hook"), now=clock.now())
    publish(cfg, db, clock, "a", title="A")

    process_due(db, cfg, clock)

    row = only_delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert "HTTP 500" in row.last_error
    assert (row.next_attempt_at - clock.now()).total_seconds() >= 120


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("  7 ", 7.0),
        ("Sun, 01 Mar 2026 12:05:00 GMT", 300.0),  # HTTP-date: 5 minutes after T0
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after(header, expected):
    assert retry_after(header, T0) == expected


@pytest.mark.parametrize(
    ("attempts", "retry_after", "rand", "expected"),
    [
        (1, None, 0.0, 4.5),  # 5 s - 10%
        (1, None, 1.0, 5.5),  # 5 s + 10%
        (2, None, 0.5, 60.0),
        (3, None, 0.5, 600.0),
        (4, None, 0.5, None),  # past the last entry: dead-lettered
        (1, 120.0, 0.5, 120.0),  # Retry-After wins when later
        (2, 30.0, 0.5, 60.0),  # ...and never shortens the schedule
        (1, 10**9, 0.5, 86400.0),  # capped at a day
    ],
)
def test_retry_delay(attempts, retry_after, rand, expected):
    assert retry_delay((5.0, 60.0, 600.0), attempts, retry_after, lambda: rand) == expected


def test_410_disables_the_subscription(cfg, db, clock, server):
    server.route("/hook", Reply(410))
    hook, _ = add_webhook(db, server.url("/hook"), now=clock.now())
    publish(cfg, db, clock, "a", title="A")

    process_due(db, cfg, clock)

    row = only_delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == ("dead", 1, 410)
    with db.read() as session:
        stored = session.get(Webhook, hook.id)
        assert stored.enabled is False and "410" in stored.disabled_reason
    publish(cfg, db, clock, "b", title="B")
    process_due(db, cfg, clock)
    assert len(deliveries(db)) == 1 and len(server.requests_to("/hook")) == 1


def test_a_redirect_is_not_followed(cfg, db, clock, server):
    server.route("/hook", Reply(302, {"Location": server.url("/elsewhere")}))
    server.route("/elsewhere", Reply(200))
    add_webhook(db, server.url("/hook"), now=clock.now())
    publish(cfg, db, clock, "a", title="A")

    process_due(db, cfg, clock)

    row = only_delivery(db)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 302)
    assert "not followed" in row.last_error
    assert server.requests_to("/elsewhere") == []


def test_a_slow_receiver_times_out_without_holding_up_the_others(cfg, db, clock, server):
    for path in ("/slow1", "/slow2", "/slow3"):
        server.route(path, Reply(200, delay=10))
        add_webhook(db, server.url(path), now=clock.now())
    server.route("/fast", Reply(200))
    add_webhook(db, server.url("/fast"), now=clock.now())
    publish(cfg, db, clock, "a", title="A")

    started = time.monotonic()
    assert process_due(db, cfg, clock) == 4
    elapsed = time.monotonic() - started

    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT * 2.5  # about one timeout, not three
    outcome = {r.url.rsplit("/", 1)[1]: (r.status, r.last_error) for r in deliveries(db)}
    assert outcome["fast"] == ("succeeded", None)
    for slow in ("slow1", "slow2", "slow3"):
        status, error = outcome[slow]
        assert status == "pending" and "timed out" in error


def test_dead_letter_after_the_last_retry_then_replay(cfg, db, clock, server):
    server.route("/hook", Reply(503), Reply(503), Reply(503), Reply(503), Reply(200))
    _, secret = add_webhook(db, server.url("/hook"), now=clock.now())
    publish(cfg, db, clock, "a", title="A")

    process_due(db, cfg, clock)
    for _ in SCHEDULE:
        move_to_next_attempt(clock, db)
        assert process_due(db, cfg, clock) == 1
    dead = only_delivery(db)
    assert (dead.status, dead.attempts, dead.last_status_code) == ("dead", 4, 503)
    clock.advance(days=2)
    assert process_due(db, cfg, clock) == 0

    assert replay_dead(db, now=clock.now()) == 1
    assert process_due(db, cfg, clock) == 1
    requests = server.requests_to("/hook")
    assert len(requests) == 5
    assert {r.header("webhook-id") for r in requests} == {dead.msg_id}
    assert verified(requests[-1], secret)["type"] == "post.published"
    done = only_delivery(db)
    assert (done.status, done.attempts, done.msg_id) == ("succeeded", 1, dead.msg_id)
    assert replay(db, done.id, now=clock.now()).status == "pending"


def test_a_private_address_is_refused_unless_allowed(tmp_path, posts_dir, clock, server):
    cfg = delivery_config(tmp_path, network={"allow_private_networks": False})
    db = Database(cfg.storage.url)
    upgrade(db)
    try:
        server.route("/hook", Reply(200))
        add_webhook(db, server.url("/hook"), now=clock.now())
        publish(cfg, db, clock, "a", title="A")
        process_due(db, cfg, clock)
        row = only_delivery(db)
    finally:
        db.dispose()
    assert server.requests == []
    assert (row.status, row.attempts) == ("pending", 1)
    assert "destination refused" in row.last_error and "loopback" in row.last_error


# -- one sender per delivery ---------------------------------------------------------------


def test_concurrent_workers_send_each_delivery_once(cfg, db, clock, server):
    paths = [f"/h{i}" for i in range(24)]
    for path in paths:
        server.route(path, Reply(200, delay=0.05))
        add_webhook(db, server.url(path), now=clock.now())
    for name in ("a", "b", "c"):
        publish(cfg, db, clock, name, title=name)

    barrier = threading.Barrier(3)

    def worker() -> None:
        barrier.wait()
        process_due(db, cfg, clock)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(deliveries(db)) == 3 * len(paths)  # every event dispatched once
    unsent = [(r.id, r.status, r.last_error) for r in deliveries(db) if r.status != "succeeded"]
    assert unsent == []
    for path in paths:
        ids = [r.header("webhook-id") for r in server.requests_to(path)]
        assert len(ids) == 3 and len(set(ids)) == 3


KILLED_WORKER = """
import sys
from datetime import datetime
from feedsvc.clock import FixedClock
from feedsvc.config import load_config
from feedsvc.notify.sender import process_due
from feedsvc.storage.db import Database
cfg = load_config(sys.argv[1])
process_due(Database(cfg.storage.url), cfg, FixedClock(datetime.fromisoformat(sys.argv[2])))
"""


def test_a_worker_killed_mid_delivery_loses_nothing(cfg, db, clock, server, tmp_path):
    config = tmp_path / "worker.toml"
    config.write_text(
        f'[storage]\nurl = "{cfg.storage.url}"\n[network]\nallow_private_networks = true\n'
        '[delivery]\ntimeout = "60s"\n',
        encoding="utf-8",
    )
    server.route("/hook", Reply(200, delay=60), Reply(200))  # hangs once, then answers
    _, secret = add_webhook(db, server.url("/hook"), now=clock.now())
    publish(cfg, db, clock, "a", title="A")
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, str(config), clock.now().isoformat()], cwd=REPO
    )
    try:
        deadline = time.monotonic() + 30
        while not server.requests_to("/hook") and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker exited before sending"
            time.sleep(0.05)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    [first] = server.requests_to("/hook")
    claimed = only_delivery(db)
    assert (claimed.status, claimed.attempts) == ("pending", 0)
    assert claimed.claimed_until > clock.now()

    assert process_due(db, cfg, clock) == 0  # the dead worker's claim still holds
    clock.at = claimed.claimed_until + timedelta(seconds=1)
    assert process_due(db, cfg, clock) == 1
    assert process_due(db, cfg, clock) == 0

    requests = server.requests_to("/hook")
    assert len(requests) == 2
    assert requests[1].header("webhook-id") == first.header("webhook-id") == claimed.msg_id
    assert verified(requests[1], secret)["data"]["title"] == "A"
    assert only_delivery(db).status == "succeeded"
    assert claim_ttl(cfg) > 0


# -- WebSub rows and event hooks ------------------------------------------------------------


def add_websub_delivery(db: Database, url: str, clock: FixedClock) -> tuple[int, int]:
    now = clock.now()
    with db.write() as session:
        sub = WebSubSubscription(
            topic="https://example.org/feed.atom",
            callback=url,
            lease_seconds=3600,
            expires_at=now + timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
        session.add(sub)
        session.flush()
        row = Delivery(
            kind="websub",
            msg_id="msg_websub1",
            subscription_id=sub.id,
            url=url,
            body=b"<feed xmlns='http://www.w3.org/2005/Atom'/>",
            headers={"Content-Type": "application/atom+xml", "X-Hub-Signature": "sha256=ab"},
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return sub.id, row.id


def test_websub_rows_are_sent_as_stored(cfg, db, clock, server):
    server.route("/cb", Reply(202))
    add_websub_delivery(db, server.url("/cb"), clock)

    assert process_due(db, cfg, clock) == 1

    [request] = server.requests_to("/cb")
    assert request.body == b"<feed xmlns='http://www.w3.org/2005/Atom'/>"
    assert request.header("content-type") == "application/atom+xml"
    assert request.header("x-hub-signature") == "sha256=ab"
    assert request.header("webhook-signature") is None
    assert only_delivery(db).status == "succeeded"


def test_websub_410_deletes_the_subscription(cfg, db, clock, server):
    server.route("/cb", Reply(410))
    sub_id, _ = add_websub_delivery(db, server.url("/cb"), clock)

    process_due(db, cfg, clock)

    assert only_delivery(db).status == "dead"
    with db.read() as session:
        assert session.get(WebSubSubscription, sub_id) is None


def test_event_hooks_run_in_the_dispatch_transaction(cfg, db, clock, server):
    server.route("/extra", Reply(200))
    seen: list[str] = []

    def extra(session, event, now):
        seen.append(event.type)
        if event.payload["title"] == "boom":
            raise RuntimeError("hook failed")
        session.add(
            Delivery(
                kind="websub",
                msg_id="msg_extra_" + str(event.id),
                event_id=event.id,
                url=server.url("/extra"),
                body=b"x",
                headers={},
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )

    publish(cfg, db, clock, "ok", title="fine")
    publish(cfg, db, clock, "bad", title="boom")

    process_due(db, cfg, clock, hooks=[extra, extra])  # listed twice, called once

    assert seen == ["post.published", "post.published"]
    assert [r.url for r in deliveries(db)] == [server.url("/extra")]
    with db.read() as session:
        pending = session.scalars(select(Event).where(Event.dispatched_at.is_(None))).all()
    assert [e.payload["title"] for e in pending] == ["boom"]  # retried on the next round


# -- the scheduler job ----------------------------------------------------------------------


def test_the_scheduler_syncs_config_webhooks_and_delivers(tmp_path, posts_dir, server):
    from feedsvc.scheduler import build_scheduler
    from feedsvc.signing import generate_secret

    secret = generate_secret()
    server.route("/hook", Reply(200))
    cfg = delivery_config(
        tmp_path,
        delivery={"poll_interval": 0.2},
        webhooks=[{"url": server.url("/hook"), "secret": secret, "events": ["post.published"]}],
    )
    (posts_dir / "a.md").write_text("---\ntitle: 定时任务\n---\n\n正文\n", encoding="utf-8")
    db = Database(cfg.storage.url)
    upgrade(db)
    scheduler = build_scheduler(db, cfg)
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while not server.requests_to("/hook") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
        db.dispose()
    [request] = server.requests_to("/hook")
    message = verified(request, secret)
    assert (message["type"], message["data"]["title"]) == ("post.published", "定时任务")
