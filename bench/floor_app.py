"""The Python floor: a minimal Flask app answering fixed feed bytes with a fixed ETag.

Configured by environment: FLOOR_BODY (a file with the bytes), FLOOR_ETAG, FLOOR_CONTENT_TYPE.
Serve with ``gunicorn bench.floor_app:app`` or ``granian --interface wsgi bench.floor_app:app``.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, request

BODY = Path(os.environ["FLOOR_BODY"]).read_bytes()
ETAG = os.environ["FLOOR_ETAG"]
CONTENT_TYPE = os.environ.get("FLOOR_CONTENT_TYPE", "application/atom+xml; charset=utf-8")
HEADERS = {"ETag": ETAG, "Cache-Control": "public, max-age=300", "Vary": "Accept-Encoding"}

app = Flask(__name__)


@app.get("/feed.atom")
def feed() -> Response:
    if request.headers.get("If-None-Match") == ETAG:
        return Response(status=304, headers=HEADERS)
    return Response(BODY, content_type=CONTENT_TYPE, headers=HEADERS)
