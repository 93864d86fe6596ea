"""``feedsvc serve``: a production WSGI server (granian by default, gunicorn optional) plus
the scheduler in a child process; SIGTERM stops both cleanly."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from feedsvc.bindcheck import check_can_listen
from feedsvc.config import Config
from feedsvc.lifecycle import SERVE_PID_ENV
from feedsvc.logs import dict_config

log = logging.getLogger("feedsvc.serve")
WSGI_FACTORY = "feedsvc.wsgi:create_wsgi_app"
# feedsvc.telemetry.MULTIPROC_ENV; not imported: prometheus_client picks its multiprocess mode
# at import, so it must not be imported here before the variable is set (workers may fork)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve(cfg: Config, *, config_path: str | None, host: str | None, port: int | None) -> int:
    host = host or cfg.server.host
    port = port or cfg.server.port
    check_can_listen(host, port)  # one clear line instead of granian's traceback
    if config_path:
        os.environ["FEEDSVC_CONFIG"] = config_path  # workers load the same config
    # ... and the address served, so that without [site] base_url their links follow it
    os.environ["FEEDSVC_SERVER_HOST"], os.environ["FEEDSVC_SERVER_PORT"] = host, str(port)
    metrics_dir = _metrics_dir()  # before any child starts: they all write their samples there
    os.environ[SERVE_PID_ENV] = str(os.getpid())  # workers end with this process (lifecycle)
    scheduler = spawn_scheduler(config_path)
    log.info(
        "serving on http://%s:%s with %s x%d", host, port, cfg.server.server, cfg.server.workers
    )
    try:
        if cfg.server.server == "gunicorn":
            return _gunicorn(cfg, host, port)
        return _granian(cfg, host, port)
    finally:
        _stop(scheduler)
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir() -> str | None:
    """A fresh PROMETHEUS_MULTIPROC_DIR for this serve (removed at exit); one the operator set
    is used as it is (and is theirs to empty between runs)."""
    if os.environ.get(MULTIPROC_ENV):
        return None
    for stale in Path(tempfile.gettempdir()).glob("feedsvc-metrics-*-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and Path("/proc/self").exists() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=f"feedsvc-metrics-{os.getpid()}-")
    os.environ[MULTIPROC_ENV] = path
    return path


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _granian(cfg: Config, host: str, port: int) -> int:
    from granian.constants import Interfaces
    from granian.server import Server

    # granian's default is half its backlog per worker (256 threads for 2 workers), and it warns
    # past 2 x cores + 1: feedsvc answers from memory and SQLite, so that many is plenty
    threads = cfg.server.threads or 2 * (os.cpu_count() or 1) + 1
    server = Server(
        WSGI_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=cfg.server.workers,
        factory=True,
        blocking_threads=threads,
        backpressure=threads,  # requests in Python at once per worker: no more than threads
        log_dictconfig=dict_config(cfg.logging),
        log_access=cfg.server.access_log,
        respawn_failed_workers=True,
        workers_kill_timeout=10,
    )
    server.serve()
    return 0


def _gunicorn(cfg: Config, host: str, port: int) -> int:
    from gunicorn.app.base import BaseApplication

    class App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", cfg.server.workers)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("logconfig_dict", dict_config(cfg.logging))
            if cfg.server.access_log:
                self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            from feedsvc.wsgi import create_wsgi_app

            return create_wsgi_app()

    sys.argv = sys.argv[:1]  # gunicorn parses argv itself
    App().run()
    return 0


def spawn_scheduler(config_path: str | None) -> subprocess.Popen[bytes]:
    """Start ``feedsvc scheduler`` as a child that exits when this process goes away."""
    cmd = [sys.executable, "-m", "feedsvc"]
    if config_path:
        cmd += ["--config", config_path]
    cmd += ["scheduler", "--parent-pid", str(os.getpid())]
    return subprocess.Popen(cmd, cwd=Path.cwd())
