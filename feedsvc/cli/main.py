"""The composition root of the command line: the parser lists every command module it wires."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from feedsvc import __version__, logs
from feedsvc.bindcheck import CannotListen
from feedsvc.cli import check, commands, notify
from feedsvc.cli.common import EXIT_FAILED, EXIT_USAGE, Refused
from feedsvc.config import ConfigError, load_config, resolve_config_path
from feedsvc.storage.db import unreachable

COMMAND_MODULES = (commands, notify, check)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, [], False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, [], False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Every (sub)command's parser shows defaults in its help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="feedsvc", description="A self-hosted feed service.")
    parser.add_argument(
        "--version", action="version", version=f"feedsvc {__version__}", help="print the version"
    )
    parser.add_argument("--config", help="config file (default: $FEEDSVC_CONFIG, ./feedsvc.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = resolve_config_path(args.config)
        cfg = load_config(path)
    except ConfigError as exc:
        if args.command == "check":
            return check.config_failure(str(exc))
        print(f"feedsvc: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args.config_path = str(path.resolve()) if path else None
    logs.setup(cfg.logging, verbose=args.verbose)
    try:
        return int(args.handler(args, cfg))
    except KeyboardInterrupt:
        return 130
    except (OperationalError, InterfaceError) as exc:
        print(f"feedsvc: {unreachable(cfg.storage.url, exc)}", file=sys.stderr)
        return EXIT_FAILED
    except (Refused, CannotListen) as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return EXIT_FAILED
