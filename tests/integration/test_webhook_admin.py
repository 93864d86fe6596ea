"""Managing webhooks and deliveries: the admin API (/api/v1/webhooks, /api/v1/deliveries), the
``feedsvc webhooks`` / ``feedsvc deliveries`` commands, and ``[[webhooks]]`` from the config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from feedsvc.clock import FixedClock
from feedsvc.config import Config, ConfigError
from feedsvc.notify.webhooks import WebhookError, list_webhooks, sync_config_webhooks
from feedsvc.signing import generate_secret, secret_key
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Delivery, Webhook
from tests.conftest import T0, make_config

TOKEN = "t"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FEEDSVC = shutil.which("feedsvc") or str(Path(sys.executable).parent / "feedsvc")


@pytest.fixture
def cfg(tmp_path: Path, posts_dir: Path) -> Config:
    return make_config(tmp_path, admin={"token": TOKEN})


@pytest.fixture
def client(cfg: Config, clock: FixedClock) -> Iterator:
    from feedsvc.app import create_app

    app = create_app(cfg, clock=clock)
    yield app.test_client()
    app.extensions["feedsvc"].db.dispose()


def add_hook(db: Database, url: str = "https://hooks.example.com/x", **fields: object) -> int:
    with db.write() as session:
        hook = Webhook(
            url=url,
            secret=generate_secret(),
            events=["post.published"],
            categories=[],
            origin="api",
            created_at=T0,
            **{"enabled": True, **fields},
        )
        session.add(hook)
        session.flush()
        return hook.id


def add_delivery(
    db: Database,
    status: str,
    url: str = "https://hooks.example.com/x",
    webhook_id: int | None = None,
) -> int:
    """A webhook delivery in ``status``, for a subscription of its own unless one is given."""
    webhook_id = webhook_id or add_hook(db, url)
    with db.write() as session:
        row = Delivery(
            kind="webhook",
            webhook_id=webhook_id,
            msg_id=f"msg_{status}_{url[-1]}",
            event_type="post.published",
            url=url,
            body=b"{}",
            headers={},
            status=status,
            attempts=8 if status == "dead" else 1,
            next_attempt_at=T0,
            last_attempt_at=T0,
            last_status_code=500,
            last_error="delivery: HTTP 500",
            created_at=T0,
            updated_at=T0,
        )
        session.add(row)
        session.flush()
        return row.id


# -- API -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "headers", "status"),
    [
        ("", AUTH, 403),  # no token configured: the admin API is off
        (TOKEN, {}, 401),
        (TOKEN, {"Authorization": "Bearer wrong"}, 401),
        (TOKEN, AUTH, 200),
    ],
)
def test_api_needs_the_admin_token(tmp_path, posts_dir, clock, token, headers, status):
    from feedsvc.app import create_app

    app = create_app(make_config(tmp_path, admin={"token": token}), clock=clock)
    try:
        for path in ("/api/v1/webhooks", "/api/v1/deliveries"):
            resp = app.test_client().get(path, headers=headers)
            assert resp.status_code == status
            assert resp.is_json
    finally:
        app.extensions["feedsvc"].db.dispose()


def test_api_create_list_delete(client):
    resp = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.com/in", "events": ["post.published"],
              "categories": ["Machine Learning"]},
        headers=AUTH,
    )  # fmt: skip
    assert resp.status_code == 201
    created = resp.get_json()
    assert secret_key(created["secret"])  # a usable whsec_ secret, shown this once
    assert created["events"] == ["post.published"]
    assert created["categories"] == ["machine-learning"]
    assert resp.headers["Location"].endswith(f"/api/v1/webhooks/{created['id']}")

    listed = client.get("/api/v1/webhooks", headers=AUTH).get_json()["webhooks"]
    assert [h["url"] for h in listed] == ["https://hooks.example.com/in"]
    assert "secret" not in listed[0] and listed[0]["enabled"] is True

    assert client.delete(f"/api/v1/webhooks/{created['id']}", headers=AUTH).status_code == 204
    missing = client.delete(f"/api/v1/webhooks/{created['id']}", headers=AUTH)
    assert missing.status_code == 404 and missing.is_json
    assert client.get("/api/v1/webhooks", headers=AUTH).get_json()["webhooks"] == []


def test_api_keeps_a_given_secret(client):
    secret = generate_secret()
    resp = client.post(
        "/api/v1/webhooks", json={"url": "http://a.example/", "secret": secret}, headers=AUTH
    )
    assert resp.status_code == 201 and resp.get_json()["secret"] == secret


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"url": "ftp://x", "events": ["post.exploded"]}, {"url", "events"}),
        ({"events": ["post.published"]}, {"url"}),
        ({"url": "https://a.example/", "categories": "Python"}, {"categories"}),
        ({"url": "https://a.example/", "secret": "whsec_!!"}, {"secret"}),
        ({"url": "https://a.example/", "colour": "red"}, {"colour"}),
        ({"url": 5}, {"url"}),
    ],
)
def test_api_422_names_the_bad_fields(client, body, fields):
    resp = client.post("/api/v1/webhooks", json=body, headers=AUTH)
    assert resp.status_code == 422
    assert set(resp.get_json()["fields"]) == fields
    assert client.get("/api/v1/webhooks", headers=AUTH).get_json()["webhooks"] == []


def test_api_bad_json_is_a_json_400(client):
    resp = client.post("/api/v1/webhooks", data=b"{", headers=AUTH)
    assert resp.status_code == 400 and "error" in resp.get_json()


def test_api_deliveries_paginated_and_filtered(client):
    db = Database(client.application.extensions["feedsvc"].cfg.storage.url)
    try:
        ids = [add_delivery(db, "dead", f"https://h.example/{i}") for i in range(3)]
        ok = add_delivery(db, "succeeded")
    finally:
        db.dispose()
    page1 = client.get("/api/v1/deliveries?status=dead&per_page=2", headers=AUTH).get_json()
    page2 = client.get("/api/v1/deliveries?status=dead&per_page=2&page=2", headers=AUTH)
    assert (page1["total"], page1["has_more"]) == (3, True)
    assert [d["id"] for d in page1["deliveries"] + page2.get_json()["deliveries"]] == ids[::-1]
    first = page1["deliveries"][0]
    assert (first["attempts"], first["last_status_code"], first["status"]) == (8, 500, "dead")
    everything = client.get("/api/v1/deliveries", headers=AUTH).get_json()
    assert {d["id"] for d in everything["deliveries"]} == {*ids, ok}
    bad = client.get("/api/v1/deliveries?status=lost", headers=AUTH)
    assert bad.status_code == 422 and "status" in bad.get_json()["fields"]
    assert client.get("/api/v1/deliveries?page=0", headers=AUTH).status_code == 400


def test_api_retry_one_and_all_dead(client, clock):
    db = Database(client.application.extensions["feedsvc"].cfg.storage.url)
    try:
        first, second = (
            add_delivery(db, "dead", "https://h/1"),
            add_delivery(db, "dead", "https://h/2"),
        )
        clock.advance(hours=1)
        resp = client.post(f"/api/v1/deliveries/{first}/retry", headers=AUTH)
        assert resp.status_code == 200
        body = resp.get_json()
        assert (body["status"], body["attempts"], body["msg_id"]) == ("pending", 0, "msg_dead_1")
        assert body["next_attempt_at"] == "2026-03-01T13:00:00Z"
        assert client.post("/api/v1/deliveries/999/retry", headers=AUTH).status_code == 404
        resp = client.post("/api/v1/deliveries/retry-dead", headers=AUTH)
        assert resp.get_json() == {"retried": 1}
        with db.read() as session:
            row = session.get(Delivery, second)
            assert (row.status, row.attempts, row.msg_id) == ("pending", 0, "msg_dead_2")
    finally:
        db.dispose()


def test_replay_refuses_deliveries_whose_subscriber_is_gone(client, clock):
    db = Database(client.application.extensions["feedsvc"].cfg.storage.url)
    try:
        disabled_hook = add_hook(db, "https://h/off", enabled=False, disabled_reason="410")
        disabled = add_delivery(db, "dead", "https://h/off", webhook_id=disabled_hook)
        orphan = add_delivery(db, "dead", "https://h/gone")
        live = add_delivery(db, "dead", "https://h/live")
        with db.write() as session:
            session.get(Delivery, orphan).webhook_id = None  # its webhook was deleted
        resp = client.post(f"/api/v1/deliveries/{disabled}/retry", headers=AUTH)
        assert resp.status_code == 409
        assert resp.get_json()["error"] == (
            f"delivery {disabled} cannot be sent again: webhook disabled: enable it first"
        )
        resp = client.post(f"/api/v1/deliveries/{orphan}/retry", headers=AUTH)
        assert (resp.status_code, resp.get_json()["error"]) == (
            409,
            f"delivery {orphan} cannot be sent again: webhook removed",
        )
        # retry-dead requeues only what can reach someone
        assert client.post("/api/v1/deliveries/retry-dead", headers=AUTH).get_json() == {
            "retried": 1
        }
        with db.read() as session:
            status = {d.id: d.status for d in session.scalars(select(Delivery))}
        assert status == {disabled: "dead", orphan: "dead", live: "pending"}

        enabled = client.post(f"/api/v1/webhooks/{disabled_hook}/enable", headers=AUTH)
        assert enabled.status_code == 200
        assert (enabled.get_json()["enabled"], enabled.get_json()["disabled_reason"]) == (
            True,
            None,
        )
        again = client.post(f"/api/v1/deliveries/{disabled}/retry", headers=AUTH)
        assert (again.status_code, again.get_json()["status"]) == (200, "pending")
        assert client.post("/api/v1/webhooks/999/enable", headers=AUTH).status_code == 404
    finally:
        db.dispose()


def test_api_refuses_to_delete_a_config_webhook(tmp_path, posts_dir, clock):
    from feedsvc.app import create_app

    cfg = make_config(
        tmp_path, admin={"token": TOKEN}, webhooks=[{"url": "https://cfg.example/hook"}]
    )
    app = create_app(cfg, clock=clock)
    try:
        sync_config_webhooks(app.extensions["feedsvc"].db, cfg, now=clock.now())
        client = app.test_client()
        [hook] = client.get("/api/v1/webhooks", headers=AUTH).get_json()["webhooks"]
        assert hook["origin"] == "config"
        resp = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=AUTH)
        assert resp.status_code == 409 and resp.is_json
    finally:
        app.extensions["feedsvc"].db.dispose()


# -- [[webhooks]] in the config ---------------------------------------------------------------


def test_sync_config_webhooks(tmp_path, posts_dir, db, clock):
    given = generate_secret()
    hooks = [
        {"url": "https://a.example/hook", "secret": given, "events": ["post.deleted"]},
        {"url": "https://b.example/hook", "categories": ["Python"]},
    ]
    sync_config_webhooks(db, make_config(tmp_path, webhooks=hooks), now=clock.now())
    first = {h.url: h for h in list_webhooks(db)}
    assert first["https://a.example/hook"].secret == given
    assert first["https://a.example/hook"].events == ["post.deleted"]
    assert first["https://b.example/hook"].categories == ["python"]
    generated = first["https://b.example/hook"].secret
    assert secret_key(generated)

    hooks[1]["events"] = ["post.updated"]
    sync_config_webhooks(db, make_config(tmp_path, webhooks=hooks), now=clock.now())
    second = {h.url: h for h in list_webhooks(db)}
    assert second["https://b.example/hook"].secret == generated  # generated once, then kept
    assert second["https://b.example/hook"].events == ["post.updated"]
    assert {h.id for h in second.values()} == {h.id for h in first.values()}

    sync_config_webhooks(db, make_config(tmp_path, webhooks=hooks[1:]), now=clock.now())
    assert [h.url for h in list_webhooks(db)] == ["https://b.example/hook"]


def test_sync_rejects_a_secret_that_is_not_base64(tmp_path, posts_dir, db, clock):
    with pytest.raises(ConfigError, match=r"webhooks\[0\]\.secret"):  # at load time...
        make_config(tmp_path, webhooks=[{"url": "https://a.example/", "secret": "hunter2!"}])
    good = make_config(tmp_path, webhooks=[{"url": "https://a.example/"}])
    bad = replace(good, webhooks=(replace(good.webhooks[0], secret="hunter2!"),))
    with pytest.raises(WebhookError, match=r"webhooks\[0\]\.secret"):  # ...and again at sync
        sync_config_webhooks(db, bad, now=clock.now())


# -- CLI -------------------------------------------------------------------------------------


def feedsvc(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    return subprocess.run(
        [FEEDSVC, "--config", str(config), *args],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "posts").mkdir()
    path = tmp_path / "feedsvc.toml"
    path.write_text(
        '[site]\nbase_url = "https://example.org"\n'
        f'[storage]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n'
        '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\n'
        '[[webhooks]]\nurl = "https://cfg.example/hook"\n',
        encoding="utf-8",
    )
    return path


def test_cli_webhooks_add_list_remove(config_file):
    added = feedsvc(
        config_file, "webhooks", "add", "https://in.example/hook",
        "--event", "post.published", "--category", "Python",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = next(
        line.split()[1] for line in added.stdout.splitlines() if line.startswith("secret:")
    )
    assert secret_key(secret)

    listed = feedsvc(config_file, "webhooks", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    hooks = {h["url"]: h for h in json.loads(listed.stdout)}
    assert set(hooks) == {"https://cfg.example/hook", "https://in.example/hook"}
    mine = hooks["https://in.example/hook"]
    assert (mine["events"], mine["categories"], mine["origin"]) == (
        ["post.published"], ["python"], "api"
    )  # fmt: skip
    assert secret not in listed.stdout

    config_id = hooks["https://cfg.example/hook"]["id"]
    refused = feedsvc(config_file, "webhooks", "remove", str(config_id))
    assert refused.returncode == 1 and "config file" in refused.stderr
    removed = feedsvc(config_file, "webhooks", "remove", str(mine["id"]))
    assert removed.returncode == 0, removed.stderr
    again = feedsvc(config_file, "webhooks", "remove", str(mine["id"]))
    assert again.returncode == 1 and "no webhook" in again.stderr
    final = json.loads(feedsvc(config_file, "webhooks", "list", "--json").stdout)
    assert [h["url"] for h in final] == ["https://cfg.example/hook"]


def test_cli_webhooks_add_rejects_bad_input(config_file):
    bad_url = feedsvc(config_file, "webhooks", "add", "not-a-url")
    assert bad_url.returncode == 2 and "url" in bad_url.stderr
    bad_event = feedsvc(config_file, "webhooks", "add", "https://a.example/", "--event", "x")
    assert bad_event.returncode == 2 and "invalid choice" in bad_event.stderr


def test_cli_deliveries_list_and_retry(config_file, tmp_path):
    feedsvc(config_file, "db", "upgrade")  # read-only commands never create a database
    feedsvc(config_file, "webhooks", "list")  # syncs [[webhooks]]
    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        upgrade(db)
        dead = [add_delivery(db, "dead", f"https://h.example/{i}") for i in range(2)]
        add_delivery(db, "succeeded")

        listed = feedsvc(config_file, "deliveries", "list", "--status", "dead", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [r["id"] for r in rows] == dead[::-1]
        assert (rows[0]["attempts"], rows[0]["last_status_code"]) == (8, 500)
        assert rows[0]["last_error"] == "delivery: HTTP 500"
        text = feedsvc(config_file, "deliveries", "list").stdout
        assert "3 of 3 deliveries" in text and "last error: delivery: HTTP 500" in text

        one = feedsvc(config_file, "deliveries", "retry", str(dead[0]))
        assert one.returncode == 0, one.stderr
        assert feedsvc(config_file, "deliveries", "retry").returncode == 2
        assert feedsvc(config_file, "deliveries", "retry", "999").returncode == 1
        rest = feedsvc(config_file, "deliveries", "retry", "--dead")
        assert rest.returncode == 0 and rest.stdout.startswith("1 dead")
        with db.read() as session:
            rows = session.scalars(select(Delivery).where(Delivery.id.in_(dead))).all()
            assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}
            assert {r.msg_id for r in rows} == {"msg_dead_0", "msg_dead_1"}
            config_hooks = select(Webhook.url).where(Webhook.origin == "config")
            assert session.scalars(config_hooks).all() == ["https://cfg.example/hook"]
    finally:
        db.dispose()


def test_cli_enables_a_config_webhook_disabled_by_410(config_file, tmp_path):
    feedsvc(config_file, "db", "upgrade")  # read-only commands never create a database
    listed = json.loads(feedsvc(config_file, "webhooks", "list", "--json").stdout)
    [hook_id] = [h["id"] for h in listed if h["origin"] == "config"]
    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with db.write() as session:
            hook = session.get(Webhook, hook_id)
            hook.enabled, hook.disabled_reason = False, "receiver answered 410 Gone"
        dead = add_delivery(db, "dead", webhook_id=hook_id)
        refused = feedsvc(config_file, "deliveries", "retry", str(dead))
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"feedsvc: delivery {dead} cannot be sent again: webhook disabled: enable it first"
        )
        enabled = feedsvc(config_file, "webhooks", "enable", str(hook_id))
        assert enabled.returncode == 0, enabled.stderr
        # the config sync that every command runs leaves it enabled
        after = json.loads(feedsvc(config_file, "webhooks", "list", "--json").stdout)
        assert [(h["enabled"], h["disabled_reason"]) for h in after if h["id"] == hook_id] == [
            (True, None)
        ]
        assert feedsvc(config_file, "deliveries", "retry", str(dead)).returncode == 0
        assert feedsvc(config_file, "webhooks", "enable", "999").returncode == 1
    finally:
        db.dispose()


def test_retry_is_due_at_once(cfg, db, clock):
    from feedsvc.notify.replay import replay

    row_id = add_delivery(db, "dead")
    clock.advance(minutes=5)
    assert replay(db, row_id, now=clock.now()).next_attempt_at == T0 + timedelta(minutes=5)
