"""The sender pool (issue 12 item 9) with real receivers on 127.0.0.1, on SQLite and on a real
PostgreSQL: a hanging target holds only its ``per_host_concurrency`` slots, its other rows stay
unclaimed for later, a claim in flight is never sent twice, and an abandoned claim (a killed
process) is sent again with the same ``webhook-id`` once it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from feedsvc.notify.claims import claim_ttl, target_of
from feedsvc.notify.delivery import make_delivery_client
from feedsvc.notify.dispatch import dispatch
from feedsvc.notify.sender import Sender, process_due
from feedsvc.notify.webhooks import add_webhook
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import upgrade
from feedsvc.storage.models import Delivery
from tests.httpserver import RecordedRequest, Reply, ScriptedServer
from tests.integration.test_webhooks import TIMEOUT, delivery_config, publish

POSTS = 5
PER_HOST = 2
WAIT = 30 * TIMEOUT  # generous: anything here happens within a few delivery timeouts


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sender.db'}"
    else:
        yield request.getfixturevalue("pg_schema_url")


def _wait(what: str, found: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not found():
        assert time.monotonic() < deadline, f"no {what} within {WAIT}s"
        time.sleep(0.02)


def _rows(db: Database, url: str) -> list[Delivery]:
    with db.read() as s:
        return list(s.scalars(select(Delivery).where(Delivery.url == url).order_by(Delivery.id)))


def test_a_hanging_target_holds_only_its_own_slots(tmp_path, posts_dir, clock, database_url):
    cfg = delivery_config(
        tmp_path,
        storage={"url": database_url},
        delivery={"concurrency": 8, "per_host_concurrency": PER_HOST},
    )
    db = Database(cfg.storage.url)
    upgrade(db)
    # the slow receiver answers long after the delivery timeout (woken when it closes)
    with ScriptedServer() as fast, ScriptedServer() as slow:
        fast.route("/hook", Reply(204))
        slow.route("/hook", Reply(204, delay=WAIT * 4))
        slow_url, fast_url = slow.url("/hook"), fast.url("/hook")
        add_webhook(db, slow_url, now=clock.now())
        add_webhook(db, fast_url, now=clock.now())
        for n in range(POSTS):
            publish(cfg, db, clock, f"p{n}", title=f"文章 {n}")
        dispatch(db, cfg, clock)
        clients = [make_delivery_client(cfg) for _ in range(2)]
        first, second = (Sender(db, cfg, c) for c in clients)
        senders = [first, second]
        try:
            # rounds as the scheduler runs them: each returns within its budget, sends in
            # flight carry on in the pool; the fast target gets PER_HOST at a time, all of them
            def fast_done() -> bool:
                first.pump(clock, budget=0.1)
                return [r.status for r in _rows(db, fast_url)] == ["succeeded"] * POSTS

            _wait("fast deliveries", fast_done)
            assert len(fast.requests_to("/hook")) == POSTS
            _wait("slow arrivals", lambda: len(slow.requests_to("/hook")) == PER_HOST)
            assert first.in_flight() == {target_of(slow_url): PER_HOST}
            slow_rows = _rows(db, slow_url)
            assert [r.attempts for r in slow_rows] == [0] * POSTS
            held = [r for r in slow_rows if r.claimed_by is not None]
            assert [r.id for r in held] == [r.id for r in slow_rows[:PER_HOST]]  # oldest first
            assert all(r.claimed_until > clock.now() for r in held)

            # another worker (or instance) never takes a claim in flight: it sends the others
            second.pump(clock, budget=0)
            _wait("second worker's arrivals", lambda: len(slow.requests_to("/hook")) == 4)
            sent_ids = [req.header("webhook-id") for req in slow.requests_to("/hook")]
            assert len(set(sent_ids)) == 4
            assert sorted(sent_ids) == sorted(r.msg_id for r in slow_rows[:4])

            # a worker killed mid-send: once its claims expire, a fresh worker sends the same
            # messages again with the same webhook-id (the receiver dedupes)
            clock.advance(seconds=claim_ttl(cfg) + 1)
            third = Sender(db, cfg, clients[0])
            senders.append(third)
            third.pump(clock, budget=0)
            _wait("resends", lambda: len(slow.requests_to("/hook")) == 4 + PER_HOST)
            resent = [req.header("webhook-id") for req in slow.requests_to("/hook")[4:]]
            assert set(resent) <= set(sent_ids)
        finally:
            slow.close()  # wakes the hanging handlers: the sends in flight end
            for sender in senders:
                sender.close(clock)
            for c in clients:
                c.close()
    db.dispose()


def test_process_due_sends_everything_due_within_the_per_host_bound(tmp_path, posts_dir, clock):
    """The one-shot round (CLI, tests) still sends everything due, one at a time to a target
    whose ``per_host_concurrency`` is 1, though eight threads are free."""
    cfg = delivery_config(tmp_path, delivery={"concurrency": 8, "per_host_concurrency": 1})
    db = Database(cfg.storage.url)
    upgrade(db)
    lock = threading.Lock()
    active, most = [0], [0]

    def answer(_req: RecordedRequest) -> Reply:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.05)  # long enough for a second send to arrive if one were started
        with lock:
            active[0] -= 1
        return Reply(204)

    with ScriptedServer() as receiver:
        receiver.route("/hook", answer)
        add_webhook(db, receiver.url("/hook"), now=clock.now())
        for n in range(4):
            publish(cfg, db, clock, f"q{n}", title=f"第 {n} 篇")
        assert process_due(db, cfg, clock) == 4
        assert [r.status for r in _rows(db, receiver.url("/hook"))] == ["succeeded"] * 4
        assert most[0] == 1
    db.dispose()
