"""Commands for posts and the service: ``serve``, ``scheduler``, ``ingest``, ``sources``, ``db``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from feedsvc.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    no_database_note,
    open_db,
    open_existing_db,
)
from feedsvc.config import Config


def cmd_ingest(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.cli.progress import Progress
    from feedsvc.clock import SystemClock
    from feedsvc.sources.ingest import ingest_source
    from feedsvc.sources.report import IngestReport

    names = [s.name for s in cfg.sources]
    if args.source and args.source not in names:
        print(
            f"feedsvc: unknown source {args.source!r} (known: {', '.join(names)})", file=sys.stderr
        )
        return EXIT_USAGE
    db = open_db(cfg)
    reports: list[IngestReport] = []
    for src in cfg.sources:
        if args.source and src.name != args.source:
            continue
        progress = None if args.json else Progress(src.name)
        try:
            reports.append(ingest_source(db, cfg, src, SystemClock(), progress=progress))
        finally:
            if progress:
                progress.close()
    _print_reports(reports, as_json=args.json)
    return EXIT_FAILED if any(r.failed for r in reports) else EXIT_OK


def _print_reports(reports: Sequence[Any], as_json: bool) -> None:
    keys = ("new", "updated", "unchanged", "removed", "failed")
    totals = {k: sum(getattr(r, k) for r in reports) for k in keys}
    errors = [
        {"source": e.source, "item": e.item, "reason": e.reason} for r in reports for e in r.errors
    ]
    if as_json:
        print(json.dumps({**totals, "errors": errors}, ensure_ascii=False))
        return
    for r in reports:
        counts = ", ".join(f"{k} {getattr(r, k)}" for k in keys)
        print(f"{r.source}: {counts} ({r.duration:.2f}s)")
    for e in errors:
        print(f"error: {e['source']}: {e['item']}: {e['reason']}")


def cmd_db(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import current_revision, upgrade

    db = Database(cfg.storage.url)
    upgrade(db, args.revision)
    print(f"database at revision {current_revision(db)}")
    return EXIT_OK


def cmd_sources(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.sources.status import never_run, source_statuses

    db = open_existing_db(cfg)  # read-only: never creates a database
    if db is None:
        no_database_note(cfg)
    statuses = never_run(cfg) if db is None else source_statuses(db, cfg)
    if args.json:
        print(json.dumps(statuses, ensure_ascii=False, indent=2))
        return EXIT_OK
    for s in statuses:
        last = s["last_run"] or {}
        print(
            f"{s['name']} ({s['kind']}): status {s['status']}, last run {last.get('at') or 'never'}"
            f", next run {s['next_run'] or 'on schedule'}"
            + (f", back-off until {s['backoff_until']}" if s["backoff_until"] else "")
        )
        if last.get("counts"):
            print("  " + ", ".join(f"{k} {v}" for k, v in last["counts"].items()))
        for err in last.get("errors", []):
            print(f"  error: {err['item']}: {err['reason']}")
    return EXIT_OK


def cmd_scheduler(args: argparse.Namespace, cfg: Config) -> int:
    """Run only the scheduler (``serve`` starts one beside the web server)."""
    from feedsvc.lifecycle import end_with_parent
    from feedsvc.scheduler import run_forever

    if args.parent_pid is not None:
        end_with_parent(args.parent_pid)  # started by `serve`: end with it, even if SIGKILLed
    db = open_db(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_forever(db, cfg, stop, parent_pid=args.parent_pid)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.bindcheck import check_can_listen
    from feedsvc.serve import serve

    # refuse a taken port before touching the database (serve checks again just before binding)
    check_can_listen(args.host or cfg.server.host, args.port or cfg.server.port)
    open_db(cfg)  # migrate once, before any worker starts
    return serve(cfg, config_path=args.config_path, host=args.host, port=args.port)


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 1-65535")
    return port


def add_commands(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the web server and the scheduler")
    p.add_argument("--host", help="override [server] host (default: from the config)")
    p.add_argument(
        "--port",
        type=port_number,
        help="override [server] port, 1-65535 (default: from the config)",
    )
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("ingest", help="run one ingest pass and print a summary")
    p.add_argument("--source", help="only this source (default: every source)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply Alembic migrations")
    up.add_argument("revision", nargs="?", default="head", help="the revision to reach")
    up.set_defaults(handler=cmd_db)

    p = sub.add_parser("sources", help="show each source's last run, next run and back-off")
    p.add_argument("--json", action="store_true", help="print JSON instead of lines")
    p.set_defaults(handler=cmd_sources)

    p = sub.add_parser("scheduler", help="run only the scheduler (no web server)")
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_scheduler)
