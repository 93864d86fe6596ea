"""Config sections and checks kept out of config.py (which stays under 400 lines): ``[logging]``;
the base URL that stands in for an unset ``[site] base_url``; the time zone and database URL
checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"
    format: str = "text"


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
