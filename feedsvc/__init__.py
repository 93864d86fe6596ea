"""feedsvc: a self-hosted feed service."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from flask import Flask

    from feedsvc.clock import Clock
    from feedsvc.config import Config


def create_app(config: Config | None = None, *, clock: Clock | None = None) -> Flask:
    """The Flask app factory: nothing is opened or started at import time."""
    from flask import Flask

    from feedsvc.clock import SystemClock
    from feedsvc.config import load_config
    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import ensure_schema
    from feedsvc.web.routes import register_routes
    from feedsvc.web.state import AppState

    cfg = config if config is not None else load_config(None)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = cfg.admin.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    db = Database(cfg.storage.url)
    ensure_schema(db)
    app.extensions["feedsvc"] = AppState(cfg=cfg, db=db, clock=clock or SystemClock())
    register_routes(app)
    return app
