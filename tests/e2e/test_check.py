"""Issue 14 item 3: ``feedsvc check`` and the read-only commands, run as a person runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.test_operator_refusals import config, feedsvc

pytestmark = pytest.mark.e2e


def lines(out: str) -> list[str]:
    return out.splitlines()


def test_check_names_each_failure_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    path = config(
        tmp_path,
        '[storage]\nurl = "sqlite:///feedsvc.db"\n[admin]\ntoken = "a-long-admin-token"\n'
        '[[sources]]\nname = "blog"\nkind = "markdown"\npath = "posts"\n'
        '[[sources]]\nname = "gone"\nkind = "markdown"\npath = "nothere"\n'
        '[[sources]]\nname = "local"\nkind = "feed"\nurl = "http://127.0.0.1:9/feed.xml"\n'
        '[[webhooks]]\nurl = "http://10.1.2.3/hook"\n',
    )
    result = feedsvc(tmp_path, "--config", str(path), "check")
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert lines(result.stdout) == [
        f"ok    config: {path} (3 sources, 1 webhooks)",
        "ok    database: SQLite file feedsvc.db does not exist yet"
        " (serve, ingest or db upgrade creates it)",
        f"ok    source blog: folder {tmp_path / 'posts'} is readable",
        f"FAIL  source gone: folder {tmp_path / 'nothere'} does not exist",
        "FAIL  source local: http://127.0.0.1:9/feed.xml refused by the network policy:"
        " 127.0.0.1 is a loopback address ([network] allow_private_networks)",
        "FAIL  webhook http://10.1.2.3/hook: refused by the network policy:"
        " 10.1.2.3 is a private address ([network] allow_private_networks)",
        "ok    admin token: set (18 characters)",
        "3 of 7 checks failed: source gone, source local, webhook http://10.1.2.3/hook",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedsvc.toml", "posts"]


def test_check_passes_on_a_migrated_database(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    path = config(
        tmp_path,
        '[storage]\nurl = "sqlite:///feeds.db"\n'
        '[[sources]]\nname = "blog"\nkind = "markdown"\npath = "posts"\n',
    )
    assert feedsvc(tmp_path, "--config", str(path), "db", "upgrade").returncode == 0
    with sqlite3.connect(tmp_path / "feeds.db") as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    result = feedsvc(tmp_path, "--config", str(path), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result.stdout) == [
        f"ok    config: {path} (1 sources, 0 webhooks)",
        f"ok    database: SQLite file feeds.db at revision {revision} (current)",
        f"ok    source blog: folder {tmp_path / 'posts'} is readable",
        "ok    admin token: not set: the admin API (/api/v1) answers 403",
        "all 4 checks passed",
    ]


def test_check_with_a_broken_config_is_one_failed_check(tmp_path: Path) -> None:
    path = config(tmp_path, "[server]\nport = 0\n")
    result = feedsvc(tmp_path, "--config", str(path), "check")
    assert result.returncode == 1
    assert lines(result.stdout) == [
        f"FAIL  config: {path}: server.port: must be between 1 and 65535, got 0",
        "1 of 1 checks failed: config",
    ]


def test_check_reports_an_unreachable_postgres(tmp_path: Path) -> None:
    from tests.e2e.test_serve import free_port

    port = free_port()
    path = config(tmp_path, f'[storage]\nurl = "postgresql://u:pw@127.0.0.1:{port}/feeds"\n')
    result = feedsvc(tmp_path, "--config", str(path), "check")
    assert result.returncode == 1
    failures = [ln for ln in lines(result.stdout) if ln.startswith("FAIL")]
    assert len(failures) == 1
    assert failures[0].startswith(
        f"FAIL  database: unavailable (postgresql://u@127.0.0.1:{port}/feeds)"
    )
    assert "pw" not in failures[0].replace("password", "")
    assert lines(result.stdout)[-1] == "1 of 4 checks failed: database"


@pytest.mark.parametrize(
    ("command", "stdout"),
    [
        (["sources"], "examples (markdown): status idle, last run never, next run on schedule\n"),
        (["sources", "--json"], None),
        (["webhooks", "list"], "no webhooks\n"),
        (["webhooks", "list", "--json"], "[]\n"),
        (["deliveries", "list"], "0 of 0 deliveries\n"),
        (["deliveries", "list", "--json"], "[]\n"),
    ],
)
def test_read_only_commands_create_no_database(
    tmp_path: Path, command: list[str], stdout: str | None
) -> None:
    import json

    result = feedsvc(tmp_path, *command)  # the defaults: ./feedsvc.db
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "feedsvc: no database yet (SQLite file feedsvc.db):"
        " `feedsvc serve`, `ingest` or `db upgrade` creates it\n"
    )
    if stdout is None:
        (status,) = json.loads(result.stdout)
        assert (status["name"], status["status"], status["last_run"]) == ("examples", "idle", None)
    else:
        assert result.stdout == stdout
    assert list(tmp_path.iterdir()) == []
