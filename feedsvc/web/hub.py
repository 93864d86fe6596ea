"""POST /hub: the WebSub hub's subscription endpoint (https://www.w3.org/TR/websub/ §5.1)."""

from __future__ import annotations

from flask import Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from feedsvc.notify import websub
from feedsvc.web.args import bound_chunked_body
from feedsvc.web.auth import too_large_message
from feedsvc.web.state import state

FORM = "application/x-www-form-urlencoded"
BUSY_RETRY_AFTER = 60  # seconds: verification works through the queue at about 50 a second


def _text(status: int, message: str) -> Response:
    # §5.1.2: errors SHOULD carry a plain-text description for the subscriber's developer
    return Response(message + "\n", status=status, mimetype="text/plain")


def hub() -> Response:
    """202 once a request is queued for verification of intent; 4xx with a reason otherwise."""
    if request.mimetype != FORM:  # §5.1: the request MUST be application/x-www-form-urlencoded
        return _text(400, f"Content-Type must be {FORM}")
    try:
        bound_chunked_body()
        form = request.form
    except RequestEntityTooLarge:
        return _text(413, too_large_message())
    app = state()
    try:
        note = websub.request_subscription(app.db, app.cfg, form, app.clock.now())
    except websub.HubRequestError as exc:
        return _text(400, str(exc))
    except websub.CallbackHostBusy as exc:  # RFC 6585 §4: this client sends too many
        busy = _text(429, str(exc))
        busy.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        return busy
    except websub.HubBusy as exc:
        busy = _text(503, str(exc))
        busy.headers["Retry-After"] = str(BUSY_RETRY_AFTER)  # RFC 9110 §10.2.3
        return busy
    return _text(202, note)
