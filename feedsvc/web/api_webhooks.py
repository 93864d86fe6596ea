"""Admin API: /api/v1/webhooks (subscriptions) and /api/v1/deliveries (outcomes, replays)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for
from werkzeug.exceptions import Conflict, NotFound

from feedsvc.notify import delivery, replay, webhooks
from feedsvc.web.args import ValidationFailed, json_body, positive_int_arg
from feedsvc.web.auth import api_blueprint
from feedsvc.web.state import state

bp = api_blueprint("api_webhooks", __name__)

MAX_PER_PAGE = 100
WEBHOOK_FIELDS = frozenset({"url", "events", "categories", "secret"})


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _validated(body: dict[str, Any]) -> dict[str, Any]:
    """Check every field, so that a 422 names all the bad ones at once."""
    errors = {k: "unknown field" for k in body if k not in WEBHOOK_FIELDS}
    values: dict[str, Any] = {"events": [], "categories": [], "secret": None}
    checks = {
        "url": (webhooks.check_url, lambda v: isinstance(v, str), "a string"),
        "events": (webhooks.check_events, _is_strings, "a list of strings"),
        "categories": (webhooks.check_categories, _is_strings, "a list of strings"),
        "secret": (webhooks.check_secret, lambda v: isinstance(v, str), "a string"),
    }
    for name, (check, well_typed, expected) in checks.items():
        if body.get(name) is None:
            continue
        if not well_typed(body[name]):
            errors[name] = f"must be {expected}"
            continue
        try:
            values[name] = check(body[name])
        except webhooks.WebhookError as exc:
            errors[exc.field] = exc.message
    if body.get("url") is None:
        errors["url"] = "required"
    if errors:
        raise ValidationFailed(errors)
    return values


@bp.post("/webhooks")
def create_webhook() -> tuple[Response, int]:
    """Subscribe; the secret is in this response only (201)."""
    values = _validated(json_body())
    hook, secret = webhooks.add_webhook(
        state().db,
        values["url"],
        values["events"],
        values["categories"],
        values["secret"],
        now=state().clock.now(),
    )
    resp = jsonify({**webhooks.webhook_json(hook), "secret": secret})
    resp.headers["Location"] = url_for(".get_webhook", webhook_id=hook.id)
    return resp, 201


@bp.get("/webhooks")
def list_webhooks() -> Response:
    return jsonify(webhooks=[webhooks.webhook_json(h) for h in webhooks.list_webhooks(state().db)])


@bp.get("/webhooks/<int:webhook_id>")
def get_webhook(webhook_id: int) -> Response:
    hook = webhooks.get_webhook(state().db, webhook_id)
    if hook is None:
        raise NotFound(f"no webhook with id {webhook_id}")
    return jsonify(webhooks.webhook_json(hook))


@bp.post("/webhooks/<int:webhook_id>/enable")
def enable_webhook(webhook_id: int) -> Response:
    """Turn a subscription disabled by a 410 Gone back on."""
    try:
        hook = webhooks.enable_webhook(state().db, webhook_id)
    except webhooks.WebhookNotFound:
        raise NotFound(f"no webhook with id {webhook_id}") from None
    return jsonify(webhooks.webhook_json(hook))


@bp.delete("/webhooks/<int:webhook_id>")
def delete_webhook(webhook_id: int) -> tuple[str, int]:
    try:
        webhooks.remove_webhook(state().db, webhook_id)
    except webhooks.WebhookNotFound:
        raise NotFound(f"no webhook with id {webhook_id}") from None
    except webhooks.ConfigWebhook:
        raise Conflict(f"webhook {webhook_id} is defined in the config file") from None
    return "", 204


@bp.get("/deliveries")
def list_deliveries() -> Response:
    """Newest first; ``?status=pending|succeeded|dead|cancelled``, ``?page=``, ``?per_page=``."""
    status = request.args.get("status") or None
    if status is not None and status not in delivery.STATUSES:
        raise ValidationFailed({"status": f"must be one of {', '.join(delivery.STATUSES)}"})
    page, per_page = positive_int_arg("page", 1), positive_int_arg("per_page", 50, MAX_PER_PAGE)
    rows, total = webhooks.list_deliveries(state().db, status, page, per_page)
    return jsonify(
        deliveries=[webhooks.delivery_json(r) for r in rows],
        page=page,
        per_page=per_page,
        total=total,
        has_more=page * per_page < total,
    )


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry_delivery(delivery_id: int) -> Response:
    """Queue a delivery again now, attempts reset, same ``webhook-id``."""
    try:
        row = replay.replay(state().db, delivery_id, now=state().clock.now())
    except replay.ReplayRefused as exc:
        raise Conflict(str(exc)) from None
    if row is None:
        raise NotFound(f"no delivery with id {delivery_id}")
    return jsonify(webhooks.delivery_json(row))


@bp.post("/deliveries/retry-dead")
def retry_dead() -> Response:
    return jsonify(retried=replay.replay_dead(state().db, now=state().clock.now()))
