"""Admin API plumbing: the bearer-token gate and JSON error bodies for everything under /api/v1."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    default_exceptions,
)

from feedsvc.web.state import state

log = logging.getLogger("feedsvc.api")

API_PREFIX = "/api/v1"
REALM = 'Bearer realm="feedsvc"'
DISABLED = "admin API disabled: set [admin] token or FEEDSVC_ADMIN_TOKEN"


def error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """A JSON error response: ``{"error": message, ...extra}``."""
    return jsonify(error=message, **extra), status


def check_admin() -> tuple[Response, int] | None:
    """403 when no token is configured (never open), 401 unless the bearer token matches."""
    token = state().cfg.admin.token
    if not token:
        return error(403, DISABLED)
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    given = given.strip()
    # WSGI headers arrive latin-1 decoded: encoding back gives the bytes that were sent.
    if (
        scheme.lower() != "bearer"
        or not given
        or not hmac.compare_digest(given.encode("latin-1", "replace"), token.encode("utf-8"))
    ):
        resp, status = error(401, "missing or invalid bearer token")
        resp.headers["WWW-Authenticate"] = REALM
        return resp, status
    return None


def too_large_message() -> str:
    """The 413 reason, for the admin API and /hub alike."""
    return f"request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    extra = getattr(exc, "extra", None) or {}
    message = exc.description or exc.name
    if isinstance(exc, RequestEntityTooLarge):
        message = too_large_message()
    resp, status = error(exc.code or 500, message, **extra)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return resp, status


def _internal_error(exc: Exception) -> tuple[Response, int]:
    cause = getattr(exc, "original_exception", None) or exc
    log.error("admin API request failed", exc_info=cause, extra={"url": request.path})
    return error(500, "internal error")


def api_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under /api/v1 with the admin gate and JSON errors (400, 404, 405, 413, …)."""
    bp = Blueprint(name, import_name, url_prefix=API_PREFIX)
    bp.before_request(check_admin)
    # Per code, not only per class: Flask prefers an app handler for the code (the HTML 404
    # page) over a blueprint handler registered for HTTPException.
    for code in default_exceptions:
        bp.register_error_handler(code, _internal_error if code == 500 else _http_error)
    bp.register_error_handler(HTTPException, _http_error)
    return bp


# Routing errors (unknown path or method) belong to no blueprint, so Flask would answer them
# with HTML; this catch-all keeps every /api/v1/* answer JSON and behind the admin gate.
fallback = api_blueprint("api", __name__)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@fallback.route("/", defaults={"rest": ""}, methods=_METHODS, strict_slashes=False)
@fallback.route("/<path:rest>", methods=_METHODS)
def unmatched(rest: str) -> tuple[Response, int]:
    """404, or 405 with Allow when another API route serves this path with other methods."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = set()
    for method in _METHODS:
        try:
            rule, _ = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint != request.endpoint:
            allowed.add(method)
    if allowed:
        methods = sorted(allowed | {"OPTIONS"})
        return _http_error(MethodNotAllowed(methods, f"method {request.method} not allowed here"))
    return _http_error(NotFound(f"no API endpoint {request.path}"))
