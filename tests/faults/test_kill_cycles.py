"""SIGKILL of ``feedsvc ingest`` and of ``feedsvc serve`` at random points, cycle after cycle,
while Markdown posts change between cycles and a real receiver records the webhooks; then one
clean run, and the invariants: each post stored once, each change one event, each event delivered
at least once under one ``webhook-id``, no delivery stuck, the database intact."""

from __future__ import annotations

import random
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.e2e.test_serve import Server, terminate, wait_healthy
from tests.faults.harness import (
    Message,
    Site,
    kill_tree,
    messages,
    new_site,
    settled,
    wait_for,
    wait_gone,
)
from tests.httpserver import Reply, ScriptedServer

pytestmark = pytest.mark.e2e

CYCLES = 20
SEED = 20261204
TITLE = re.compile(r"^(?P<key>p\d+) v(?P<version>\d+)$")


@dataclass
class Posts:
    """The Markdown files written so far: the version of each, and which were deleted."""

    root: Path
    rng: random.Random
    versions: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def write(self, key: str) -> None:
        self.versions[key] = self.versions.get(key, 0) + 1
        version = self.versions[key]
        day = 1 + int(key[1:]) % 28
        (self.root / f"{key}.md").write_text(
            f"---\ntitle: {key} v{version}\ndate: 2026-02-{day:02d}T08:00:00Z\n---\n\n"
            f"Body of {key}, version {version}.\n",
            encoding="utf-8",
        )

    def change(self) -> None:
        """A new post or two, edits to one to three live ones, sometimes a deletion."""
        for _ in range(self.rng.randint(1, 2)):
            self.write(f"p{len(self.versions):03d}")
        live = sorted(set(self.versions) - self.deleted)
        for key in self.rng.sample(live, min(len(live), self.rng.randint(1, 3))):
            self.write(key)
        if len(live) > 4 and self.rng.random() < 0.25:
            key = self.rng.choice(live[:-2])
            (self.root / f"{key}.md").unlink()
            self.deleted.add(key)


@dataclass
class Kill:
    command: str
    delay: float
    finished: bool  # the process had ended by itself before the kill


def cycle(site: Site, command: str, delay: float) -> Kill:
    args = ("ingest", "--json") if command == "ingest" else ("serve",)
    proc = site.start(*args)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        pass
    finished = proc.returncode is not None
    left = kill_tree(proc)
    # item 8: nothing the killed process started keeps running (or holds the port)
    wait_gone(left, f"children of a killed `feedsvc {command}`")
    return Kill(command, delay, finished)


def final_run(site: Site) -> None:
    """One clean ingest, then ``serve`` until every delivery has ended; SIGTERM stops it."""
    result = site.run("ingest", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    proc = site.start("serve")
    server = Server(site.base, site.config, site.posts, proc, site.log)
    try:
        wait_healthy(site.base + "/healthz", proc, site.log)
        db = site.database()
        try:
            wait_for("every delivery ended", lambda: settled(db))
        finally:
            db.dispose()
        terminate(server)
    finally:
        kill_tree(proc)


def run_cycles(tmp_path: Path, storage_url: str) -> tuple[list[Kill], list[Message]]:
    rng = random.Random(SEED)
    site = new_site(tmp_path, storage_url)
    with ScriptedServer() as receiver:
        receiver.route("/hook", Reply(204))
        site.write_config(receiver.url("/hook"))
        upgraded = site.run("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        posts = Posts(site.posts, rng)
        for _ in range(3):
            posts.change()
        kills = []
        for n in range(CYCLES):
            command = "ingest" if n % 2 == 0 else "serve"
            delay = rng.uniform(0.3, 2.5) if command == "ingest" else rng.uniform(0.5, 6.0)
            kills.append(cycle(site, command, delay))
            posts.change()
        final_run(site)
        check_invariants(site, posts, messages(receiver.requests_to("/hook")))
        return kills, messages(receiver.requests_to("/hook"))


def check_invariants(site: Site, written: Posts, received: list[Message]) -> None:
    db = site.database()
    try:
        state = settled(db)
        assert state is not None
        stored, events, deliveries = state
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        db.dispose()

    # each post stored once: one row per live file; a deleted file's row (if a pass saw it
    # before it went) is marked removed
    keys = [p.external_key.removesuffix(".md") for p in stored]
    assert len(keys) == len(set(keys))
    assert set(written.versions) - written.deleted <= set(keys) <= set(written.versions)
    assert len({p.slug for p in stored}) == len(stored)
    for post in stored:
        key = post.external_key.removesuffix(".md")
        assert post.removed == (key in written.deleted), key
        assert post.title == f"{key} v{written.versions[key]}"

    # each change one event: per post one publish, then updates of ever newer versions, and one
    # deletion last for a deleted file; the last event carries the post's final state
    by_post: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for event in events:
        match = TITLE.match(event.payload["title"])
        assert match, event.payload["title"]
        by_post[match["key"]].append((event.type, int(match["version"])))
    assert set(by_post) == set(keys)
    for key, seen in by_post.items():
        types = [t for t, _ in seen]
        assert types[0] == "post.published", (key, seen)
        assert types.count("post.published") == 1, (key, seen)
        changes = [v for t, v in seen if t != "post.deleted"]
        assert changes == sorted(set(changes)), (key, seen)  # no change recorded twice
        if key in written.deleted:
            assert types[-1] == "post.deleted" and types.count("post.deleted") == 1, (key, seen)
        else:
            assert "post.deleted" not in types, (key, seen)
            assert seen[-1][1] == written.versions[key], (key, seen)

    # each event delivered at least once, always under the event's own webhook-id and body
    assert {d.status for d in deliveries} == {"succeeded"}
    assert sorted(d.event_id for d in deliveries) == sorted(e.id for e in events)
    by_id: dict[str, list[Message]] = defaultdict(list)
    for message in received:
        by_id[message.msg_id].append(message)
    assert set(by_id) == {e.msg_id for e in events}
    for event in events:
        copies = by_id[event.msg_id]
        assert {m.raw for m in copies} == {copies[0].raw}, event.msg_id
        assert (copies[0].type, copies[0].data) == (event.type, event.payload)


def summary(kills: list[Kill], received: list[Message]) -> str:
    ids = [m.msg_id for m in received]
    redelivered = len(ids) - len(set(ids))
    mid = sum(not k.finished for k in kills)
    return f"{len(kills)} kills ({mid} mid-run), {len(set(ids))} events, {redelivered} redelivered"


def test_sigkill_cycles_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kills, received = run_cycles(tmp_path, f"sqlite:///{tmp_path / 'faults.db'}")
    with capsys.disabled():
        print(f"\n[sqlite] {summary(kills, received)}")


def test_sigkill_cycles_postgres(
    tmp_path: Path, pg_schema_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kills, received = run_cycles(tmp_path, pg_schema_url)
    with capsys.disabled():
        print(f"\n[postgresql] {summary(kills, received)}")
