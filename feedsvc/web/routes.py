"""All routes, visible in one place."""

from __future__ import annotations

from flask import Flask

from feedsvc.web import health


def register_routes(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", health.healthz)
