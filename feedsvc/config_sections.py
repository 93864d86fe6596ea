"""Config sections and checks kept out of config.py (which stays under 400 lines): ``[logging]``,
``[ingest]``;
the base URL that stands in for an unset ``[site] base_url``; durations, the poll limit, and the
time zone, database URL and polling checks."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    format: str = "text"


@dataclass(frozen=True)
class IngestConfig:
    workers: int = 0  # render processes for a Markdown pass: 0 = one per core, 1 = in-process


def ingest_workers(section: IngestConfig) -> int:
    """How many processes render a large Markdown pass (``0``: one per core)."""
    return section.workers or os.cpu_count() or 1


def logging_problem(section: LoggingConfig) -> str | None:
    """What is wrong with ``[logging]`` (key: reason), or None."""
    if section.level.lower() not in LOG_LEVELS:
        return f"logging.level: must be one of {', '.join(LOG_LEVELS)}, got {section.level!r}"
    if section.format not in LOG_FORMATS:
        return f'logging.format: must be "text" or "json", got {section.format!r}'
    return None


def served_base_url(host: str, port: int) -> str:
    """``http://host:port`` for an address served; loopback and wildcard are "localhost"."""
    if host in ("", "127.0.0.1", "0.0.0.0", "::", "::1", "localhost"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")


def database_scheme(url: str) -> str:
    """The backend a database URL names: "postgresql+psycopg://…" is "postgresql"."""
    head, sep, _ = url.partition("://")
    return head.split("+", 1)[0].lower() if sep else url


def storage_url_problem(url: str) -> str | None:
    """What is wrong with ``[storage] url`` (key: reason), or None."""
    scheme = database_scheme(url)
    if scheme not in DATABASE_SCHEMES:
        return (
            f"storage.url: unknown database URL scheme {scheme!r}"
            ' (use "sqlite:///path.db" or "postgresql://user@host:5432/db")'
        )
    return None


def timezone_problem(name: str) -> str | None:
    """What is wrong with ``[site] timezone`` (key: reason), or None."""
    # ZoneInfo also reads file paths: accept only names shaped like IANA's (Area/Location, UTC)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*", name):
        return f'site.timezone: {name!r} is not an IANA time zone name ("Asia/Shanghai")'
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f'site.timezone: unknown time zone {name!r} (an IANA name such as "Asia/Shanghai")'
    return None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: object) -> float:
    """Seconds from "30s", "5m", "2h", "1d", "250ms" or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "30s", "5m" or a number of seconds')
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f'{value!r} is not a duration such as "30s", "5m", "2h"')


def parse_poll_limit(value: str) -> tuple[int, float] | None:
    """(requests, window seconds) from "60/1h"; None for "" (no limit)."""
    if not value.strip():
        return None
    count, slash, window = value.partition("/")
    if not slash or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f'{value!r} is not a limit such as "60/1h" (requests/duration)')
    seconds = parse_duration(window)
    if seconds <= 0:
        raise ValueError(f"{value!r}: the window must be longer than 0 seconds")
    return int(count), seconds


def polling_problem(poll_limit: str, trusted_proxies: tuple[str, ...]) -> str | None:
    """What is wrong with ``[server] poll_limit`` / ``trusted_proxies`` (key: reason), or None."""
    try:
        parse_poll_limit(poll_limit)
    except ValueError as exc:
        return f"server.poll_limit: {exc}"
    for i, proxy in enumerate(trusted_proxies):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            return f"server.trusted_proxies[{i}]: {proxy!r} is not an IP address or CIDR network"
    return None
