"""Issue 14 item 1: what ``feedsvc serve`` writes to its log, read as a person and a machine do."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import STOP_TIMEOUT, Server, running

pytestmark = pytest.mark.e2e

WAIT = 30.0
IDLE = 4.0  # seconds of idle serving whose log must stay empty (4 ticks of every 1 s job)


def wait_for(server: Server, needle: str) -> None:
    deadline = time.monotonic() + WAIT
    while needle not in server.log.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, server.log.read_text(encoding="utf-8")
        assert server.proc.poll() is None, server.log.read_text(encoding="utf-8")
        time.sleep(0.2)


def stopped_log(server: Server) -> list[str]:
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=STOP_TIMEOUT) == 0
    return server.log.read_text(encoding="utf-8").splitlines()


def idle_lines(server: Server) -> list[str]:
    """What the log gains while nothing happens."""
    before = len(server.log.read_text(encoding="utf-8").splitlines())
    time.sleep(IDLE)
    return server.log.read_text(encoding="utf-8").splitlines()[before:]


def test_json_logs_every_line_one_object(tmp_path: Path) -> None:
    with running(
        tmp_path, extra_config='[logging]\nformat = "json"\n', server_extra="access_log = true\n"
    ) as server:
        wait_for(server, "ingest pass")
        wait_for(server, "config webhooks synced")
        assert idle_lines(server) == []
        assert httpx.get(server.base + "/feed.atom?x=1").status_code == 200
        wait_for(server, "/feed.atom")
        lines = stopped_log(server)
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    loggers = {r["logger"] for r in records}
    assert {"feedsvc.serve", "feedsvc.scheduler", "_granian", "granian.access"} <= loggers
    assert not [r for r in records if r["logger"].startswith("apscheduler")]
    assert not [r for r in records if "threads" in r["message"]]  # granian's thread warning
    (ingest,) = [r for r in records if r["logger"] == "feedsvc.scheduler"]
    assert ingest["level"] == "INFO"
    assert (ingest["source"], ingest["new"], ingest["updated"], ingest["failed"]) == (
        "posts", 1, 0, 0,
    )  # fmt: skip
    assert ingest["message"].startswith("ingest pass: posts: new 1, updated 0, removed 0, failed 0")
    access = [r for r in records if r["logger"] == "granian.access"]
    assert [(r["method"], r["path"], r["query_string"], r["status"]) for r in access] == [
        ("GET", "/healthz", "", 200),  # the start-up wait's one successful poll
        ("GET", "/feed.atom", "x=1", 200),
    ]


def test_text_logs_show_fields_and_stay_quiet(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "broken.md").write_text("---\ntitle: [\n---\nx\n", encoding="utf-8")
    with running(tmp_path, extra_config='[logging]\nlevel = "info"\nformat = "text"\n') as server:
        wait_for(server, "ingest pass")
        assert idle_lines(server) == []
        assert httpx.get(server.base + "/feed.atom").status_code == 200
        lines = stopped_log(server)
    assert not [ln for ln in lines if "apscheduler" in ln or "granian.access" in ln]
    (failed,) = [ln for ln in lines if " WARNING feedsvc.ingest: " in ln]
    assert failed.split(" WARNING feedsvc.ingest: ", 1)[1].startswith(
        "ingest item failed source=posts item=broken.md reason=front matter is not valid YAML"
    )
    (passed,) = [ln for ln in lines if " INFO feedsvc.scheduler: " in ln]
    message = passed.split(" INFO feedsvc.scheduler: ", 1)[1]
    assert message.startswith("ingest pass: posts: new 1, updated 0, removed 0, failed 1 (")
    assert " source=posts new=1 updated=0 unchanged=0 removed=0 failed=1 duration=" in message
