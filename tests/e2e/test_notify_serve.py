"""Notifications through a real `feedsvc serve`: signed webhooks from the outbox, and a WebSub
subscription at /hub that is verified and then receives content distribution."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import feedparser
import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from tests.e2e.test_serve import Server, post_md, running, terminate
from tests.httpserver import RecordedRequest, Reply, ScriptedServer

pytestmark = pytest.mark.e2e

T = TypeVar("T")
Distribution = tuple[RecordedRequest, feedparser.FeedParserDict]

WAIT = 20.0  # deadline for anything the scheduler does (its jobs tick every second or less)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"feedsvc e2e webhook key!").decode("ascii")
HUB_SECRET = "e2e-hub-secret"
LEASE = 3600
NEW_TITLE = "第二篇"
EDITED_TITLE = "第二篇（修订）"


def callback(req: RecordedRequest) -> Reply:
    """A WebSub subscriber that agrees to every verification (§5.3.1) and takes every POST."""
    if req.method == "GET":
        challenge = query(req).get("hub.challenge", "")
        return Reply(200, {"Content-Type": "text/plain"}, challenge.encode())
    return Reply(204)


def query(req: RecordedRequest) -> dict[str, str]:
    params = parse_qs(urlsplit(req.path).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in params.values()), params
    return {k: v[0] for k, v in params.items()}


@pytest.fixture
def receiver() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        srv.route("/webhook", Reply(204))
        srv.route("/websub", callback)
        yield srv


@pytest.fixture
def server(tmp_path: Path, receiver: ScriptedServer) -> Iterator[Server]:
    extra = (
        "[network]\nallow_private_networks = true\n"  # the receiver listens on 127.0.0.1
        '[delivery]\npoll_interval = "250ms"\ntimeout = "5s"\n'
        f'[[webhooks]]\nurl = "{receiver.url("/webhook")}"\nsecret = "{WEBHOOK_SECRET}"\n'
        'events = ["post.published", "post.updated", "post.deleted"]\n'
    )
    with running(tmp_path, "granian", extra) as srv:
        yield srv


def wait_for(what: str, server: Server, found: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        result = found()
        if result is not None:
            return result
        assert server.proc.poll() is None, f"serve exited:\n{server.log.read_text()}"
        time.sleep(0.1)
    pytest.fail(f"no {what} within {WAIT}s; feedsvc serve log:\n{server.log.read_text()}")


def webhook(
    receiver: ScriptedServer, type_: str, **data: str
) -> Callable[[], dict[str, Any] | None]:
    """Finds the verified webhook message of ``type_`` whose ``data`` has these values."""

    def find() -> dict[str, Any] | None:
        for req in receiver.requests_to("/webhook"):
            assert req.method == "POST"
            # raises WebhookVerificationError unless signed with our secret, and recently
            message: dict[str, Any] = Verifier(WEBHOOK_SECRET).verify(
                req.body, dict(req.headers.items())
            )
            assert message == json.loads(req.body)
            assert req.header("Content-Type") == "application/json"
            if message["type"] == type_ and all(message["data"][k] == v for k, v in data.items()):
                return message
        return None

    return find


def ingest(server: Server) -> None:
    result = server.run("ingest")
    assert result.returncode == 0, result.stdout + result.stderr


def subscribe(server: Server, topic: str, callback_url: str) -> int:
    form = {
        "hub.mode": "subscribe",
        "hub.topic": topic,
        "hub.callback": callback_url,
        "hub.secret": HUB_SECRET,
        "hub.lease_seconds": str(LEASE),
    }
    request = urllib.request.Request(
        server.base + "/hub",
        data=urlencode(form).encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return int(resp.status)


def subscribed(server: Server, topic: str, callback_url: str) -> bool:
    """Whether the hub has stored the subscription (it does so once the GET was answered)."""
    db = server.config.parent / "e2e.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT lease_seconds FROM websub_subscriptions WHERE topic = ? AND callback = ?",
            (topic, callback_url),
        ).fetchone()
    return row is not None and row[0] == LEASE


def distribution(receiver: ScriptedServer, title: str) -> Callable[[], Distribution | None]:
    """Finds the content distribution POST whose feed has an entry titled ``title``."""

    def find() -> Distribution | None:
        for req in receiver.requests_to("/websub"):
            if req.method == "POST":
                parsed = feedparser.parse(req.body)
                if title in [e.title for e in parsed.entries]:
                    return req, parsed
        return None

    return find


def check_distribution(server: Server, topic: str, pushed: Distribution) -> None:
    """§7: a well-formed Atom body with its Content-Type and a Link header naming the hub
    (rel=hub) and the topic (rel=self); §7.1: X-Hub-Signature is the HMAC of the body."""
    req, parsed = pushed
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    media_type = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    assert media_type == "application/atom+xml"
    links = httpx.Response(200, headers={"Link": req.header("Link") or ""}).links
    assert links["hub"]["url"] == server.base + "/hub"
    assert links["self"]["url"] == topic
    method, _, digest = (req.header("X-Hub-Signature") or "").partition("=")
    expected = hmac.new(HUB_SECRET.encode(), req.body, hashlib.sha256).hexdigest()
    assert method == "sha256"
    assert hmac.compare_digest(digest, expected)


def test_webhooks_and_websub_through_serve(server: Server, receiver: ScriptedServer) -> None:
    topic = server.base + "/feed.atom"
    callback_url = receiver.url("/websub")

    # the scheduler's first ingest pass publishes posts/first.md: a signed webhook
    first = wait_for(
        "post.published webhook for 第一篇",
        server,
        webhook(receiver, "post.published", title="第一篇"),
    )
    assert first["data"]["source"] == "posts"

    # WebSub: a form POST is accepted, then the scheduler verifies intent with a GET
    assert subscribe(server, topic, callback_url) == 202
    verification = wait_for(
        "verification GET",
        server,
        lambda: next((r for r in receiver.requests_to("/websub") if r.method == "GET"), None),
    )
    params = query(verification)
    assert params["hub.mode"] == "subscribe"
    assert params["hub.topic"] == topic
    assert int(params["hub.lease_seconds"]) == LEASE
    assert params["hub.challenge"]
    wait_for("stored subscription", server, lambda: subscribed(server, topic, callback_url) or None)

    # a new post: webhook post.published, and the topic's new contents to the subscriber
    second = server.posts / "second.md"
    second.write_text(post_md(NEW_TITLE, "2026-01-12T09:30:00+08:00"), "utf-8")
    ingest(server)
    published = wait_for(
        f"post.published webhook for {NEW_TITLE}",
        server,
        webhook(receiver, "post.published", title=NEW_TITLE),
    )
    post_id = published["data"]["id"]
    assert post_id != first["data"]["id"]
    assert published["data"]["url"].startswith(server.base + "/")
    assert published["data"]["categories"] == ["Python"]

    pushed = wait_for("WebSub distribution", server, distribution(receiver, NEW_TITLE))
    check_distribution(server, topic, pushed)
    assert [(e.id, e.title) for e in pushed[1].entries] == [
        (post_id, NEW_TITLE),
        (first["data"]["id"], "第一篇"),
    ]
    with urllib.request.urlopen(topic, timeout=10) as resp:
        assert resp.read() == pushed[0].body  # §7: the full contents of the topic URL

    # an edit is post.updated for the same post (and distributed); removing it is post.deleted
    second.write_text(post_md(EDITED_TITLE, "2026-01-12T09:30:00+08:00"), "utf-8")
    ingest(server)
    updated = wait_for(
        "post.updated webhook", server, webhook(receiver, "post.updated", id=post_id)
    )
    assert updated["data"]["title"] == EDITED_TITLE
    pushed = wait_for(
        "WebSub distribution of the edit", server, distribution(receiver, EDITED_TITLE)
    )
    check_distribution(server, topic, pushed)
    assert [e.id for e in pushed[1].entries] == [post_id, first["data"]["id"]]

    second.unlink()
    ingest(server)
    wait_for("post.deleted webhook", server, webhook(receiver, "post.deleted", id=post_id))

    # one message per event (a retry would reuse its webhook-id)
    messages = {
        r.header("webhook-id"): json.loads(r.body) for r in receiver.requests_to("/webhook")
    }
    assert sorted((m["type"], m["data"]["id"]) for m in messages.values()) == sorted(
        [
            ("post.published", first["data"]["id"]),
            ("post.published", post_id),
            ("post.updated", post_id),
            ("post.deleted", post_id),
        ]
    )

    terminate(server)
