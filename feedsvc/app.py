"""The Flask app factory, the web's composition root: nothing is opened or started at import."""

from __future__ import annotations

from flask import Flask

from feedsvc.clock import Clock, SystemClock
from feedsvc.config import Config, load_config
from feedsvc.storage.db import Database
from feedsvc.storage.migrate import ensure_schema
from feedsvc.web.routes import register_routes
from feedsvc.web.state import AppState


def create_app(config: Config | None = None, *, clock: Clock | None = None) -> Flask:
    cfg = config if config is not None else load_config(None)
    app = Flask("feedsvc")
    app.config["MAX_CONTENT_LENGTH"] = cfg.admin.max_body_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    db = Database(cfg.storage.url)
    ensure_schema(db)
    app.extensions["feedsvc"] = AppState(cfg=cfg, db=db, clock=clock or SystemClock())
    register_routes(app)
    return app
