"""CLI: ``feedsvc webhooks add|list|remove|enable`` and ``feedsvc deliveries list|retry``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from feedsvc.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    no_database_note,
    open_db,
    open_existing_db,
)
from feedsvc.config import EVENT_TYPES, Config
from feedsvc.kinds import DeliveryStatus


def cmd_webhooks_add(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.notify.webhooks import WebhookError, add_webhook, webhook_json

    db = open_db(cfg)
    try:
        hook, secret = add_webhook(db, args.url, args.event, args.category, args.secret)
    except WebhookError as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({**webhook_json(hook), "secret": secret}, ensure_ascii=False))
    else:
        print(f"webhook {hook.id} added: {hook.url} ({', '.join(hook.events)})")
        print(f"secret: {secret}")
        print("(the secret is shown once: keep it to verify webhook-signature)")
    return EXIT_OK


def cmd_webhooks_list(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.notify.webhooks import (
        WebhookError,
        list_webhooks,
        sync_config_webhooks,
        webhook_json,
    )

    db = open_existing_db(cfg)  # read-only: never creates a database
    if db is None:
        no_database_note(cfg)
        print("[]" if args.json else "no webhooks")
        return EXIT_OK
    try:
        sync_config_webhooks(db, cfg)  # so [[webhooks]] show up before the scheduler has run
    except WebhookError as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_USAGE
    hooks = list_webhooks(db)
    if args.json:
        print(json.dumps([webhook_json(h) for h in hooks], ensure_ascii=False, indent=2))
        return EXIT_OK
    for h in hooks:
        state = "enabled" if h.enabled else f"disabled ({h.disabled_reason})"
        filters = ", ".join(h.events) + (
            f"; categories {', '.join(h.categories)}" if h.categories else ""
        )
        print(f"{h.id}  {h.url}  [{filters}]  {state}  from {h.origin}")
    if not hooks:
        print("no webhooks")
    return EXIT_OK


def cmd_webhooks_remove(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.notify.webhooks import ConfigWebhook, WebhookNotFound, remove_webhook

    try:
        remove_webhook(open_db(cfg), args.id)
    except (WebhookNotFound, ConfigWebhook) as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"webhook {args.id} removed")
    return EXIT_OK


def cmd_webhooks_enable(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.notify.webhooks import WebhookNotFound, enable_webhook

    try:
        hook = enable_webhook(open_db(cfg), args.id)
    except WebhookNotFound as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"webhook {hook.id} enabled: {hook.url}")
    return EXIT_OK


def cmd_deliveries_list(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.notify.webhooks import delivery_json, list_deliveries

    db = open_existing_db(cfg)  # read-only: never creates a database
    if db is None:
        no_database_note(cfg)
    rows, total = list_deliveries(db, args.status, 1, args.limit) if db else ([], 0)
    items = [delivery_json(r) for r in rows]
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return EXIT_OK
    for d in items:
        print(_delivery_line(d))
    print(f"{len(items)} of {total} deliveries" + (f" ({args.status})" if args.status else ""))
    return EXIT_OK


def _delivery_line(d: dict[str, Any]) -> str:
    line = f"{d['id']}  {d['status']:<9}  {d['kind']}  {d['event_type'] or '-'}  {d['url']}"
    line += f"  attempts {d['attempts']}"
    if d["last_status_code"] is not None:
        line += f", last status {d['last_status_code']}"
    if d["next_attempt_at"]:
        line += f", next attempt {d['next_attempt_at']}"
    if d["last_error"]:
        line += f"\n    last error: {d['last_error']}"
    return line


def cmd_deliveries_retry(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.notify.replay import ReplayRefused, replay, replay_dead

    if (args.id is None) == (not args.dead):
        print("feedsvc: deliveries retry: give a delivery ID or --dead", file=sys.stderr)
        return EXIT_USAGE
    db = open_db(cfg)
    if args.dead:
        print(f"{replay_dead(db)} dead deliveries queued again")
        return EXIT_OK
    try:
        row = replay(db, args.id)
    except ReplayRefused as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if row is None:
        print(f"feedsvc: no delivery with id {args.id}", file=sys.stderr)
        return EXIT_FAILED
    print(f"delivery {args.id} queued again")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    p = sub.add_parser("webhooks", help="webhook subscriptions")
    hooks = p.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    add = hooks.add_parser("add", help="subscribe a URL; prints its signing secret once")
    add.add_argument("url", help="the receiver's http(s) URL")
    add.add_argument("--event", action="append", default=[], choices=EVENT_TYPES,
                     help="an event to send (repeatable; default: all events)")  # fmt: skip
    add.add_argument("--category", action="append", default=[],
                     help="only posts in this category (repeatable; default: all)")  # fmt: skip
    add.add_argument("--secret", help="a whsec_ secret to use instead of a generated one")
    add.add_argument("--json", action="store_true", help="print JSON instead of lines")
    add.set_defaults(handler=cmd_webhooks_add)
    ls = hooks.add_parser("list", help="list subscriptions")
    ls.add_argument("--json", action="store_true", help="print JSON instead of lines")
    ls.set_defaults(handler=cmd_webhooks_list)
    rm = hooks.add_parser("remove", help="delete a subscription (pending deliveries cancelled)")
    rm.add_argument("id", type=int, help="the webhook's id (see webhooks list)")
    rm.set_defaults(handler=cmd_webhooks_remove)
    on = hooks.add_parser("enable", help="turn on a subscription disabled by a 410 Gone")
    on.add_argument("id", type=int, help="the webhook's id (see webhooks list)")
    on.set_defaults(handler=cmd_webhooks_enable)

    p = sub.add_parser("deliveries", help="webhook and WebSub deliveries")
    dels = p.add_subparsers(dest="deliveries_command", required=True, metavar="ACTION")
    ls = dels.add_parser("list", help="attempts, last status, last error, next attempt")
    ls.add_argument(
        "--status", choices=tuple(DeliveryStatus), help="only this status (default: all)"
    )
    ls.add_argument("--limit", type=int, default=50, help="at most this many, newest first")
    ls.add_argument("--json", action="store_true", help="print JSON instead of lines")
    ls.set_defaults(handler=cmd_deliveries_list)
    retry = dels.add_parser("retry", help="send a delivery again (same webhook-id)")
    retry.add_argument("id", type=int, nargs="?", help="the delivery's id (or use --dead)")
    retry.add_argument("--dead", action="store_true", help="every dead-lettered delivery")
    retry.set_defaults(handler=cmd_deliveries_retry)
