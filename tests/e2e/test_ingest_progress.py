"""Issue 14 item 7: ``feedsvc ingest`` progress on a terminal (a pty) and in a log (a pipe)."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from feedsvc.cli.progress import Progress
from tests.e2e.test_operator_refusals import config, feedsvc
from tests.e2e.test_serve import clean_env, feedsvc_command, post_md

pytestmark = pytest.mark.e2e

POSTS = 12


def site(tmp_path: Path) -> Path:
    posts = tmp_path / "posts"
    posts.mkdir()
    for i in range(POSTS):
        (posts / f"p{i}.md").write_text(post_md(f"第{i}篇", f"2026-01-{i + 1:02d}"), "utf-8")
    return config(
        tmp_path,
        '[storage]\nurl = "sqlite:///p.db"\n'
        '[[sources]]\nname = "posts"\nkind = "markdown"\npath = "posts"\n',
    )


def test_plain_line_when_not_a_terminal(tmp_path: Path) -> None:
    result = feedsvc(tmp_path, "--config", str(site(tmp_path)), "ingest")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("posts: ")]
    match = re.fullmatch(r"posts: (\d+)/(\d+) files, ([\d.]+)/s, done in ([\d.]+)s", line)
    assert match, line
    assert (int(match[1]), int(match[2])) == (POSTS, POSTS)
    assert float(match[3]) > 0
    assert result.stdout.startswith(f"posts: new {POSTS}, ")


def test_bar_with_count_rate_and_eta_on_a_terminal(tmp_path: Path) -> None:
    path = site(tmp_path)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*feedsvc_command(), "--config", str(path), "ingest"],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    final = screen.replace("\r\n", "\n").split("\r")[-1]
    match = re.search(
        r"posts: 100%\|.*\| (\d+)/(\d+) \[(\d\d:\d\d)<(\d\d:\d\d), +([\d.]+)file/s\]", final
    )
    assert match, repr(screen)
    assert (int(match[1]), int(match[2])) == (POSTS, POSTS)
    assert match[4] == "00:00"  # the ETA, with nothing left
    assert float(match[5]) > 0


def test_plain_lines_come_every_few_seconds() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress("blog", out, tty=False, clock=lambda: now[0], every=5.0)
    for done in range(1, 101):
        now[0] = done * 0.25  # 4 files a second, 25 s in all
        progress(done, 100)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "blog: 20/100 files, 4.0/s, about 20s left",
        "blog: 40/100 files, 4.0/s, about 15s left",
    ]
    assert len(lines) == 6  # at 5, 10, 15, 20, 25 s, then the final line
    assert lines[-1] == "blog: 100/100 files, 4.0/s, done in 25.0s"
