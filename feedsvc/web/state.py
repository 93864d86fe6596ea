"""What the web layer needs, held on the app (``app.extensions["feedsvc"]``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.storage.db import Database


@dataclass
class AppState:
    cfg: Config
    db: Database
    clock: Clock
    # per-process caches owned by the web modules (e.g. built feed representations)
    caches: dict[str, Any] = field(default_factory=dict)


def state(app: Flask | None = None) -> AppState:
    return (app or current_app).extensions["feedsvc"]  # type: ignore[no-any-return]
