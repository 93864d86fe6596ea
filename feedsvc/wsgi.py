"""WSGI entry for servers: ``feedsvc.wsgi:create_wsgi_app``, a factory (no import-time work)."""

from __future__ import annotations

from flask import Flask

from feedsvc.app import create_app
from feedsvc.config import load_config, resolve_config_path
from feedsvc.lifecycle import end_with_serve
from feedsvc.logs import setup as setup_logging


def create_wsgi_app() -> Flask:
    end_with_serve()  # a worker of `feedsvc serve` must not outlive it (even a SIGKILLed one)
    cfg = load_config(resolve_config_path(None))
    setup_logging(cfg.logging)  # gunicorn workers; granian applies the same config itself
    return create_app(cfg)
