"""A pass killed with SIGKILL leaves consistent data; the next pass finishes with no duplicates."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.integration.test_cli import FEEDSVC

POSTS = 3000


def count(db_path: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db_path, timeout=30) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # schema not there yet


def test_sigkill_mid_pass_then_resume(tmp_path):
    posts = tmp_path / "posts"
    posts.mkdir()
    for i in range(POSTS):
        (posts / f"p{i:05d}.md").write_text(
            f"---\ntitle: 第 {i} 篇\ncategories: [c{i % 7}]\ntags: [t{i % 11}]\n---\n"
            f"正文 {i} $x_{i}$\n",
            encoding="utf-8",
        )
    db_path = tmp_path / "crash.db"
    config = tmp_path / "feedsvc.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{db_path}"\n'
        '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [FEEDSVC, "--config", str(config), "ingest", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while count(db_path, "SELECT count(*) FROM posts") < 300:
        assert proc.poll() is None, "ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        assert 300 <= stored < POSTS
        # each post committed together with its categories, tags and its event
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == stored
        assert conn.execute("SELECT count(*) FROM post_categories").fetchone()[0] == stored
        assert conn.execute("SELECT count(*) FROM post_tags").fetchone()[0] == stored

    resumed = subprocess.run(
        [FEEDSVC, "--config", str(config), "ingest", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM posts").fetchone()[0] == POSTS
        assert conn.execute("SELECT count(DISTINCT external_key) FROM posts").fetchone()[0] == POSTS
        assert conn.execute("SELECT count(DISTINCT guid) FROM posts").fetchone()[0] == POSTS
        events = conn.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
        assert events == [("post.published", POSTS)]
        assert conn.execute("SELECT count(*) FROM posts WHERE visible").fetchone()[0] == POSTS
