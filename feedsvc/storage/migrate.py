"""Alembic migrations, run programmatically (`feedsvc db upgrade`; serve/ingest on a new DB)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from feedsvc.storage.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` in one transaction per run."""
    cfg = _alembic_config()
    with db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()


def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to ``revision`` ("base": empty); for developers and tests."""
    cfg = _alembic_config()
    with db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def ensure_schema(db: Database) -> None:
    """Upgrade when the schema is behind (cheap when it is current)."""
    if current_revision(db) != head_revision():
        upgrade(db)


def revision(db: Database, message: str) -> None:
    """Autogenerate a new revision against ``db`` (developers only)."""
    cfg = _alembic_config()
    with db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
