"""The Alembic migrations build exactly the schema the models describe, and go down cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from feedsvc.storage.db import Database
from feedsvc.storage.migrate import current_revision, head_revision, upgrade
from feedsvc.storage.models import Base
from tests.conftest import make_config


def schema_drift(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_migrated_sqlite_schema_matches_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db)
    assert current_revision(db) == head_revision()
    assert schema_drift(db) == []
    db.dispose()


def test_each_revision_applies_in_order_from_an_empty_database(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'step.db'}")
    upgrade(db, "0001")
    assert "websub_pending" not in inspect(db.engine).get_table_names()
    upgrade(db)
    tables = set(inspect(db.engine).get_table_names())
    assert {"posts", "deliveries", "websub_subscriptions", "websub_pending"} <= tables
    db.dispose()


def test_migrated_postgres_schema_matches_the_models(tmp_path, pg_schema_url):
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    assert schema_drift(db) == []
    db.dispose()
