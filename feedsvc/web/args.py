"""Reading an admin API request: its JSON body and query arguments; a 400 or 422 if bad."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, Conflict, UnprocessableEntity

_POSITIVE = re.compile(r"[0-9]{1,9}")  # ASCII digits only: int() also takes "²" and "٣"


class ValidationFailed(UnprocessableEntity):
    """422 whose body names every bad field: ``{"error": ..., "fields": {name: reason}}``."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("validation failed")
        self.extra = {"fields": fields}


class ApiConflict(Conflict):
    """409 whose body carries ``extra`` beside the message (e.g. who holds a slug)."""

    def __init__(self, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.extra = extra


def json_body() -> dict[str, Any]:
    """The request body as a JSON object (400 otherwise; 413 past MAX_CONTENT_LENGTH)."""
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def parse_positive_int(name: str, value: str, maximum: int) -> int:
    """``value`` as an integer from 1 to ``maximum``; BadRequest naming ``name`` otherwise."""
    if not _POSITIVE.fullmatch(value) or not 1 <= int(value) <= maximum:
        raise BadRequest(f"{name} must be an integer from 1 to {maximum}")
    return int(value)


def positive_int_arg(name: str, default: int, maximum: int = 10**9 - 1) -> int:
    """The query argument ``name`` (``default`` when absent) as an integer from 1 to maximum."""
    value = request.args.get(name)
    return default if value is None else parse_positive_int(name, value, maximum)
