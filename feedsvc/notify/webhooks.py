"""Webhook subscriptions: from ``[[webhooks]]`` in the config and from the admin API/CLI."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from feedsvc.config import EVENT_TYPES, Config
from feedsvc.content.text import slugify
from feedsvc.kinds import DeliveryStatus, WebhookOrigin
from feedsvc.signing import SecretError, generate_secret, secret_key
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, Webhook
from feedsvc.timefmt import rfc3339, rfc3339_or_none

log = logging.getLogger("feedsvc.webhooks")

CONFIG, API = WebhookOrigin.CONFIG, WebhookOrigin.API
SYNC_LOCK_KEY = 0x7765_6268_6F6F_6B73  # "webhooks"


class WebhookError(ValueError):
    """Bad subscription input; ``field`` names what was wrong (url, events, categories…)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"webhooks: {field}: {message}")
        self.field = field
        self.message = message


class WebhookNotFound(LookupError):
    pass


class ConfigWebhook(Exception):
    """A subscription defined in the config file: it is changed there, not through the API."""


def _now() -> datetime:
    return datetime.now(UTC)


def check_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise WebhookError("url", f"{url!r} is not an absolute http(s) URL")
    return url.strip()


def check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        known = ", ".join(EVENT_TYPES)
        raise WebhookError("events", f"unknown event {unknown[0]!r} (known: {known})")
    return chosen or list(EVENT_TYPES)


def check_categories(categories: Iterable[str]) -> list[str]:
    """Category filters are matched on slugs: "Machine Learning" and "machine-learning" agree."""
    slugs = [slugify(c) for c in categories]
    if any(not s for s in slugs):
        raise WebhookError("categories", "a category must not be empty")
    return list(dict.fromkeys(slugs))


def check_secret(secret: str) -> str:
    try:
        secret_key(secret)
    except SecretError as exc:
        raise WebhookError("secret", str(exc).removeprefix("signing: ")) from exc
    return secret


def add_webhook(
    db: Database,
    url: str,
    events: Iterable[str] = (),
    categories: Iterable[str] = (),
    secret: str | None = None,
    *,
    now: datetime | None = None,
) -> tuple[Webhook, str]:
    """Subscribe ``url``; returns the row and its secret (generated unless given)."""
    secret = check_secret(secret) if secret else generate_secret()
    hook = Webhook(
        url=check_url(url),
        secret=secret,
        events=check_events(events),
        categories=check_categories(categories),
        enabled=True,
        origin=API,
        created_at=now or _now(),
    )
    with db.write() as session:
        session.add(hook)
    log.info("webhook added", extra={"webhook_id": hook.id, "url": hook.url})
    return hook, secret


def list_webhooks(db: Database) -> list[Webhook]:
    with db.read() as session:
        return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def get_webhook(db: Database, webhook_id: int) -> Webhook | None:
    with db.read() as session:
        return session.get(Webhook, webhook_id)


def remove_webhook(db: Database, webhook_id: int, *, allow_config: bool = False) -> None:
    """Delete a subscription and cancel its pending deliveries.

    :raises WebhookNotFound: no such id. :raises ConfigWebhook: it comes from the config file.
    """
    with db.write() as session:
        hook = session.get(Webhook, webhook_id)
        if hook is None:
            raise WebhookNotFound(f"webhooks: no webhook with id {webhook_id}")
        if hook.origin == CONFIG and not allow_config:
            raise ConfigWebhook(
                f"webhooks: webhook {webhook_id} is defined in the config file; remove it there"
            )
        cancel_pending(session, webhook_id, "webhook removed")
        session.delete(hook)
    log.info("webhook removed", extra={"webhook_id": webhook_id, "url": hook.url})


def enable_webhook(db: Database, webhook_id: int) -> Webhook:
    """Turn a subscription disabled by a 410 Gone back on: new events reach it again (its dead
    deliveries stay dead until replayed). Config and API subscriptions alike.

    :raises WebhookNotFound: no such id.
    """
    with db.write() as session:
        hook = session.get(Webhook, webhook_id)
        if hook is None:
            raise WebhookNotFound(f"webhooks: no webhook with id {webhook_id}")
        hook.enabled, hook.disabled_reason = True, None
    log.info("webhook enabled", extra={"webhook_id": webhook_id, "url": hook.url})
    return hook


def cancel_pending(session: Session, webhook_id: int, reason: str) -> None:
    """Pending deliveries of a removed or disabled subscription will not be sent."""
    session.execute(
        update(Delivery)
        .where(Delivery.webhook_id == webhook_id, Delivery.status == DeliveryStatus.PENDING)
        .values(
            status=DeliveryStatus.CANCELLED, last_error=reason, claimed_by=None, claimed_until=None
        )
    )


def sync_config_webhooks(db: Database, cfg: Config, *, now: datetime | None = None) -> int:
    """Make the ``config`` subscriptions match ``[[webhooks]]``; returns how many there are.

    Rows are matched on URL (in order, when a URL is listed twice). A secret set in the config
    is used as is; otherwise one is generated the first time and kept. Entries gone from the
    config are deleted. A subscription disabled by a 410 stays disabled.
    """
    now = now or _now()
    with db.write() as session:
        if not db.is_sqlite:  # instances starting together sync one after the other
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK_KEY})
        rows = list(
            session.scalars(select(Webhook).where(Webhook.origin == CONFIG).order_by(Webhook.id))
        )
        for i, entry in enumerate(cfg.webhooks):
            try:
                secret = check_secret(entry.secret) if entry.secret else None
            except WebhookError as exc:
                raise WebhookError(f"{cfg.path}: webhooks[{i}].secret", exc.message) from exc
            row = next((r for r in rows if r.url == entry.url), None)
            if row is None:
                row = Webhook(url=entry.url, origin=CONFIG, enabled=True, created_at=now)
                row.secret = secret or generate_secret()
                session.add(row)
            else:
                rows.remove(row)
                row.secret = secret or row.secret
            row.events = check_events(entry.events)
            row.categories = check_categories(entry.categories)
        for gone in rows:
            cancel_pending(session, gone.id, "webhook removed from the config file")
            session.delete(gone)
    return len(cfg.webhooks)


def webhook_json(hook: Webhook) -> dict[str, object]:
    """A subscription as the API and ``webhooks list --json`` show it (never the secret)."""
    return {
        "id": hook.id,
        "url": hook.url,
        "events": list(hook.events),
        "categories": list(hook.categories or ()),
        "enabled": hook.enabled,
        "disabled_reason": hook.disabled_reason,
        "origin": hook.origin,
        "created_at": rfc3339(hook.created_at),
    }


def list_deliveries(
    db: Database, status: str | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Delivery], int]:
    """One page of deliveries (newest first), optionally of one status; and the total."""
    query = select(Delivery)
    if status is not None:
        query = query.where(Delivery.status == status)
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        query = query.order_by(Delivery.id.desc()).limit(per_page).offset((page - 1) * per_page)
        return list(session.scalars(query)), int(total)


def delivery_json(row: Delivery) -> dict[str, object]:
    """A delivery as the API and ``deliveries list --json`` show it (not its body)."""
    iso = rfc3339_or_none
    pending = row.status == DeliveryStatus.PENDING
    return {
        "id": row.id,
        "kind": row.kind,
        "msg_id": row.msg_id,
        "event_type": row.event_type,
        "webhook_id": row.webhook_id,
        "subscription_id": row.subscription_id,
        "url": row.url,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if pending else None,
        "last_attempt_at": iso(row.last_attempt_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
    }
