"""Liveness/readiness."""

from __future__ import annotations

from flask import Response, jsonify

from feedsvc.web.state import state


def healthz() -> tuple[Response, int]:
    ok = state().db.ping()
    return jsonify(status="ok" if ok else "unavailable", database=ok), 200 if ok else 503
