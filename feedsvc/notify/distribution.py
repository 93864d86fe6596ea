"""WebSub content distribution (W3C WebSub §7): each post change enqueues one POST per active
subscriber of every feed it touched, and publish pings to external hubs; the delivery sender
does the POSTs (with retries)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.config import Config
from feedsvc.feeds import service as feeds
from feedsvc.kinds import DeliveryKind, DeliveryStatus
from feedsvc.storage.db import Database
from feedsvc.storage.events import new_msg_id
from feedsvc.storage.models import Delivery, Event, WebSubSubscription


def signature(secret: str, body: bytes) -> str:
    """§7.1: ``X-Hub-Signature: sha256=<hex HMAC of the body keyed with hub.secret>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def distribution_headers(
    cfg: Config, topic: str, built: feeds.BuiltFeed, secret: str | None
) -> dict[str, str]:
    """§7: the topic's Content-Type and one Link header with rel=hub and rel=self; §7.1: the
    X-Hub-Signature when the subscriber gave a hub.secret."""
    headers = {
        "Content-Type": built.content_type,
        "Link": f'<{feeds.hub_url(cfg)}>; rel="hub", <{topic}>; rel="self"',
    }
    if secret:
        headers["X-Hub-Signature"] = signature(secret, built.body)
    return headers


def _delivery(
    url: str, body: bytes, headers: dict[str, str], event: Event, now: datetime, sub_id: int | None
) -> Delivery:
    """One POST for the delivery sender (it retries, and drops the subscription on a 410): a
    distribution to a subscriber (``websub``) or a publish ping to an external hub."""
    kind = DeliveryKind.WEBSUB if sub_id is not None else DeliveryKind.HUB_PING
    return Delivery(
        kind=kind, msg_id=new_msg_id(), event_id=event.id, event_type=event.type,
        subscription_id=sub_id, url=url, body=body, headers=headers, status=DeliveryStatus.PENDING,
        attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
    )  # fmt: skip


def distribute(session: Session, db: Database, cfg: Config, event: Event, now: datetime) -> int:
    """Enqueue content distribution (§7) for every feed the event changed; returns the count.

    Runs in the dispatcher's transaction; the feed is built from committed data (the post
    change was committed with its event), once per topic whatever the number of subscribers.
    """
    keys = feeds.feed_keys_for_post(event.payload)
    keys += feeds.feed_keys_for_scopes(event.scopes_left or ())  # feeds the post just left
    topics = {feeds.topic_for(cfg, key): key for key in keys}
    query = (
        select(WebSubSubscription)
        .where(WebSubSubscription.topic.in_(list(topics)), WebSubSubscription.expires_at > now)
        .order_by(WebSubSubscription.id)
    )
    by_topic: dict[str, list[WebSubSubscription]] = {}
    for sub in session.scalars(query):
        by_topic.setdefault(sub.topic, []).append(sub)
    count = 0
    for topic, subs in by_topic.items():
        built = feeds.build_feed(db, cfg, topics[topic], 1)
        if built is None:  # the feed is gone (its last post left): nothing to send
            continue
        for sub in subs:
            headers = distribution_headers(cfg, topic, built, sub.secret)
            session.add(_delivery(sub.callback, built.body, headers, event, now, sub.id))
            count += 1
    _ping_external_hubs(session, cfg, list(topics), event, now)
    return count


def _ping_external_hubs(
    session: Session, cfg: Config, topics: list[str], event: Event, now: datetime
) -> None:
    """§6 leaves publishing open; common hubs take ``hub.mode=publish&hub.url=<topic>``.
    Queued as deliveries so the sender POSTs them, with retries, after this transaction."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    for hub in cfg.websub.external_hubs:
        for topic in topics:
            body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode("ascii")
            session.add(_delivery(hub, body, headers, event, now, None))
