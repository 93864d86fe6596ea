"""The WebSub hub (W3C Recommendation, https://www.w3.org/TR/websub/) for this site's own feeds.

Subscription requests are checked and queued (``request_subscription``); verification of intent
happens later in a job (``verify_pending``), so the 202 never depends on its outcome (§5.1.2).
Leases expire (``expire_leases``). Content distribution is in ``notify/distribution.py``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.feeds import service as feeds
from feedsvc.kinds import DeliveryStatus, HubMode
from feedsvc.net import BlockedDestination, FetchError, OutboundClient, make_client
from feedsvc.storage.db import Database
from feedsvc.storage.models import Delivery, WebSubPending, WebSubSubscription

log = logging.getLogger("feedsvc.websub")

MODES = tuple(HubMode)
MIN_LEASE_SECONDS = 60
MAX_SECRET_BYTES = 200  # §5.1: hub.secret MUST be less than 200 bytes
MAX_URL_LENGTH = 2048
MAX_PENDING = 10_000  # requests waiting for verification; more are refused with 503
VERIFY_MAX_BYTES = 65_536  # a verification answer is the challenge: small
VERIFY_BATCH = 50
VERIFY_RETRIES = (5.0, 30.0, 120.0)  # after a network failure only; a wrong answer is final
CLAIM_SLACK_SECONDS = 30.0


class HubRequestError(ValueError):
    """A subscription request the hub refuses with 400; the message is the plain-text reason."""


class HubBusy(Exception):
    """Too many requests wait for verification: the hub refuses more for now (503)."""


class CallbackHostBusy(HubBusy):
    """Too many requests for one callback host wait: that client is refused for now (429);
    everyone else is still accepted."""


def callback_host(url: str) -> str:
    """The host a callback URL names (lower case, no port or user info)."""
    return (urlsplit(url).hostname or "").lower()


def _pending_for_host(session: Session, host: str, cap: int) -> int:
    """How many waiting requests have a callback on ``host`` (counted up to ``cap``).

    A LIKE on the host narrows the rows in SQL; the exact host is compared here, so user info,
    ports and letter case do not make one host look like several.
    """
    pattern = "%" + host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(WebSubPending.callback).where(
        func.lower(WebSubPending.callback).like(pattern, escape="\\")
    )
    count = 0
    for (callback,) in session.execute(query):
        if callback_host(callback) == host:
            count += 1
            if count >= cap:
                break
    return count


def make_verify_client(cfg: Config) -> OutboundClient:
    """Verification and denial GETs: guarded like every request, no redirects (§5.3.1)."""
    return make_client(
        cfg, timeout=cfg.delivery.timeout, max_bytes=VERIFY_MAX_BYTES, max_redirects=0
    )


@dataclass(frozen=True)
class HubRequest:
    mode: str
    topic: str
    callback: str
    secret: str | None
    lease_seconds: int


def _http_url(form: Mapping[str, str], name: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise HubRequestError(f"{name} is required")
    if len(value) > MAX_URL_LENGTH:
        raise HubRequestError(f"{name} is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise HubRequestError(f"{name} must be an absolute http(s) URL")
    return value


def _lease(cfg: Config, raw: str | None) -> int:
    """The hub's lease (§5.3.1: it MAY differ from the request): clamped, never perpetual."""
    top = max(cfg.websub.max_lease_seconds, MIN_LEASE_SECONDS)
    if raw is None or raw.strip() == "":
        return min(max(cfg.websub.lease_seconds, MIN_LEASE_SECONDS), top)
    if not raw.strip().isdigit() or int(raw) <= 0:
        raise HubRequestError("hub.lease_seconds must be a positive integer")
    return min(max(int(raw), MIN_LEASE_SECONDS), top)


def parse_request(cfg: Config, form: Mapping[str, str]) -> HubRequest:
    """Check a POST /hub form (§5.1); unknown parameters are ignored, as §5.1 requires."""
    mode = (form.get("hub.mode") or "").strip()
    if not mode:
        raise HubRequestError("hub.mode is required")
    if mode == "publish":
        raise HubRequestError("publish is not supported: this hub only serves its own topics")
    if mode not in MODES:
        raise HubRequestError(f"hub.mode must be subscribe or unsubscribe, got {mode[:40]!r}")
    callback = _http_url(form, "hub.callback")
    topic = _http_url(form, "hub.topic")  # §1: a topic is an http(s) resource URL
    secret = form.get("hub.secret") or None
    if secret is not None and len(secret.encode("utf-8")) >= MAX_SECRET_BYTES:
        raise HubRequestError(f"hub.secret must be less than {MAX_SECRET_BYTES} bytes")
    # §5.1: hub.lease_seconds MAY come with an unsubscription and MUST then be ignored
    lease = _lease(cfg, form.get("hub.lease_seconds")) if mode == HubMode.SUBSCRIBE else 0
    return HubRequest(mode, topic, callback, secret, lease)


