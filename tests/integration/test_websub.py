"""The WebSub hub end to end: POST /hub, verification of intent against a real callback server on
127.0.0.1, leases, and content distribution through the outbox and the delivery sender."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from feedsvc.app import create_app
from feedsvc.clock import FixedClock
from feedsvc.config import Config
from feedsvc.notify import websub
from feedsvc.notify.dispatch import dispatch
from feedsvc.notify.jobs import expire_job, verify_job
from feedsvc.notify.replay import ReplayRefused, replay, replay_dead
from feedsvc.notify.sender import process_due
from feedsvc.notify.websub import make_verify_client
from feedsvc.scheduler import build_scheduler
from feedsvc.sources.ingest import ingest_source
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, WebSubPending, WebSubSubscription
from feedsvc.web.state import state
from tests.conftest import T0, make_config
from tests.httpserver import RecordedRequest, Reply, ScriptedServer

SITE_ATOM = "https://example.org/feed.atom"
PYTHON_JSON = "https://example.org/categories/python/feed.json"
DEFAULT_LEASE, MAX_LEASE = 3600, 86400


@pytest.fixture
def cfg(tmp_path: Path, posts_dir: Path) -> Config:
    return make_config(
        tmp_path,
        network={"allow_private_networks": True},  # the callback server is on 127.0.0.1
        websub={"lease_seconds": DEFAULT_LEASE, "max_lease_seconds": MAX_LEASE},
    )


@pytest.fixture
def hub_db(db: Database, cfg: Config) -> Database:
    return db  # WebSub distribution is wired into every dispatch


@pytest.fixture
def client(cfg: Config, hub_db: Database, clock: FixedClock) -> Iterator[FlaskClient]:
    app = create_app(cfg, clock=clock)
    yield app.test_client()
    state(app).db.dispose()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def query(req: RecordedRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(req.path).query).items()}


def echo(req: RecordedRequest) -> Reply:
    """A subscriber that agrees: §5.3.1, a 2xx whose body is the challenge."""
    return Reply(200, {"Content-Type": "text/plain"}, query(req)["hub.challenge"].encode())


def ask(client: FlaskClient, mode: str, topic: str, callback: str, **extra: str) -> int:
    form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback}
    form.update({f"hub.{k}": v for k, v in extra.items()})
    return client.post("/hub", data=form).status_code


def verify(db: Database, cfg: Config, clock: FixedClock) -> int:
    with make_verify_client(cfg) as outbound:
        return websub.verify_pending(db, cfg, clock, outbound)


def subscriptions(db: Database) -> dict[str, WebSubSubscription]:
    with db.read() as s:
        return {f"{x.topic} {x.callback}": x for x in s.scalars(select(WebSubSubscription))}


def pending(db: Database) -> list[WebSubPending]:
    with db.read() as s:
        return list(s.scalars(select(WebSubPending)))


def write_post(posts_dir: Path, name: str, title: str, day: int = 1) -> None:
    meta = f"title: {title}\ndate: 2026-02-{day:02d}T08:00:00Z\ncategories: [Python]"
    (posts_dir / name).write_text(f"---\n{meta}\n---\n\n正文。\n", encoding="utf-8")


def links_of(req: RecordedRequest) -> dict[str, dict[str, str]]:
    return dict(httpx.Response(200, headers={"Link": req.header("Link") or ""}).links)


def ingest(db: Database, cfg: Config, clock: FixedClock) -> None:
    report = ingest_source(db, cfg, cfg.sources[0], clock)
    assert report.counts()["failed"] == 0


def test_subscription_exists_only_after_the_callback_echoes_the_challenge(
    client, hub_db, cfg, clock, server
):
    server.route("/cb", echo)
    callback = server.url("/cb?id=abc")  # §5.1.1: the callback's own query is kept
    assert ask(client, "subscribe", SITE_ATOM, callback, secret="s3cret", extra="x") == 202
    assert subscriptions(hub_db) == {} and server.requests == []  # verified later, not inline

    assert verify(hub_db, cfg, clock) == 1

    (req,) = server.requests_to("/cb")
    params = query(req)
    assert req.method == "GET"
    assert params["id"] == "abc"
    assert params["hub.mode"] == "subscribe"
    assert params["hub.topic"] == SITE_ATOM
    assert int(params["hub.lease_seconds"]) == DEFAULT_LEASE
    assert len(params["hub.challenge"]) >= 32
    sub = subscriptions(hub_db)[f"{SITE_ATOM} {callback}"]
    assert sub.secret == "s3cret"
    assert sub.lease_seconds == DEFAULT_LEASE
    assert (sub.expires_at - T0).total_seconds() == DEFAULT_LEASE
    assert pending(hub_db) == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, body=b"not-the-challenge"),
        Reply(404, body=b"no thanks"),  # §5.3.1: a subscriber that does not agree
        Reply(302, {"Location": "/elsewhere"}),  # §5.3.1: 3xx is a failure, not followed
        Reply(500),
    ],
    ids=["wrong-challenge", "404", "redirect", "500"],
)
def test_failed_verification_stores_nothing(client, hub_db, cfg, clock, server, reply):
    server.route("/cb", reply)
    server.route("/elsewhere", echo)
    assert ask(client, "subscribe", SITE_ATOM, server.url("/cb")) == 202
    assert verify(hub_db, cfg, clock) == 1
    assert subscriptions(hub_db) == {}
    assert pending(hub_db) == []
    assert server.requests_to("/elsewhere") == []


def test_unreachable_callback_is_retried_later(client, hub_db, cfg, clock):
    with ScriptedServer() as gone:
        callback = gone.url("/cb")  # nothing listens on this port afterwards
    assert ask(client, "subscribe", SITE_ATOM, callback) == 202
    assert verify(hub_db, cfg, clock) == 1
    (row,) = pending(hub_db)
    assert row.attempts == 1 and row.next_attempt_at > clock.now()
    assert verify(hub_db, cfg, clock) == 0  # not due yet


@pytest.mark.parametrize(
    "topic",
    [
        "https://example.org/categories/nope/feed.atom",  # no such category
        "https://other.example/feed.atom",  # not this site
        "https://example.org/posts/hello",  # not a feed
        "https://example.org/feed.atom?page=2",  # not the advertised self URL
    ],
)
def test_unknown_topic_is_denied_and_nothing_stored(client, hub_db, cfg, clock, server, topic):
    server.route("/cb", echo)
    assert ask(client, "subscribe", topic, server.url("/cb")) == 202
    assert verify(hub_db, cfg, clock) == 1
    (req,) = server.requests_to("/cb")
    params = query(req)
    assert params["hub.mode"] == "denied"  # §5.2
    assert params["hub.topic"] == topic
    assert params["hub.reason"]
    assert "hub.challenge" not in params
    assert subscriptions(hub_db) == {} and pending(hub_db) == []


def test_category_topic_is_accepted_once_it_exists(client, hub_db, cfg, clock, server, posts_dir):
    write_post(posts_dir, "a.md", "第一篇")
    ingest(hub_db, cfg, clock)
    server.route("/cb", echo)
    assert ask(client, "subscribe", PYTHON_JSON, server.url("/cb")) == 202
    verify(hub_db, cfg, clock)
    assert list(subscriptions(hub_db)) == [f"{PYTHON_JSON} {server.url('/cb')}"]


def test_unsubscribe_removes_only_after_verification(client, hub_db, cfg, clock, server):
    server.route("/cb", echo)
    callback = server.url("/cb")
    ask(client, "subscribe", SITE_ATOM, callback)
    verify(hub_db, cfg, clock)

    server.route("/cb", Reply(404))  # first the subscriber does not confirm: nothing changes
    assert ask(client, "unsubscribe", SITE_ATOM, callback, lease_seconds="5") == 202
    verify(hub_db, cfg, clock)
    assert len(subscriptions(hub_db)) == 1

    server.route("/cb", echo)
    assert ask(client, "unsubscribe", SITE_ATOM, callback) == 202
    verify(hub_db, cfg, clock)
    last = query(server.requests_to("/cb")[-1])
    assert last["hub.mode"] == "unsubscribe" and last["hub.topic"] == SITE_ATOM
    assert "hub.lease_seconds" not in last
    assert subscriptions(hub_db) == {}


def test_resubscription_replaces_the_secret_only_once_verified(client, hub_db, cfg, clock, server):
    server.route("/cb", echo)
    callback = server.url("/cb")
    key = f"{SITE_ATOM} {callback}"
    ask(client, "subscribe", SITE_ATOM, callback, secret="old", lease_seconds="600")
    verify(hub_db, cfg, clock)
    first_expiry = subscriptions(hub_db)[key].expires_at

    clock.advance(seconds=100)
    server.route("/cb", Reply(200, body=b"wrong"))
    ask(client, "subscribe", SITE_ATOM, callback, secret="new", lease_seconds="900")
    verify(hub_db, cfg, clock)
    kept = subscriptions(hub_db)[key]
    assert (kept.secret, kept.lease_seconds, kept.expires_at) == ("old", 600, first_expiry)

    server.route("/cb", echo)
    ask(client, "subscribe", SITE_ATOM, callback, secret="new", lease_seconds="900")
    verify(hub_db, cfg, clock)
    renewed = subscriptions(hub_db)[key]
    assert (renewed.secret, renewed.lease_seconds) == ("new", 900)
    assert renewed.expires_at == clock.now() + timedelta(seconds=900)


@pytest.mark.parametrize(
    ("requested", "granted"),
    [(None, DEFAULT_LEASE), ("10", websub.MIN_LEASE_SECONDS), ("999999999", MAX_LEASE)],
    ids=["default", "raised-to-minimum", "clamped-to-max"],
)
def test_lease_policy(client, hub_db, cfg, clock, server, requested, granted):
    server.route("/cb", echo)
    extra = {} if requested is None else {"lease_seconds": requested}
    ask(client, "subscribe", SITE_ATOM, server.url("/cb"), **extra)
    verify(hub_db, cfg, clock)
    assert int(query(server.requests[0])["hub.lease_seconds"]) == granted
    (sub,) = subscriptions(hub_db).values()
    assert sub.lease_seconds == granted
    assert (sub.expires_at - T0).total_seconds() == granted


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"hub.mode": "watch"}, "hub.mode must be subscribe or unsubscribe"),
        ({"hub.mode": ""}, "hub.mode is required"),
        ({"hub.mode": "publish", "hub.url": SITE_ATOM}, "publish is not supported"),
        ({"hub.callback": ""}, "hub.callback is required"),
        ({"hub.callback": "ftp://127.0.0.1/cb"}, "hub.callback must be an absolute http(s) URL"),
        ({"hub.callback": "/relative"}, "hub.callback must be an absolute http(s) URL"),
        ({"hub.topic": "mailto:x@example.org"}, "hub.topic must be an absolute http(s) URL"),
        ({"hub.secret": "x" * 200}, "hub.secret must be less than 200 bytes"),
        ({"hub.secret": "密" * 67}, "hub.secret must be less than 200 bytes"),  # 201 bytes
        ({"hub.lease_seconds": "soon"}, "hub.lease_seconds must be a positive integer"),
        ({"hub.lease_seconds": "0"}, "hub.lease_seconds must be a positive integer"),
    ],
)
def test_bad_requests_get_400_with_a_plain_text_reason(client, hub_db, form, reason):
    data = {"hub.mode": "subscribe", "hub.topic": SITE_ATOM, "hub.callback": "http://x.test/"}
    response = client.post("/hub", data={**data, **form})
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith(reason)
    assert pending(hub_db) == []


def test_not_a_form_post_is_400(client, hub_db):
    response = client.post("/hub", json={"hub.mode": "subscribe"})
    assert response.status_code == 400
    assert "application/x-www-form-urlencoded" in response.get_data(as_text=True)


def test_oversized_hub_request_is_a_plain_text_413(client, hub_db):
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    form = {"hub.mode": "subscribe", "hub.topic": SITE_ATOM, "hub.callback": "x" * limit}
    response = client.post("/hub", data=form)
    assert (response.status_code, response.mimetype) == (413, "text/plain")
    assert response.get_data(as_text=True) == f"request body is larger than {limit} bytes\n"
    assert pending(hub_db) == []


def test_a_full_verification_queue_is_a_503_with_retry_after(client, hub_db, monkeypatch):
    monkeypatch.setattr(websub, "MAX_PENDING", 2)  # the cap, made small: 10,000 rows is slow
    for n in range(2):
        assert ask(client, "subscribe", SITE_ATOM, f"http://x.test/{n}") == 202
    form = {"hub.mode": "subscribe", "hub.topic": SITE_ATOM, "hub.callback": "http://x.test/2"}
    response = client.post("/hub", data=form)
    assert (response.status_code, response.mimetype) == (503, "text/plain")
    assert int(response.headers["Retry-After"]) > 0
    assert len(pending(hub_db)) == 2  # the refused request stored nothing


def test_secret_of_199_bytes_and_unknown_parameters_are_accepted(client, hub_db):
    status = ask(client, "subscribe", SITE_ATOM, "http://x.test/", secret="x" * 199, verify="sync")
    assert status == 202
    assert [p.secret for p in pending(hub_db)] == ["x" * 199]


def test_lease_expiry_ends_distribution(client, hub_db, cfg, clock, server, posts_dir):
    server.route("/cb", echo)
    ask(client, "subscribe", SITE_ATOM, server.url("/cb"), lease_seconds="120")
    verify(hub_db, cfg, clock)
    clock.advance(seconds=121)

    write_post(posts_dir, "late.md", "过期之后")
    ingest(hub_db, cfg, clock)
    process_due(hub_db, cfg, clock)  # the lease is over even before expire_leases runs
    assert [r.method for r in server.requests] == ["GET"]

    assert websub.expire_leases(hub_db, clock.now()) == 1
    assert subscriptions(hub_db) == {}


def test_scheduler_jobs_verify_and_expire(client, hub_db, cfg, clock, server):
    server.route("/cb", echo)
    ask(client, "subscribe", SITE_ATOM, server.url("/cb"), lease_seconds="60")
    verify_job(hub_db, cfg, clock)
    assert len(subscriptions(hub_db)) == 1
    expire_job(hub_db, clock)
    assert len(subscriptions(hub_db)) == 1  # the lease is not over yet
    clock.advance(seconds=61)
    expire_job(hub_db, clock)
    assert subscriptions(hub_db) == {}


def test_the_scheduler_runs_the_hub_jobs(hub_db, cfg, clock):
    scheduler = build_scheduler(hub_db, cfg, clock)  # built, never started
    assert {"websub-verify", "websub-expire"} <= {job.id for job in scheduler.get_jobs()}


def test_expired_subscription_has_its_queued_deliveries_cancelled(hub_db, cfg, clock):
    now = clock.now()
    with hub_db.write() as s:
        sub = WebSubSubscription(
            topic=SITE_ATOM, callback="http://x.test/", lease_seconds=60,
            expires_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(sub)
        s.flush()
        s.add(Delivery(
            kind="websub", msg_id="msg_1", subscription_id=sub.id, url=sub.callback, body=b"",
            headers={}, status="pending", attempts=1, next_attempt_at=now, created_at=now,
            updated_at=now,
        ))  # fmt: skip
    assert websub.expire_leases(hub_db, now) == 1
    with hub_db.read() as s:
        assert [d.status for d in s.scalars(select(Delivery))] == ["cancelled"]


def test_a_dead_distribution_is_replayed_only_while_its_subscription_lasts(hub_db, cfg, clock):
    now = clock.now()
    with hub_db.write() as s:
        sub = WebSubSubscription(
            topic=SITE_ATOM, callback="http://127.0.0.1:9/", lease_seconds=600,
            expires_at=now + timedelta(seconds=600), created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(sub)
        s.flush()
        dead = [
            Delivery(
                kind="websub", msg_id=f"msg_{i}", subscription_id=sub.id, url=sub.callback,
                body=b"<feed/>", headers={}, status="dead", attempts=8, next_attempt_at=now,
                created_at=now, updated_at=now,
            )
            for i in range(2)
        ]  # fmt: skip
        s.add_all(dead)
        s.flush()
        first, second = dead[0].id, dead[1].id
    assert replay(hub_db, first, now=now).status == "pending"

    clock.advance(seconds=601)  # the lease is over; expire_leases has not run yet
    with pytest.raises(ReplayRefused, match=f"delivery {second} .*WebSub subscription ended"):
        replay(hub_db, second, now=clock.now())
    assert replay_dead(hub_db, now=clock.now()) == 0
    # the requeued one is cancelled when its turn comes, not sent past the lease (§5.3.1)
    assert process_due(hub_db, cfg, clock) == 0
    with hub_db.read() as s:
        rows = {d.id: (d.status, d.last_error) for d in s.scalars(select(Delivery))}
    assert rows == {
        first: ("cancelled", "WebSub subscription ended"),
        second: ("dead", None),
    }


def test_new_post_is_distributed_to_subscribers(client, hub_db, cfg, clock, server, posts_dir):
    write_post(posts_dir, "a.md", "第一篇")
    ingest(hub_db, cfg, clock)
    dispatch(hub_db, cfg, clock)  # events from before anyone subscribed
    server.route("/atom", echo)
    server.route("/json", echo)
    ask(client, "subscribe", SITE_ATOM, server.url("/atom"), secret="k3y")
    ask(client, "subscribe", PYTHON_JSON, server.url("/json"))
    verify(hub_db, cfg, clock)
    server.route("/atom", Reply(204))
    server.route("/json", Reply(202))

    clock.advance(seconds=10)
    write_post(posts_dir, "b.md", "第二篇", day=2)
    ingest(hub_db, cfg, clock)
    process_due(hub_db, cfg, clock)

    (atom,) = [r for r in server.requests_to("/atom") if r.method == "POST"]
    served = client.get("/feed.atom")
    assert atom.body == served.data  # §7: the full contents of the topic URL
    assert atom.header("Content-Type") == served.headers["Content-Type"]
    parsed = feedparser.parse(atom.body)
    assert [e.title for e in parsed.entries] == ["第二篇", "第一篇"]
    assert links_of(atom)["hub"]["url"] == "https://example.org/hub"
    assert links_of(atom)["self"]["url"] == SITE_ATOM
    expected = hmac.new(b"k3y", atom.body, hashlib.sha256).hexdigest()
    method, _, digest = atom.header("X-Hub-Signature").partition("=")
    assert method == "sha256" and hmac.compare_digest(digest, expected)

    (js,) = [r for r in server.requests_to("/json") if r.method == "POST"]
    assert js.header("X-Hub-Signature") is None  # no hub.secret, no signature (§7.1)
    assert js.header("Content-Type") == client.get("/categories/python/feed.json").content_type
    assert links_of(js)["self"]["url"] == PYTHON_JSON


def test_a_post_leaving_a_category_is_distributed_to_its_subscribers(
    client, hub_db, cfg, clock, server, posts_dir
):
    write_post(posts_dir, "a.md", "第一篇")
    write_post(posts_dir, "b.md", "第二篇", day=2)
    ingest(hub_db, cfg, clock)
    dispatch(hub_db, cfg, clock)
    server.route("/json", echo)
    ask(client, "subscribe", PYTHON_JSON, server.url("/json"))
    verify(hub_db, cfg, clock)
    server.route("/json", Reply(204))

    clock.advance(seconds=10)
    (posts_dir / "b.md").write_text(
        "---\ntitle: 第二篇\ndate: 2026-02-02T08:00:00Z\ncategories: [Rust]\n---\n\n正文。\n",
        encoding="utf-8",
    )
    ingest(hub_db, cfg, clock)
    process_due(hub_db, cfg, clock)

    (sent,) = [r for r in server.requests_to("/json") if r.method == "POST"]
    body = json.loads(sent.body)
    assert [item["title"] for item in body["items"]] == ["第一篇"]  # the python feed, without b
    assert sent.body == client.get("/categories/python/feed.json").data


def test_external_hubs_are_pinged_on_change(hub_db, cfg, clock, server, posts_dir):
    server.route("/ext-hub", Reply(204))
    cfg = replace(cfg, websub=replace(cfg.websub, external_hubs=(server.url("/ext-hub"),)))
    write_post(posts_dir, "a.md", "第一篇")
    ingest(hub_db, cfg, clock)
    process_due(hub_db, cfg, clock)
    pings = [parse_qs(r.body.decode()) for r in server.requests_to("/ext-hub")]
    assert all(p["hub.mode"] == ["publish"] for p in pings)
    assert {SITE_ATOM, PYTHON_JSON} <= {p["hub.url"][0] for p in pings}
    with hub_db.read() as s:
        rows = s.scalars(select(Delivery)).all()
        assert {(d.kind, d.status, d.subscription_id) for d in rows} == {
            ("hub-ping", "succeeded", None)
        }
