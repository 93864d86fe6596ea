"""PostgreSQL restarted under load: a private server (never the shared one on 5432) is stopped
and started while pollers request feeds and an ingest runs; ``feedsvc serve`` answers again
without being restarted, and the data is consistent."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest

from tests.e2e.test_serve import Server, free_port, terminate, wait_healthy
from tests.faults.harness import kill_tree, new_site, read_state, wait_for
from tests.httpserver import Reply, ScriptedServer

pytestmark = pytest.mark.e2e

BIN = Path("/usr/lib/postgresql/15/bin")


def as_postgres(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *cmd],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


@pytest.fixture
def private_pg() -> Iterator[tuple[str, list[str]]]:
    if not (BIN / "initdb").exists() or not (BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {BIN}")
    if shutil.which("runuser") is None:
        pytest.skip("runuser is needed to run initdb as the postgres user")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres OS user to run a private PostgreSQL server")
    data = Path(tempfile.mkdtemp(prefix="feedsvc-pg-"))
    shutil.chown(data, "postgres")
    data.chmod(0o700)
    port = free_port()
    as_postgres(str(BIN / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    ctl = [str(BIN / "pg_ctl"), "-D", str(data / "db"), "-o", opts, "-l", str(data / "log")]
    as_postgres(*ctl, "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", ctl
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *ctl, "-m", "immediate", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)


def test_serve_recovers_when_postgresql_restarts(
    tmp_path: Path, private_pg: tuple[str, list[str]]
) -> None:
    url, ctl = private_pg  # pg_ctl with the instance's data dir, options and log
    site = new_site(tmp_path, url)
    with ScriptedServer() as receiver:
        receiver.route("/hook", Reply(204))
        site.write_config(receiver.url("/hook"))
        for n in range(40):
            (site.posts / f"p{n:02d}.md").write_text(
                f"---\ntitle: Post {n}\ndate: 2026-01-01\n---\n\nBody {n}.\n"
            )
        assert site.run("db", "upgrade").returncode == 0
        proc = site.start("serve")
        stop = threading.Event()
        statuses: list[int] = []

        def poll() -> None:
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    try:
                        statuses.append(client.get(site.base + "/feed.atom").status_code)
                    except httpx.HTTPError:
                        statuses.append(0)

        pollers = [threading.Thread(target=poll) for _ in range(2)]
        try:
            wait_healthy(site.base + "/healthz", proc, site.log)
            for t in pollers:
                t.start()
            ingest = site.start("ingest", "--json")
            as_postgres(*ctl, "-m", "fast", "-w", "stop")
            ingest.wait(timeout=120)  # it may fail: the database went away under it
            as_postgres(*ctl, "-w", "start")

            # the same serve process answers again, with the data
            (site.posts / "after.md").write_text(
                "---\ntitle: After restart\ndate: 2026-06-01\n---\n\nBack.\n"
            )
            result = site.run("ingest", "--json")
            assert result.returncode == 0, result.stdout + result.stderr

            def fresh() -> feedparser.FeedParserDict | None:
                parsed = feedparser.parse(site.base + "/feed.atom")
                ok = parsed.get("status") == 200 and not parsed.bozo
                titles = {e.title for e in parsed.entries} if ok else set()
                return parsed if "After restart" in titles else None

            feed = wait_for("the feed after the restart", fresh, timeout=60)
            assert proc.poll() is None, "serve must not need a restart"
            stop.set()
            for t in pollers:
                t.join()
            assert statuses and statuses[-1] == 200
            assert 0 not in statuses  # the web server itself never went away
            assert "After restart" in {e.title for e in feed.entries}

            db = site.database()
            try:
                stored, events, _ = read_state(db)
            finally:
                db.dispose()
            keys = [p.external_key for p in stored]
            assert sorted(keys) == sorted([f"p{n:02d}.md" for n in range(40)] + ["after.md"])
            assert sorted(e.type for e in events) == ["post.published"] * len(keys)
            terminate(Server(site.base, site.config, site.posts, proc, site.log))
        finally:
            stop.set()
            for t in pollers:
                if t.is_alive():
                    t.join()
            kill_tree(proc)
