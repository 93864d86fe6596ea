"""One client cannot fill the WebSub hub (issue 12 item 7): pending verifications are bounded
per callback host, verification runs concurrently, and a legitimate subscriber on another host
is still accepted (202) and verified while one host floods with callbacks that hang."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from feedsvc.app import create_app
from feedsvc.config import Config
from feedsvc.storage.db import Database
from feedsvc.web.state import state
from tests.conftest import make_config
from tests.httpserver import Reply, ScriptedServer
from tests.integration.test_websub import echo, pending, subscriptions, verify

CAP = 5
TIMEOUT = 2.0


@pytest.fixture
def cfg(tmp_path: Path, posts_dir: Path) -> Config:
    return make_config(
        tmp_path,
        network={"allow_private_networks": True},
        delivery={"timeout": TIMEOUT},
        websub={"max_pending_per_host": CAP, "verify_concurrency": 4},
    )


@pytest.fixture
def client(cfg: Config, db: Database, clock) -> Iterator[FlaskClient]:
    app = create_app(cfg, clock=clock)
    yield app.test_client()
    state(app).db.dispose()


def _subscribe(client: FlaskClient, topic: str, callback: str):
    form = {"hub.mode": "subscribe", "hub.topic": topic, "hub.callback": callback}
    return client.post("/hub", data=form)


def test_one_flooding_host_does_not_keep_others_out(client, cfg, db, clock):
    topic = "https://example.org/feed.atom"
    with ScriptedServer() as flood, ScriptedServer() as legit:
        flood.route("/cb", Reply(200, delay=TIMEOUT * 10))  # hangs past the timeout
        legit.route("/cb", echo)
        answers = [_subscribe(client, topic, flood.url(f"/cb?n={n}")) for n in range(CAP * 3)]
        assert [a.status_code for a in answers] == [202] * CAP + [429] * (CAP * 2)
        refused = answers[-1]
        assert refused.mimetype == "text/plain"
        assert int(refused.headers["Retry-After"]) > 0
        assert "127.0.0.1" in refused.get_data(as_text=True)
        # the same host spelt with user info or another letter case is the same host
        port = flood.url("/").split(":")[2].split("/")[0]
        assert _subscribe(client, topic, f"http://me@127.0.0.1:{port}/cb").status_code == 429
        # another host (localhost, the same machine) is accepted and verified in the same
        # round, although every flooding callback ahead of it hangs
        legit_cb = legit.url("/cb").replace("127.0.0.1", "localhost")
        assert _subscribe(client, topic, legit_cb).status_code == 202
        assert len(pending(db)) == CAP + 1
        assert verify(db, cfg, clock) == CAP + 1
        assert list(subscriptions(db)) == [f"{topic} {legit_cb}"]
        [req] = legit.requests_to("/cb")
        assert req.method == "GET"
        # the flood waits for a retry (a network failure); it never became a subscription
        assert len(pending(db)) == CAP
        assert len(flood.requests_to("/cb")) == CAP
