"""Child processes end with their parent.

``feedsvc serve`` starts WSGI workers (granian or gunicorn) and a scheduler child. When ``serve``
is killed with SIGKILL it cannot stop them, and they would go on serving (and polling, and
delivering) beside the next ``serve``. Each child therefore calls :func:`end_with_parent` when it
starts:

* on Linux it asks the kernel for a signal when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
* everywhere, a daemon thread checks ``os.getppid()`` every second and signals the process itself
  when the parent is gone (the parent's pid is then no longer its ppid), again every second, then
  kills it outright if it has not ended within the grace period.

The signal is SIGTERM, so a worker finishes the request in hand and the scheduler its job, as on a
clean stop. ``PR_SET_PDEATHSIG`` fires when the parent *thread* that started the child exits:
granian, gunicorn and ``serve`` start their children from the main thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading

log = logging.getLogger("feedsvc.lifecycle")

#: set by ``serve`` to its own pid; WSGI workers read it to know the parent they must outlive not
SERVE_PID_ENV = "FEEDSVC_SERVE_PID"
PR_SET_PDEATHSIG = 1
WATCH_INTERVAL = 1.0
GRACE = 10.0

_watching: int | None = None  # the pid whose watcher runs (a forked child must start its own)
_lock = threading.Lock()


def end_with_parent(
    parent_pid: int, *, interval: float = WATCH_INTERVAL, grace: float = GRACE
) -> bool:
    """Make this process end (SIGTERM, then SIGKILL after ``grace``) when ``parent_pid`` is gone.

    Returns whether the kernel's parent-death signal is set (Linux); the watch thread runs in any
    case. Safe to call more than once in a process.
    """
    global _watching
    armed = _set_parent_death_signal(signal.SIGTERM)
    with _lock:
        if _watching == os.getpid():
            return armed
        _watching = os.getpid()
    threading.Thread(
        target=_watch, args=(parent_pid, interval, grace), name="parent-watch", daemon=True
    ).start()
    return armed


def end_with_serve() -> bool:
    """In a WSGI worker started by ``feedsvc serve``: end with it. Elsewhere nothing happens."""
    value = os.environ.get(SERVE_PID_ENV, "")
    if not value.isdigit() or int(value) == os.getpid():
        return False
    end_with_parent(int(value))
    return True


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, interval: float, grace: float) -> None:
    # checked at once too: the parent may have died before the death signal was asked for
    while os.getppid() == parent_pid:
        threading.Event().wait(interval)
    log.warning("parent process %d is gone; this process ends", parent_pid)
    # SIGTERM again every interval: one that arrives before the server has installed its own
    # handler (a forked worker still runs its parent's) is lost
    for _ in range(max(1, int(grace / interval))):
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(interval)
    os.kill(os.getpid(), signal.SIGKILL)
