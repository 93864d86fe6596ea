"""``feedsvc check``: the config, the database, each source, each webhook target, the admin
token; one line per check, exit 0 when all pass, 1 naming each failure. It creates nothing."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from feedsvc.cli.common import EXIT_FAILED, EXIT_OK, sqlite_file_missing
from feedsvc.config import Config
from feedsvc.kinds import SourceKind
from feedsvc.net import BlockedDestination, FetchError, OutboundPolicy, resolve_and_check

Check = tuple[str, str | None, str]  # (what, failure or None, detail)


def config_failure(message: str) -> int:
    """``check`` with a config that does not load: that is its one failed check."""
    print(f"FAIL  config: {message}")
    print("1 of 1 checks failed: config")
    return EXIT_FAILED


def cmd_check(args: argparse.Namespace, cfg: Config) -> int:
    results = [
        ("config", None, f"{cfg.path} ({len(cfg.sources)} sources, {len(cfg.webhooks)} webhooks)"),
        *_database(cfg),
        *_sources(cfg),
        *_webhooks(cfg),
        _admin(cfg),
    ]
    failed = [what for what, failure, _ in results if failure]
    for what, failure, detail in results:
        print(f"FAIL  {what}: {failure}" if failure else f"ok    {what}: {detail}")
    if failed:
        print(f"{len(failed)} of {len(results)} checks failed: {', '.join(failed)}")
        return EXIT_FAILED
    print(f"all {len(results)} checks passed")
    return EXIT_OK


def _database(cfg: Config) -> Iterator[Check]:
    from sqlalchemy.exc import SQLAlchemyError

    from feedsvc.storage.db import Database, describe_url, unreachable
    from feedsvc.storage.migrate import current_revision, head_revision

    where = describe_url(cfg.storage.url)
    missing = sqlite_file_missing(cfg)
    if missing:
        folder = Path(missing).parent
        if not folder.is_dir():
            yield "database", f"{where}: its folder {folder} does not exist", ""
        elif not os.access(folder, os.W_OK | os.X_OK):
            yield "database", f"{where}: its folder {folder} is not writable by this user", ""
        else:
            yield (
                "database",
                None,
                f"{where} does not exist yet (serve, ingest or db upgrade creates it)",
            )
        return
    db = Database(cfg.storage.url)
    try:
        current, head = current_revision(db), head_revision()
    except SQLAlchemyError as exc:
        yield "database", str(unreachable(cfg.storage.url, exc)).removeprefix("database "), ""
        return
    finally:
        db.dispose()
    if current == head:
        yield "database", None, f"{where} at revision {current} (current)"
    elif current is None:
        yield "database", None, f"{where} is empty (serve, ingest or db upgrade migrates it)"
    else:
        detail = f"{where} at revision {current}, this feedsvc has {head}"
        yield "database", None, detail + " (serve migrates it; or run `feedsvc db upgrade`)"


def _policy(cfg: Config) -> OutboundPolicy:
    return OutboundPolicy(allow_private_networks=cfg.network.allow_private_networks)


def _outbound(url: str, cfg: Config) -> str | None:
    try:
        resolve_and_check(url, _policy(cfg))
    except BlockedDestination as exc:
        return f"refused by the network policy: {exc.reason}" + (
            "" if cfg.network.allow_private_networks else " ([network] allow_private_networks)"
        )
    except FetchError as exc:
        return exc.reason
    return None


def _sources(cfg: Config) -> Iterator[Check]:
    for src in cfg.sources:
        what = f"source {src.name}"
        if src.kind == SourceKind.FEED:
            failure = _outbound(src.url, cfg)
            yield (
                what,
                failure and f"{src.url} {failure}",
                f"{src.url} allowed by the network policy",
            )
            continue
        folder = Path(src.path)
        if not folder.exists():
            yield what, f"folder {folder} does not exist", ""
        elif not folder.is_dir():
            yield what, f"{folder} is not a folder", ""
        elif not os.access(folder, os.R_OK | os.X_OK):
            yield what, f"folder {folder} is not readable by this user", ""
        else:
            yield what, None, f"folder {folder} is readable"


def _webhooks(cfg: Config) -> Iterator[Check]:
    urls = dict.fromkeys(h.url for h in cfg.webhooks)
    urls.update(dict.fromkeys(_stored_webhook_urls(cfg)))
    for url in urls:
        yield f"webhook {url}", _outbound(url, cfg), "allowed by the network policy"


def _stored_webhook_urls(cfg: Config) -> list[str]:
    from sqlalchemy.exc import SQLAlchemyError

    from feedsvc.cli.common import open_existing_db
    from feedsvc.notify.webhooks import list_webhooks

    try:
        db = open_existing_db(cfg)
    except Exception:  # the database check reports why
        return []
    if db is None:
        return []
    try:
        return [h.url for h in list_webhooks(db)]
    except SQLAlchemyError:
        return []
    finally:
        db.dispose()


def _admin(cfg: Config) -> Check:
    if not cfg.admin.token:
        return "admin token", None, "not set: the admin API (/api/v1) answers 403"
    return "admin token", None, f"set ({len(cfg.admin.token)} characters)"


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check the config, database, sources, webhook targets and admin token",
        description="One line per check; exit 0 when all pass, 1 naming each failure. Creates"
        " nothing.",
    )
    p.set_defaults(handler=cmd_check)
