"""Logging for every feedsvc process: ``[logging] level`` and ``format = "text" | "json"``.

One dictConfig serves the command line, the scheduler child and granian (which applies it in its
main process and in each worker), so every line ``serve`` writes has one shape: text with the
``extra=`` fields as ``key=value``, or one JSON object (python-json-logger) with ``time``,
``level``, ``logger``, ``message`` and those fields. APScheduler's per-job chatter ("Running
job…", "executed successfully") is WARNING-only: an idle feedsvc logs nothing at INFO.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from feedsvc.config_sections import LoggingConfig

_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
QUIET = ("apscheduler", "alembic", "httpx", "httpcore")


def extras(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record; for granian's access log, its request fields."""
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    if record.name == "granian.access" and isinstance(record.args, dict):
        fields.update({k: v for k, v in record.args.items() if not k.startswith("_")})
    return fields


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value …``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {} if record.name == "granian.access" else extras(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message and the structured fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for key, value in extras(record).items():
            log_data.setdefault(key, value)


def dict_config(section: LoggingConfig, *, verbose: bool = False) -> dict[str, Any]:
    """The logging dictConfig for ``section`` (granian's ``log_dictconfig`` too)."""
    level = "DEBUG" if verbose else section.level.upper()
    formatter = (
        "feedsvc.logs.JsonLineFormatter"
        if section.format == "json"
        else ("feedsvc.logs.TextFormatter")
    )
    handler = {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
    quiet = {name: {"level": "WARNING"} for name in QUIET if not verbose}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"()": formatter}},
        "handlers": {"line": handler},
        "root": {"handlers": ["line"], "level": level},
        "loggers": {
            **quiet,
            "_granian": {"handlers": ["line"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["line"], "level": "INFO", "propagate": False},
            "gunicorn.error": {"handlers": ["line"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": ["line"], "level": "INFO", "propagate": False},
        },
    }


def setup(section: LoggingConfig, *, verbose: bool = False) -> None:
    logging.config.dictConfig(dict_config(section, verbose=verbose))
