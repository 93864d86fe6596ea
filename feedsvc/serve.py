"""``feedsvc serve``: a production WSGI server (granian by default, gunicorn optional) plus
the scheduler in a child process; SIGTERM stops both cleanly."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from feedsvc.config import Config
from feedsvc.lifecycle import SERVE_PID_ENV

log = logging.getLogger("feedsvc.serve")
WSGI_FACTORY = "feedsvc.wsgi:create_wsgi_app"


def serve(cfg: Config, *, config_path: str | None, host: str | None, port: int | None) -> int:
    host = host or cfg.server.host
    port = port or cfg.server.port
    if config_path:
        os.environ["FEEDSVC_CONFIG"] = config_path  # workers load the same config
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

    server = Server(
        WSGI_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=cfg.server.workers,
        factory=True,
        log_access=False,
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
