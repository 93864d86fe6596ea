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
ROUTES_REMEMBERED = 4096  # paths whose route is remembered (the fast path's URLs, mostly)


class Instrumented:
    def __init__(self, app: Flask, inner: Callable[..., Any]) -> None:
        self.flask = app
        self.inner = inner
        # (method, path) -> endpoint: answers from the fast path are not routed by Flask, and
        # matching the URL map on each one cost a third of a cached 304's throughput
        self._routes: dict[tuple[str, str], str] = {}

    def route(self, environ: dict[str, Any]) -> str:
        known = environ.get(ROUTE_KEY)  # Flask routed it (the fast path does not route)
        if known:
            return str(known)
        key = (environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        found = self._routes.get(key)
        if found is None:
            try:
                rule, _ = self.flask.url_map.bind_to_environ(environ).match(return_rule=True)
                found = str(rule.endpoint)
            except (HTTPException, ValueError, UnicodeError):  # a path that routes nowhere
                found = UNMATCHED
            if len(self._routes) >= ROUTES_REMEMBERED:  # bounded: random paths cannot grow it
                self._routes.clear()
            self._routes[key] = found
        return found

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
