"""Reading an admin API request: its JSON body and query arguments; a 400 or 422 if bad."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest, Conflict, RequestEntityTooLarge, UnprocessableEntity

_DIGITS = re.compile(r"[0-9]+")  # ASCII digits only: int() also takes "²" and "٣"


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


def bound_chunked_body() -> None:
    """Read a chunked body (no Content-Length) up to MAX_CONTENT_LENGTH, 413 past it.

    Werkzeug cuts such a body off at the limit without a word (granian says it terminates the
    input), so a too-large upload read as truncated JSON: a 400. Read at most one byte over the
    limit ourselves and hand the rest of the request a plain sized body.
    """
    environ = request.environ
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not chunked or environ.get("CONTENT_LENGTH"):
        return  # a declared length: Werkzeug answers 413 for it before reading
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    raw = environ["wsgi.input"].read(limit + 1)
    if len(raw) > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))


def json_body() -> dict[str, Any]:
    """The request body as a JSON object (400 otherwise; 413 past MAX_CONTENT_LENGTH)."""
    bound_chunked_body()
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
    digits = value.lstrip("0")  # leading zeros are allowed; a 5,000-digit value is a 400 too
    if not _DIGITS.fullmatch(value) or not digits or len(digits) > 9 or int(digits) > maximum:
        raise BadRequest(f"{name} must be an integer from 1 to {maximum}")
    return int(digits)


def positive_int_arg(name: str, default: int, maximum: int = 10**9 - 1) -> int:
    """The query argument ``name`` (``default`` when absent) as an integer from 1 to maximum."""
    value = request.args.get(name)
    return default if value is None else parse_positive_int(name, value, maximum)
