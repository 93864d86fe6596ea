"""Config sections kept out of config.py (which stays under 400 lines): ``[logging]``; the
base URL that stands in for an unset ``[site] base_url``."""

from __future__ import annotations

from dataclasses import dataclass

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
