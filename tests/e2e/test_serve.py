"""`feedsvc serve` as a real process: polls get 304s, new posts show up, SIGTERM stops it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import feedparser
import pytest

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def feedsvc_command() -> list[str]:
    found = shutil.which("feedsvc") or str(Path(sys.executable).parent / "feedsvc")
    if not Path(found).exists():
        return [sys.executable, "-m", "feedsvc"]
    return [found]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_md(title: str, date: str) -> str:
    return f"---\ntitle: {title}\ndate: {date}\ncategories: [Python]\n---\n\n{title} 的正文。\n"


@dataclass
class Server:
    base: str
    config: Path
    posts: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*feedsvc_command(), "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            check=False,
        )


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_config(
    tmp_path: Path,
    port: int,
    server: str,
    extra: str = "",
    server_extra: str = "",
    site: str = 'language = "zh-CN"\n',
) -> Path:
    """A config serving ``tmp_path/posts``; ``extra`` is TOML appended as it is,
    ``server_extra`` more ``[server]`` keys, ``site`` more [site] keys (the language by default)."""
    config = tmp_path / "feedsvc.toml"
    config.write_text(
        f'[site]\ntitle = "端到端"\nbase_url = "http://127.0.0.1:{port}"\n{site}'
        f'[storage]\nurl = "sqlite:///{tmp_path / "e2e.db"}"\n'
        f'[server]\nhost = "127.0.0.1"\nport = {port}\nworkers = 2\nserver = "{server}"\n'
        + server_extra
        + '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\ninterval = "1h"\n'
        + extra,
        encoding="utf-8",
    )
    return config


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"feedsvc serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail(f"{url} did not come up within {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = {int(p) for p in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += sorted(kids - found)
            found |= kids
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def start_serve(config: Path, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """``feedsvc --config CONFIG serve OPTIONS`` in the config's folder, output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [*feedsvc_command(), "--config", str(config), "serve", *options],
            cwd=config.parent,
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def running(
    tmp_path: Path,
    server: str = "granian",
    extra_config: str = "",
    server_extra: str = "",
    site: str = 'language = "zh-CN"\n',
) -> Iterator[Server]:
    """``feedsvc serve`` on a free port, serving ``posts/first.md``; killed if still running."""
    port = free_port()
    config_path = write_config(tmp_path, port, server, extra_config, server_extra, site)
    posts = tmp_path / "posts"
    posts.mkdir(exist_ok=True)
    (posts / "first.md").write_text(post_md("第一篇", "2026-01-11T09:30:00+08:00"), "utf-8")
    log = tmp_path / "serve.log"
    proc = start_serve(config_path, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + "/healthz", proc, log)
        yield Server(base, config_path, posts, proc, log)
    finally:
        stop(proc)


def terminate(server: Server) -> None:
    """SIGTERM stops ``serve`` with exit status 0, and every process it started with it."""
    descendants = children(server.proc.pid)
    assert descendants, "serve started no worker or scheduler processes"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=STOP_TIMEOUT) == 0, server.log.read_text()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in descendants) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in descendants if alive(pid)]


@pytest.fixture(params=["granian", "gunicorn"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with running(tmp_path, request.param) as srv:
        yield srv


def poll(
    url: str, etag: str | None = None, modified: str | None = None
) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(url, etag=etag, modified=modified)
    assert "status" in parsed, parsed.get("bozo_exception")
    return parsed


def test_polls_changes_and_shutdown(server: Server) -> None:
    result = server.run("ingest")
    assert result.returncode == 0, result.stdout + result.stderr
    url = server.base + "/feed.atom"
    first = poll(url)
    assert first.status == 200
    assert [e.title for e in first.entries] == ["第一篇"]
    # ETags are a function of content: any worker answers the poll with 304
    for _ in range(4):
        again = poll(url, etag=first.etag, modified=first.modified)
        assert again.status == 304, (again.get("etag"), first.etag)
        assert again.etag == first.etag

    (server.posts / "second.md").write_text(post_md("第二篇", "2026-01-12T09:30:00+08:00"), "utf-8")
    result = server.run("ingest")
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 1.5
    while True:
        latest = poll(url, etag=first.etag, modified=first.modified)
        if latest.status != 304 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # feedparser sends "A-IM: feed": the old ETag gets only the new entry (RFC 3229)
    assert latest.status == 226
    assert [e.title for e in latest.entries] == ["第二篇"]
    assert latest.entries[0].id.startswith("tag:127.0.0.1,")
    full = poll(url)
    assert full.status == 200
    assert [e.title for e in full.entries] == ["第二篇", "第一篇"]
    assert full.entries[1].id == first.entries[0].id
    assert full.etag == latest.etag

    terminate(server)
