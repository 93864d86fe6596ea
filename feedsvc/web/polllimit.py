"""``[server] poll_limit``: a request budget per client per feed URL, answered with 429.

Counted in each worker process (fixed windows, in memory): with ``workers = W`` a client can
get up to W x N requests per window before every worker refuses it. Polls stay free of database
writes that way; the limit is for pollers far beyond any sensible rate, not for exact quotas.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask

from feedsvc.config import parse_poll_limit
from feedsvc.feeds.service import parse_feed_path
from feedsvc.web.feeds import page_number
from feedsvc.web.state import state

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TOO_MANY = "429 Too Many Requests"
MAX_KEYS = 100_000  # (client, URL) windows remembered per process before expired ones go


class PollBudget:
    """Fixed-window request counters per key; thread-safe."""

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.limit, self.window = limit, window
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._windows: dict[Any, list[float]] = {}  # key -> [window start, count]
        self._lock = threading.Lock()

    def take(self, key: Any) -> float | None:
        """Count one request: None when within the budget, else seconds until it refills."""
        now = self._monotonic()
        with self._lock:
            found = self._windows.get(key)
            if found is None or now >= found[0] + self.window:
                if found is None and len(self._windows) >= self._max_keys:
                    self._forget_expired(now)
                self._windows[key] = [now, 1]
                return None
            if found[1] < self.limit:
                found[1] += 1
                return None
            return found[0] + self.window - now

    def _forget_expired(self, now: float) -> None:
        expired = [k for k, (start, _) in self._windows.items() if now >= start + self.window]
        for key in expired:
            del self._windows[key]
        if len(self._windows) >= self._max_keys:
            self._windows.clear()  # a flood of distinct clients: start every window afresh


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    """The ``[server] trusted_proxies`` entries (validated by config) as networks."""
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def client_address(environ: Mapping[str, Any], proxies: tuple[Network, ...]) -> str:
    """The client: the peer, or (from a trusted proxy) the X-Forwarded-For hop nearest to us
    that is not itself a trusted proxy; hops added before the first untrusted one may be forged."""
    peer = str(environ.get("REMOTE_ADDR") or "")
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


class PollLimit:
    """WSGI middleware in front of the fast path: 429 once a client spent its budget for a URL."""

    def __init__(
        self, app: Callable[..., Any], budget: PollBudget, proxies: tuple[Network, ...]
    ) -> None:
        self.app, self.budget, self.proxies = app, budget, proxies
        self.message = f"poll limit: at most {budget.limit} requests per {budget.window:g} s"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            path = environ.get("PATH_INFO", "")
            if parse_feed_path(path) is not None:
                key = (client_address(environ, self.proxies), path, page_number(environ))
                wait = self.budget.take(key)
                if wait is not None:
                    return self._refuse(environ, start_response, wait)
        return self.app(environ, start_response)

    def _refuse(
        self, environ: Mapping[str, Any], start_response: Callable[..., Any], wait: float
    ) -> Any:
        seconds = max(1, math.ceil(wait))
        body = f"{self.message} for this feed; retry after {seconds} s\n".encode()
        start_response(
            TOO_MANY,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Retry-After", str(seconds)),  # RFC 6585 §4, RFC 9110 §10.2.3
                ("Cache-Control", "no-store"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body] if environ.get("REQUEST_METHOD") == "GET" else []


def install_poll_limit(app: Flask) -> None:
    """Put the budget in front of everything when ``[server] poll_limit`` is set (else nothing)."""
    server = state(app).cfg.server
    parsed = parse_poll_limit(server.poll_limit)
    if parsed is None:
        return
    limit, window = parsed
    budget = PollBudget(limit, window)
    app.wsgi_app = PollLimit(app.wsgi_app, budget, networks(server.trusted_proxies))  # type: ignore[method-assign]
