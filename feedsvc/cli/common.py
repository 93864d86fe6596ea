"""What every command shares: exit codes, opening the database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from feedsvc.config import Config

if TYPE_CHECKING:
    from feedsvc.storage.db import Database

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Refused(Exception):
    """A command that cannot go on for a reason the operator can fix; one line, exit 1."""


def sqlite_file_missing(cfg: Config) -> str | None:
    """The SQLite file [storage] url names when it does not exist yet (else None)."""
    from sqlalchemy.engine import make_url

    url = make_url(cfg.storage.url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return None if Path(url.database).exists() else url.database


def open_existing_db(cfg: Config) -> Database | None:
    """For read-only commands: None when the SQLite file does not exist (nothing is created);
    never migrates (a schema behind this feedsvc is refused with what to run)."""
    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import current_revision, head_revision

    if sqlite_file_missing(cfg):
        return None
    db = Database(cfg.storage.url)
    current, head = current_revision(db), head_revision()
    if current is None:
        db.dispose()
        return None  # an empty database: nothing has run yet
    if current != head:
        raise Refused(
            f"the database is at revision {current}, this feedsvc needs {head}:"
            " run `feedsvc db upgrade`"
        )
    return db


def no_database_note(cfg: Config) -> None:
    """What read-only commands say (on stderr) when there is no database yet."""
    from feedsvc.storage.db import describe_url

    print(
        f"feedsvc: no database yet ({describe_url(cfg.storage.url)}):"
        " `feedsvc serve`, `ingest` or `db upgrade` creates it",
        file=sys.stderr,
    )


def open_db(cfg: Config, migrate: bool = True) -> Database:
    from feedsvc.storage.db import Database
    from feedsvc.storage.migrate import ensure_schema

    db = Database(cfg.storage.url)
    if migrate:
        ensure_schema(db)
    return db