def request_subscription(db: Database, cfg: Config, form: Mapping[str, str], now: datetime) -> str:
    """Validate and queue a (un)subscription request; returns a note for the 202.

    :raises HubRequestError: a bad request. :raises HubBusy: too many wait for verification.
    """
    req = parse_request(cfg, form)
    with db.write() as session:
        waiting = session.scalar(select(func.count()).select_from(WebSubPending)) or 0
        if waiting >= MAX_PENDING:
            raise HubBusy("too many requests are waiting for verification; try again later")
        host, cap = callback_host(req.callback), cfg.websub.max_pending_per_host
        if _pending_for_host(session, host, cap) >= cap:
            raise CallbackHostBusy(
                f"too many requests for callbacks on {host} are waiting for verification; "
                "try again later"
            )
        # §5.1: each request overrides the previous one for the same topic and callback
        session.execute(
            delete(WebSubPending).where(
                WebSubPending.topic == req.topic, WebSubPending.callback == req.callback
            )
        )
        row = WebSubPending(mode=req.mode, topic=req.topic, callback=req.callback)
        row.secret, row.lease_seconds, row.attempts = req.secret, req.lease_seconds, 0
        row.next_attempt_at = row.created_at = now
        session.add(row)
    log.info("websub request queued", extra={"mode": req.mode, "url": req.callback})
    return f"{req.mode} request accepted: the hub will verify intent at the callback"


def _origin(parts: SplitResult) -> tuple[str, str | None, int | None]:
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)


def resolve_topic(cfg: Config, topic: str) -> tuple[str, feeds.FeedKey] | None:
    """The canonical URL and feed key of ``topic`` if it names a feed URL of this site.

    §5.1.1: hubs MAY refuse topics that are not the URL the publisher advertises; ours are
    exactly ``topic_for`` (page 1, no query), on the host and path of ``site.base_url``.
    """
    try:
        given, base = urlsplit(topic), urlsplit(cfg.site.base_url)
        same_origin = _origin(given) == _origin(base)
    except ValueError:  # e.g. a port that is not a number
        return None
    if not same_origin:
        return None
    prefix = base.path.rstrip("/")
    if given.query or given.fragment or not given.path.startswith(prefix + "/"):
        return None
    key = feeds.parse_feed_path(given.path[len(prefix) :])
    if key is None:
        return None
    return feeds.topic_for(cfg, key), key


def _known_topic(db: Database, cfg: Config, topic: str) -> str | None:
    """The canonical topic URL, or None when there is no such feed (§5.2 validation)."""
    resolved = resolve_topic(cfg, topic)
    if resolved is None or not feeds.feed_exists(db, resolved[1]):
        return None
    return resolved[0]


def _with_query(callback: str, params: Mapping[str, str]) -> str:
    """§5.1.1: keep the callback's own query string and append the hub's parameters to it."""
    parts = urlsplit(callback)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def has_due(db: Database, now: datetime) -> bool:
    """Whether any request waits for verification now (lets the job skip making a client)."""
    with db.read() as session:
        query = select(WebSubPending.id).where(WebSubPending.next_attempt_at <= now).limit(1)
        return session.scalar(query) is not None


def verify_pending(db: Database, cfg: Config, clock: Clock, client: OutboundClient) -> int:
    """Verify (or deny) the requests that are due; returns how many were handled."""
    now = clock.now()
    with db.read() as session:
        query = (
            select(WebSubPending)
            .where(WebSubPending.next_attempt_at <= now)
            .order_by(WebSubPending.id)
            .limit(VERIFY_BATCH)
        )
        due = list(session.scalars(query))
    claimed = [pending for pending in due if _claim(db, cfg, pending, now)]
    if not claimed:
        return 0
    # §5.3 GETs at once, ``[websub] verify_concurrency`` at a time: one slow or hanging
    # callback holds one thread for at most the timeout, not the whole queue
    workers = min(cfg.websub.verify_concurrency, len(claimed))
    with ThreadPoolExecutor(workers, thread_name_prefix="websub-verify") as pool:
        futures = {pool.submit(_handle, db, cfg, clock, client, p): p for p in claimed}
    for future, pending in futures.items():
        if (exc := future.exception()) is not None:  # its claim expires: tried again later
            log.error("websub verification error: %r", exc, extra={"url": pending.callback})
    return len(claimed)


