"""The Python floor: a minimal Flask app answering fixed feed bytes with a fixed ETag.

Configured by environment: FLOOR_BODY (a file with the bytes), FLOOR_ETAG, FLOOR_CONTENT_TYPE;
FLOOR_GZIP_BODY and FLOOR_GZIP_ETAG (optional): the gzip variant, answered to an Accept-Encoding
with gzip (a plain substring test: the floor does the least work that gives the right answer).
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
GZIP_BODY = (
    Path(os.environ["FLOOR_GZIP_BODY"]).read_bytes() if "FLOOR_GZIP_BODY" in os.environ else b""
)
GZIP_ETAG = os.environ.get("FLOOR_GZIP_ETAG", "")
GZIP_HEADERS = {**HEADERS, "ETag": GZIP_ETAG, "Content-Encoding": "gzip"}

app = Flask(__name__)


@app.get("/feed.atom")
def feed() -> Response:
    if GZIP_BODY and "gzip" in request.headers.get("Accept-Encoding", ""):
        if request.headers.get("If-None-Match") == GZIP_ETAG:
            return Response(status=304, headers=GZIP_HEADERS)
        return Response(GZIP_BODY, content_type=CONTENT_TYPE, headers=GZIP_HEADERS)
    if request.headers.get("If-None-Match") == ETAG:
        return Response(status=304, headers=HEADERS)
    return Response(BODY, content_type=CONTENT_TYPE, headers=HEADERS)
