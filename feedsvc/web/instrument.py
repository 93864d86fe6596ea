"""WSGI middleware in front of everything (the feed fast path too): counts each response by
route (the URL rule's endpoint) and status, and times it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from feedsvc.telemetry import HTTP_RESPONSES, HTTP_SECONDS

UNMATCHED = "(unmatched)"
ROUTE_KEY = "feedsvc.route"


class Instrumented:
    def __init__(self, app: Flask, inner: Callable[..., Any]) -> None:
        self.flask = app
        self.inner = inner

    def route(self, environ: dict[str, Any]) -> str:
        known = environ.get(ROUTE_KEY)  # Flask routed it (the fast path does not route)
        if known:
            return str(known)
        try:
            rule, _ = self.flask.url_map.bind_to_environ(environ).match(return_rule=True)
        except (HTTPException, ValueError, UnicodeError):  # a path that routes nowhere
            return UNMATCHED
        return str(rule.endpoint)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        status = ["500"]

        def recording_start(code: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = code.split(" ", 1)[0]
            return (
                start_response(code, headers, exc_info)
                if exc_info
                else start_response(code, headers)
            )

        try:
            return self.inner(environ, recording_start)  # type: ignore[no-any-return]
        finally:
            route = self.route(environ)
            HTTP_RESPONSES.labels(route, status[0]).inc()
            HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)


def _note_route() -> None:
    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.endpoint
    else:
        request.environ[ROUTE_KEY] = UNMATCHED


def install(app: Flask) -> None:
    app.before_request(_note_route)
    app.wsgi_app = Instrumented(app, app.wsgi_app)  # type: ignore[method-assign]