def _claim(db: Database, cfg: Config, pending: WebSubPending, now: datetime) -> bool:
    """Move the row's next attempt past this one: of several workers, one wins the row."""
    until = now + timedelta(seconds=cfg.delivery.timeout + CLAIM_SLACK_SECONDS)
    with db.write() as session:
        result = session.execute(
            update(WebSubPending)
            .where(WebSubPending.id == pending.id, WebSubPending.next_attempt_at <= now)
            .values(next_attempt_at=until, attempts=WebSubPending.attempts + 1)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _handle(
    db: Database, cfg: Config, clock: Clock, client: OutboundClient, pending: WebSubPending
) -> None:
    if pending.mode == HubMode.SUBSCRIBE:
        canonical = _known_topic(db, cfg, pending.topic)
        if canonical is None:
            _deny(client, pending, "the topic is not a feed of this site")
            _forget(db, pending)
            return
    else:
        # §5: the hub does not validate unsubscription requests with the publisher
        resolved = resolve_topic(cfg, pending.topic)
        canonical = resolved[0] if resolved else pending.topic
    sent_at = clock.now()
    outcome = _ask_callback(client, pending)
    if outcome is None:  # a network failure: try again later, a few times
        _retry_or_forget(db, pending, clock.now())
        return
    if outcome:
        _apply(db, pending, canonical, sent_at)
    _forget(db, pending)


def _ask_callback(client: OutboundClient, pending: WebSubPending) -> bool | None:
    """§5.3: GET the callback with a fresh challenge; True only for a 2xx echoing it exactly.

    None means the callback could not be reached (worth another try).
    """
    challenge = secrets.token_urlsafe(32)  # §8.2: random and single-use
    params = {"hub.mode": pending.mode, "hub.topic": pending.topic, "hub.challenge": challenge}
    if pending.mode == HubMode.SUBSCRIBE:
        params["hub.lease_seconds"] = str(pending.lease_seconds)  # §5.3: MUST for subscribe
    extra = {"url": pending.callback, "mode": pending.mode}
    try:
        # §5.3.1: 3xx counts as failure, so redirects are not followed
        reply = client.request("GET", _with_query(pending.callback, params), follow_redirects=False)
    except BlockedDestination as exc:
        log.warning("websub verification refused: %s", exc, extra=extra)
        return False
    except FetchError as exc:
        log.warning("websub verification failed: %s", exc, extra=extra)
        return None
    # §5.3.1: any non-2xx, or a 2xx whose body is not the challenge, is a failed verification
    verified = 200 <= reply.status < 300 and reply.body == challenge.encode("ascii")
    log.info("websub verification %s", "succeeded" if verified else "failed", extra=extra)
    return verified


def _deny(client: OutboundClient, pending: WebSubPending, reason: str) -> None:
    """§5.2: tell the subscriber its subscription was denied (best effort, one try)."""
    params = {"hub.mode": "denied", "hub.topic": pending.topic, "hub.reason": reason}
    extra = {"url": pending.callback}
    try:
        client.request("GET", _with_query(pending.callback, params), follow_redirects=False)
        log.info("websub subscription denied: %s", reason, extra=extra)
    except (BlockedDestination, FetchError) as exc:
        log.warning("websub denial not delivered: %s", exc, extra=extra)


def _apply(db: Database, pending: WebSubPending, topic: str, sent_at: datetime) -> None:
    """A verified request takes effect (§5.1): subscribe replaces, unsubscribe removes."""
    with db.write() as session:
        query = select(WebSubSubscription).where(
            WebSubSubscription.topic == topic, WebSubSubscription.callback == pending.callback
        )
        sub = session.scalar(query)
        if pending.mode == HubMode.UNSUBSCRIBE:
            if sub is not None:
                _drop_subscriptions(session, [sub.id], sent_at)
            return
        # §5.3: the lease is measured from the time the verification request was made
        expires_at = sent_at + timedelta(seconds=pending.lease_seconds)
        if sub is None:
            sub = WebSubSubscription(topic=topic, callback=pending.callback, created_at=sent_at)
            session.add(sub)
        sub.secret = pending.secret  # §5.1: a renewal MAY change the secret or drop it
        sub.lease_seconds = pending.lease_seconds
        sub.expires_at = expires_at
        sub.updated_at = sent_at


def _forget(db: Database, pending: WebSubPending) -> None:
    with db.write() as session:
        session.execute(delete(WebSubPending).where(WebSubPending.id == pending.id))


def _retry_or_forget(db: Database, pending: WebSubPending, now: datetime) -> None:
    attempts = pending.attempts + 1  # the claim counted this attempt in the database
    if attempts > len(VERIFY_RETRIES):
        log.warning("websub verification given up", extra={"url": pending.callback})
        _forget(db, pending)
        return
    with db.write() as session:
        session.execute(
            update(WebSubPending)
            .where(WebSubPending.id == pending.id)
            .values(next_attempt_at=now + timedelta(seconds=VERIFY_RETRIES[attempts - 1]))
        )


def _drop_subscriptions(session: Session, ids: list[int], now: datetime) -> None:
    """Delete subscriptions and cancel what is still queued for them (no sends past a lease)."""
    if not ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.subscription_id.in_(ids), Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED, updated_at=now)
    )
    session.execute(delete(WebSubSubscription).where(WebSubSubscription.id.in_(ids)))


def expire_leases(db: Database, now: datetime) -> int:
    """§5.3.1: hubs MUST enforce lease expirations. Returns how many subscriptions ended."""
    with db.write() as session:
        query = select(WebSubSubscription.id).where(WebSubSubscription.expires_at <= now)
        ids = list(session.scalars(query))
        _drop_subscriptions(session, ids, now)
    if ids:
        log.info("websub leases expired", extra={"count": len(ids)})
    return len(ids)
