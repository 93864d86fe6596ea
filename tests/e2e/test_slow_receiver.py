"""A hanging webhook receiver slows only itself (issue 12 item 9), through `feedsvc serve`.

One receiver accepts the connection and never answers (it would answer after the delivery
timeout); another answers at once. While the first hangs, a new post still reaches the second,
and the hanging one is sent no more than ``[delivery] per_host_concurrency`` messages at a time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.e2e.test_notify_serve import WEBHOOK_SECRET, ingest, wait_for, webhook
from tests.e2e.test_serve import Server, post_md, running
from tests.httpserver import Reply, ScriptedServer

pytestmark = pytest.mark.e2e

# The delivery timeout is three times the helpers' 20 s wait: a fix that only shortened the
# stall would still fail, and the hanging send is certainly still in flight when checked.
TIMEOUT = 60.0
HANG = TIMEOUT * 2  # woken early when the receiver closes at the end of the test


@pytest.fixture
def slow() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        srv.route("/webhook", Reply(204, delay=HANG))
        yield srv


@pytest.fixture
def fast() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        srv.route("/webhook", Reply(204))
        yield srv


def _hook(url: str) -> str:
    return (
        f'[[webhooks]]\nurl = "{url}"\nsecret = "{WEBHOOK_SECRET}"\nevents = ["post.published"]\n'
    )


@pytest.fixture
def server(tmp_path: Path, fast: ScriptedServer, slow: ScriptedServer) -> Iterator[Server]:
    # set up fast first so that slow closes first: the scheduler child, once its parent is
    # killed, ends its hanging send, and then its kept-alive connection to fast
    extra = (
        "[network]\nallow_private_networks = true\n"
        f'[delivery]\npoll_interval = "250ms"\ntimeout = "{int(TIMEOUT)}s"\n'
        "concurrency = 4\nper_host_concurrency = 1\n"
        + _hook(slow.url("/webhook"))
        + _hook(fast.url("/webhook"))
    )
    with running(tmp_path, "granian", extra) as srv:
        yield srv


def _attempts(server: Server, url: str) -> list[tuple[int, str, str | None]]:
    """(attempts, status, claimed_by) of every delivery to ``url``, oldest first."""
    db = server.config.parent / "e2e.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT attempts, status, claimed_by FROM deliveries WHERE url = ? ORDER BY id", (url,)
        ).fetchall()


def test_a_hanging_receiver_delays_no_other(
    server: Server, slow: ScriptedServer, fast: ScriptedServer
) -> None:
    slow_url = slow.url("/webhook")
    # the first pass publishes first.md: both receivers are sent it; the slow one hangs
    wait_for(
        "first.md at the fast receiver", server, webhook(fast, "post.published", title="第一篇")
    )
    wait_for(
        "first.md at the slow receiver", server, webhook(slow, "post.published", title="第一篇")
    )

    # while that send hangs, two new posts are dispatched and reach the fast receiver
    for n, name in enumerate(("第二篇", "第三篇"), start=2):
        (server.posts / f"p{n}.md").write_text(post_md(name, f"2026-01-1{n}T09:30:00Z"), "utf-8")
        ingest(server)
        wait_for(
            f"{name} at the fast receiver", server, webhook(fast, "post.published", title=name)
        )

    # ...and the hanging send is still in flight: never finished, still claimed, and the slow
    # receiver's own later messages wait for its one slot (per_host_concurrency = 1)
    rows = _attempts(server, slow_url)
    assert len(rows) == 3
    assert [(attempts, status) for attempts, status, _ in rows] == [(0, "pending")] * 3
    assert rows[0][2] is not None, "the hanging delivery lost its claim"
    assert [r[2] for r in rows[1:]] == [None, None], "a full target's rows stay unclaimed"
    assert len(slow.requests_to("/webhook")) == 1
    # the fast receiver got each message once, in order
    messages = [json.loads(req.body) for req in fast.requests_to("/webhook")]
    assert [m["data"]["title"] for m in messages] == ["第一篇", "第二篇", "第三篇"]
