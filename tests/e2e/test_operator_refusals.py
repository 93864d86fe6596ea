"""Issue 14 items 4 and 5: what an operator sees when a port, an address or a database is wrong
(one line, no traceback), and where links point when ``[site] base_url`` is not set."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest

from tests.e2e.test_serve import (
    clean_env,
    feedsvc_command,
    free_port,
    post_md,
    running,
    stop,
    wait_healthy,
    write_config,
)

pytestmark = pytest.mark.e2e


def feedsvc(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*feedsvc_command(), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        env=env or clean_env(),
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The whole of stderr, which must be exactly one line and no traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "feedsvc.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_port_out_of_range_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path = config(tmp_path, "[server]\nport = 99999\n")
    result = feedsvc(tmp_path, "--config", str(path), "serve")
    assert result.returncode == 2
    assert one_line(result) == (
        f"feedsvc: config error: {path}: server.port: must be between 1 and 65535, got 99999"
    )
    assert not (tmp_path / "feedsvc.db").exists()


def test_port_option_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    result = feedsvc(tmp_path, "serve", "--port", "70000")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "feedsvc serve: error: argument --port: 70000 is outside 1-65535"
    )


def test_port_held_by_another_program_refuses_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        path = write_config(tmp_path, port, "granian")
        result = feedsvc(tmp_path, "--config", str(path), "serve")
    assert result.returncode == 1
    assert one_line(result) == (
        f"feedsvc: cannot listen on 127.0.0.1:{port}: address already in use (another feedsvc"
        " or another program is listening there; stop it or choose another [server] port /"
        " --port)"
    )


def test_address_not_on_this_machine_refuses_in_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, free_port(), "granian")
    result = feedsvc(tmp_path, "--config", str(path), "serve", "--host", "192.0.2.1")
    assert result.returncode == 1
    assert "cannot listen on 192.0.2.1:" in one_line(result)
    assert one_line(result).endswith(
        "no such address on this machine (check [server] host / --host)"
    )


def test_second_feedsvc_on_the_same_port_refuses(tmp_path: Path) -> None:
    """granian binds with SO_REUSEPORT; a second serve must not start beside the first."""
    with running(tmp_path) as first:
        port = urlsplit(first.base).port
        other = tmp_path / "other"
        other.mkdir()
        path = write_config(other, port, "granian")
        (other / "posts").mkdir()
        result = feedsvc(other, "--config", str(path), "serve")
        assert result.returncode == 1
        assert one_line(result).startswith(
            f"feedsvc: cannot listen on 127.0.0.1:{port}: address already in use"
        )
        assert not (other / "e2e.db").exists()  # refused before it opened a database
        assert first.proc.poll() is None
        assert feedparser.parse(first.base + "/feed.atom").status == 200


@pytest.mark.parametrize("command", [["serve"], ["ingest"], ["db", "upgrade"], ["sources"]])
def test_postgres_down_names_the_host_without_password(tmp_path: Path, command: list[str]) -> None:
    port = free_port()  # nothing listens there
    path = config(
        tmp_path, f'[storage]\nurl = "postgresql://feeder:s3cret-pw@127.0.0.1:{port}/feeds"\n'
    )
    result = feedsvc(tmp_path, "--config", str(path), *command)
    assert result.returncode == 1
    line = one_line(result)
    assert "s3cret-pw" not in line
    assert line.startswith(
        f"feedsvc: database unavailable (postgresql://feeder@127.0.0.1:{port}/feeds): "
    )
    assert "Connection refused" in line
    assert line.endswith(
        "check that PostgreSQL is running and reachable there, and the user, password and"
        " database in [storage] url or FEEDSVC_DATABASE_URL"
    )


def test_sqlite_folder_missing_says_what_to_check(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "feedsvc.db"
    path = config(tmp_path, f'[storage]\nurl = "sqlite:///{db}"\n')
    result = feedsvc(tmp_path, "--config", str(path), "ingest")
    assert result.returncode == 1
    assert one_line(result) == (
        f"feedsvc: database unavailable (SQLite file {db}): unable to open database file;"
        " check that its folder exists and is writable by this user"
    )


def test_unknown_database_scheme_is_a_config_error(tmp_path: Path) -> None:
    path = config(tmp_path, '[storage]\nurl = "mysql://root@db/feeds"\n')
    result = feedsvc(tmp_path, "--config", str(path), "ingest")
    assert result.returncode == 2
    assert one_line(result) == (
        f"feedsvc: config error: {path}: storage.url: unknown database URL scheme 'mysql'"
        ' (use "sqlite:///path.db" or "postgresql://user@host:5432/db")'
    )


def test_postgres_scheme_is_accepted(tmp_path: Path, pg_schema_url: str) -> None:
    url = "postgres://" + pg_schema_url.split("://", 1)[1]
    path = config(tmp_path, f'[storage]\nurl = "{url}"\n')
    result = feedsvc(tmp_path, "--config", str(path), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("database at revision ")


def test_links_follow_the_port_served_without_base_url(tmp_path: Path) -> None:
    port = free_port()
    path = write_config(tmp_path, free_port(), "granian")
    text = path.read_text(encoding="utf-8")
    path.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("base_url")))
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "one.md").write_text(post_md("一", "2026-01-11T09:30:00+08:00"), "utf-8")
    assert feedsvc(tmp_path, "--config", str(path), "ingest").returncode == 0
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*feedsvc_command(), "--config", str(path), "serve", "--port", str(port)],
            cwd=tmp_path, env=clean_env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + "/healthz", proc, log)
        feed = feedparser.parse(base + "/feed.atom")
        assert not feed.bozo
        served = f"http://localhost:{port}"
        assert feed.feed.link == served + "/"
        assert [urlsplit(e.link).netloc for e in feed.entries] == [f"localhost:{port}"]
        assert {urlsplit(link.href).netloc for link in feed.feed.links} == {f"localhost:{port}"}
    finally:
        stop(proc)
