"""What every command shares: exit codes, opening the database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from feedsvc.config import Config

if TYPE_CHECKING:
    from feedsvc.storage.db import Database

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Refused(Exception):
    """A command that cannot go on for a reason the operator can fix; one line, exit 1."""


def open_db(cfg: Config, migrate: bool = True) -> Database:
    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import ensure_schema

    db = Database(cfg.storage.url)
    if migrate:
        ensure_schema(db)
    return db
