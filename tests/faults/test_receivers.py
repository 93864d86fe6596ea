"""Webhook receivers that misbehave, against a real ``feedsvc serve``: one that hangs, one that
flaps (500 then 200), one that answers 410 Gone, one that redirects. Each ends in the documented
state (docs/api.md: dead after the retry schedule, disabled on 410, redirects not followed), a
well-behaved receiver beside them gets every message, and no event is lost."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from feedsvc.storage.models import Webhook
from tests.e2e.test_serve import Server, terminate, wait_healthy
from tests.faults.harness import SECRET, kill_tree, messages, new_site, settled, wait_for
from tests.httpserver import RecordedRequest, Reply, ScriptedServer

pytestmark = pytest.mark.e2e

POSTS = 3
ATTEMPTS = 3  # the retry schedule below: a first attempt and two retries


def test_misbehaving_receivers_end_in_their_documented_state(tmp_path: Path) -> None:
    flips = itertools.cycle([Reply(500), Reply(204)])

    def flap(_req: RecordedRequest) -> Reply:
        return next(flips)

    with ScriptedServer() as receiver:
        receiver.route("/ok", Reply(204))
        receiver.route("/hang", Reply(204, delay=30.0))  # past the 2 s delivery timeout
        receiver.route("/flap", flap)
        receiver.route("/gone", Reply(410))
        receiver.route("/moved", Reply(307, {"Location": receiver.url("/ok-too")}))
        receiver.route("/ok-too", Reply(204))
        site = new_site(tmp_path, f"sqlite:///{tmp_path / 'receivers.db'}")
        hooks = {name: receiver.url(f"/{name}") for name in ("hang", "flap", "gone", "moved")}
        extra = "".join(
            f'[[webhooks]]\nurl = "{url}"\nsecret = "{SECRET}"\n' for url in hooks.values()
        )
        site.write_config(receiver.url("/ok"), retries='["200ms", "200ms"]', extra=extra)
        for n in range(POSTS):
            (site.posts / f"p{n}.md").write_text(f"---\ntitle: Post {n}\n---\n\nBody {n}.\n")
        ingested = site.run("ingest", "--json")
        assert ingested.returncode == 0, ingested.stdout + ingested.stderr

        proc = site.start("serve")
        try:
            wait_healthy(site.base + "/healthz", proc, site.log)
            db = site.database()
            try:
                _posts, events, deliveries = wait_for("every delivery ended", lambda: settled(db))
                with db.read() as session:
                    enabled = {h.url: h.enabled for h in session.scalars(select(Webhook))}
                    reasons = {h.url: h.disabled_reason for h in session.scalars(select(Webhook))}
            finally:
                db.dispose()
            terminate(Server(site.base, site.config, site.posts, proc, site.log))
        finally:
            kill_tree(proc)

        by_hook = defaultdict(list)
        for d in deliveries:
            by_hook[d.url].append(d)
        event_ids = {e.msg_id for e in events}
        assert len(events) == POSTS

        # nothing lost: the good receiver has every message, each once, each signed
        assert {m.msg_id for m in messages(receiver.requests_to("/ok"))} == event_ids
        assert {d.status for d in by_hook[receiver.url("/ok")]} == {"succeeded"}

        # flapping: every message ends delivered, after a 500 for some of them
        flapped = by_hook[hooks["flap"]]
        assert {d.status for d in flapped} == {"succeeded"}
        assert {d.msg_id for d in flapped} == event_ids
        assert {m.msg_id for m in messages(receiver.requests_to("/flap"))} == event_ids

        # hanging: each attempt times out; dead (replayable) after the schedule, not lost
        for d in by_hook[hooks["hang"]]:
            assert (d.status, d.attempts) == ("dead", ATTEMPTS), d.last_error
            assert d.last_status_code is None and d.last_error
        assert {d.msg_id for d in by_hook[hooks["hang"]]} == event_ids

        # 410 Gone: the webhook is disabled; its deliveries dead (the 410s) or cancelled
        gone = by_hook[hooks["gone"]]
        assert enabled[hooks["gone"]] is False
        assert (reasons[hooks["gone"]] or "").startswith("receiver answered 410 Gone")
        assert {d.status for d in gone} <= {"dead", "cancelled"}
        dead = [d for d in gone if d.status == "dead"]
        assert dead and all(d.last_status_code == 410 for d in dead)
        # sends already in flight when the first 410 is recorded end cancelled, not re-sent
        assert len(dead) <= len(receiver.requests_to("/gone")) <= POSTS
        for d in gone:
            if d.status == "cancelled":
                assert (d.last_error or "").startswith("webhook disabled: receiver answered 410")

        # redirect: never followed; a failed attempt each time, dead after the schedule
        for d in by_hook[hooks["moved"]]:
            assert (d.status, d.attempts, d.last_status_code) == ("dead", ATTEMPTS, 307)
            assert "not followed" in (d.last_error or "")
        assert receiver.requests_to("/ok-too") == []
        assert len(receiver.requests_to("/moved")) == ATTEMPTS * POSTS
        assert all(enabled[url] for name, url in hooks.items() if name != "gone")
