"""Issue 12 item 8: children end with their parent. A SIGKILLed ``feedsvc serve`` leaves no worker
or scheduler behind, and a new ``serve`` then has the port to itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import feedparser
import pytest

from feedsvc import lifecycle
from tests.e2e.test_serve import alive, children, running, terminate
from tests.faults.harness import kill_tree, wait_for, wait_gone

pytestmark = pytest.mark.e2e

# A parent that starts a child calling end_with_parent, prints the child's pid, then sleeps. It is
# killed at once: often before the child has asked to end with it, a race the watcher covers.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
    print(child.pid, flush=True)
    time.sleep(600)
    """
)
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from feedsvc import lifecycle
    if {fallback_only}:
        lifecycle._set_parent_death_signal = lambda sig: False
    lifecycle.end_with_parent(int(sys.argv[1]), interval=0.1, grace=2.0)
    if {ignore_term}:
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)
    """
)


@pytest.mark.parametrize(
    ("fallback_only", "ignore_term"),
    [(False, False), (True, False), (True, True)],
    ids=["pdeathsig", "watch-thread", "sigterm-ignored"],
)
def test_child_ends_when_its_parent_is_killed(fallback_only: bool, ignore_term: bool) -> None:
    child_code = CHILD.format(fallback_only=fallback_only, ignore_term=ignore_term)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, child_code], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert child in children(parent.pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    try:
        wait_gone({child}, "a child whose parent was killed")
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_parent_death_signal_is_set_on_linux() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    code = (
        "import ctypes, os, signal\n"
        "from feedsvc import lifecycle\n"
        "assert lifecycle.end_with_parent(os.getppid())\n"
        "libc = ctypes.CDLL(None)\n"
        "sig = ctypes.c_int()\n"
        "assert libc.prctl(2, ctypes.byref(sig), 0, 0, 0) == 0\n"  # PR_GET_PDEATHSIG
        "print(sig.value)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == signal.SIGTERM


def test_end_with_serve_does_nothing_outside_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lifecycle.SERVE_PID_ENV, raising=False)
    assert lifecycle.end_with_serve() is False
    monkeypatch.setenv(lifecycle.SERVE_PID_ENV, str(os.getpid()))  # serve itself
    assert lifecycle.end_with_serve() is False


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_sigkilled_serve_leaves_no_process_and_frees_the_port(tmp_path: Path, server: str) -> None:
    first = tmp_path / "first"
    first.mkdir()
    with running(first, server) as srv:
        descendants = children(srv.proc.pid)
        assert len(descendants) >= 3, "expected two workers and the scheduler"
        port = srv.base.rsplit(":", 1)[1]
        kill_tree(srv.proc)
        wait_gone(descendants, f"{server} workers and the scheduler of a SIGKILLed serve")
        # nothing answers on the port any more
        gone = feedparser.parse(srv.base + "/feed.atom")
        assert "status" not in gone, gone.get("status")

        # a new serve on the same port is the only one answering
        proc = srv.proc.__class__(
            [*srv_command(srv.config), "serve", "--port", port],
            cwd=first,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for("the second serve", lambda: _up(srv.base))
            srv.proc = proc
            terminate(srv)
        finally:
            kill_tree(proc)


def srv_command(config: Path) -> list[str]:
    from tests.e2e.test_serve import feedsvc_command

    return [*feedsvc_command(), "--config", str(config)]


def _up(base: str) -> bool | None:
    parsed = feedparser.parse(base + "/feed.atom")
    return True if parsed.get("status") == 200 else None
