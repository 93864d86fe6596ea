"""SIGKILL of a `feedsvc ingest` whose pass renders in worker processes and stores in batches:
the workers end with it, what it committed is whole, and the next pass stores the rest with
one event per post, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from feedsvc.storage.db import Database
from feedsvc.storage.models import Event, Post
from tests.e2e.test_serve import children, clean_env, feedsvc_command
from tests.faults.harness import wait_gone

pytestmark = pytest.mark.e2e

COUNT = 600  # six batches, and enough files that the pass uses the pool


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedsvc.db'}"
    else:
        yield request.getfixturevalue("pg_schema_url")


def write_site(root: Path, storage_url: str) -> Path:
    posts = root / "posts"
    posts.mkdir()
    for n in range(COUNT):
        (posts / f"n{n:04d}.md").write_text(
            f"---\ntitle: note {n}\ndate: 2026-01-{1 + n % 28:02d}T10:00:00Z\n"
            f"tags: [t{n % 9}, shared]\n---\n\n# note {n}\n\n" + f"$x^{n}$ and text. " * 3 + "\n",
            encoding="utf-8",
        )
    config = root / "feedsvc.toml"
    config.write_text(
        '[site]\ntitle = "kill"\nbase_url = "https://kill.example"\nlanguage = "en"\n'
        f'[storage]\nurl = "{storage_url}"\n[ingest]\nworkers = 2\n'
        '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\n',
        encoding="utf-8",
    )
    return config


def feedsvc(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*feedsvc_command(), "--config", str(config), *args],
        cwd=config.parent,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stored_count(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Post)) or 0)


def test_a_killed_pooled_pass_loses_nothing(tmp_path: Path, storage_url: str) -> None:
    config = write_site(tmp_path, storage_url)
    assert feedsvc(config, "db", "upgrade").returncode == 0
    db = Database(storage_url)
    try:
        proc = subprocess.Popen(
            [*feedsvc_command(), "--config", str(config), "ingest", "--json"],
            cwd=tmp_path,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        workers: set[int] = set()
        deadline = time.monotonic() + 120
        while stored_count(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
            workers |= children(proc.pid)
            time.sleep(0.02)
        workers |= children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert workers, "the pass never started render workers"
        wait_gone(workers, "render workers of a killed `feedsvc ingest`")
        kept = stored_count(db)
        assert 0 < kept < COUNT, f"the kill came too late to test anything: {kept} stored"
        assert kept % 100 == 0  # whole batches only: one transaction each

        again = feedsvc(config, "ingest", "--json")
        assert again.returncode == 0, again.stderr
        totals = json.loads(again.stdout)
        assert (totals["new"], totals["unchanged"], totals["failed"]) == (COUNT - kept, kept, 0)
        with db.read() as session:
            keys = list(session.scalars(select(Post.external_key)))
            events = Counter((e.type, e.payload["title"]) for e in session.scalars(select(Event)))
            if db.engine.dialect.name == "sqlite":
                assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert sorted(keys) == [f"n{n:04d}.md" for n in range(COUNT)]
        assert events == Counter({("post.published", f"note {n}"): 1 for n in range(COUNT)})
    finally:
        db.dispose()
