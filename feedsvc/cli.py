"""Command line: ``feedsvc [--config PATH] COMMAND`` (also ``python -m feedsvc``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from feedsvc.config import Config, ConfigError, load_config, resolve_config_path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
Handler = Callable[[argparse.Namespace, Config], int]
# Other packages (notify: webhooks, deliveries) add their subcommands here.
_extensions: list[Callable[[Any], None]] = []


def extend(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """Register a function that adds subcommands to the parser (called with the subparsers)."""
    _extensions.append(fn)
    return fn


def open_db(cfg: Config, migrate: bool = True) -> Any:
    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import ensure_schema

    db = Database(cfg.storage.url)
    if migrate:
        ensure_schema(db)
    return db


def cmd_ingest(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.clock import SystemClock
    from feedsvc.sources.ingest import IngestReport, ingest_source

    names = [s.name for s in cfg.sources]
    if args.source and args.source not in names:
        print(
            f"feedsvc: unknown source {args.source!r} (known: {', '.join(names)})", file=sys.stderr
        )
        return EXIT_USAGE
    db = open_db(cfg)
    show_progress = not args.json and sys.stderr.isatty()
    reports: list[IngestReport] = []
    for src in cfg.sources:
        if args.source and src.name != args.source:
            continue
        progress = _progress_bar(src.name) if show_progress else None
        reports.append(ingest_source(db, cfg, src, SystemClock(), progress=progress))
        if show_progress:
            print(file=sys.stderr)
    _print_reports(reports, as_json=args.json)
    return EXIT_FAILED if any(r.failed for r in reports) else EXIT_OK


def _progress_bar(name: str) -> Callable[[int, int | None], None]:
    def show(done: int, total: int | None) -> None:
        if total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            print(f"\r{name}: [{bar}] {done}/{total}", end="", file=sys.stderr, flush=True)
        else:
            print(f"\r{name}: {done} items", end="", file=sys.stderr, flush=True)

    return show


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
    from feedsvc.sources.status import source_statuses

    db = open_db(cfg)
    statuses = source_statuses(db, cfg)
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
    from feedsvc.scheduler import run_forever

    db = open_db(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_forever(db, cfg, stop, parent_pid=args.parent_pid)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    from feedsvc.serve import serve

    open_db(cfg)  # migrate once, before any worker starts
    return serve(cfg, config_path=args.config_path, host=args.host, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedsvc", description="A self-hosted feed service.")
    parser.add_argument("--config", help="config file (default: $FEEDSVC_CONFIG, ./feedsvc.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the web server and the scheduler")
    p.add_argument("--host", help="override [server] host")
    p.add_argument("--port", type=int, help="override [server] port")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("ingest", help="run one ingest pass and print a summary")
    p.add_argument("--source", help="only this source")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="apply Alembic migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=cmd_db)

    p = sub.add_parser("sources", help="show each source's last run, next run and back-off")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sources)

    p = sub.add_parser("scheduler", help="run only the scheduler (no web server)")
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_scheduler)

    for add in _extensions:
        add(sub)
    return parser


def _load_extensions() -> None:
    if not _extensions:
        import feedsvc.notify.commands  # noqa: F401  (registers webhooks/deliveries commands)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        _load_extensions()
    except ImportError:
        pass
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # alembic logs each plugin and each migration step at INFO: noise around every command's
    # output (``db upgrade`` prints the revision it reached); -v shows it again
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        path = resolve_config_path(args.config)
        cfg = load_config(path)
    except ConfigError as exc:
        print(f"feedsvc: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args.config_path = str(path.resolve()) if path else None
    try:
        return int(args.handler(args, cfg))
    except KeyboardInterrupt:
        return 130


def spawn_scheduler(config_path: str | None) -> subprocess.Popen[bytes]:
    """Start ``feedsvc scheduler`` as a child that exits when this process goes away."""
    cmd = [sys.executable, "-m", "feedsvc"]
    if config_path:
        cmd += ["--config", config_path]
    cmd += ["scheduler", "--parent-pid", str(os.getpid())]
    return subprocess.Popen(cmd, cwd=Path.cwd())
