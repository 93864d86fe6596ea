"""The Alembic migrations build exactly the schema the models describe, and go down cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from feedsvc.storage.db import Database
from feedsvc.storage.migrate import current_revision, downgrade, head_revision, upgrade
from feedsvc.storage.models import Base, Delivery
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


def test_every_revision_goes_down_and_up_again(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'down.db'}")
    upgrade(db)
    downgrade(db, "0002")
    assert "scopes_left" not in {c["name"] for c in inspect(db.engine).get_columns("events")}
    downgrade(db, "base")
    assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
    upgrade(db)
    assert schema_drift(db) == []
    db.dispose()


def test_0003_relabels_queued_external_hub_pings(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'pings.db'}")
    upgrade(db, "0002")
    rows = [
        (b"hub.mode=publish&hub.url=https%3A%2F%2Fexample.org%2Ffeed.atom", "pending"),
        (b"<?xml version='1.0' encoding='UTF-8'?><feed/>", "dead"),  # its subscription is gone
    ]
    with db.write_engine.begin() as conn:
        for body, status in rows:
            conn.execute(
                text(
                    "INSERT INTO deliveries (kind, msg_id, url, body, headers, status, attempts,"
                    " next_attempt_at, created_at, updated_at) VALUES ('websub', 'msg_x',"
                    " 'https://hub.example/', :body, '{}', :status, 0, :t, :t, :t)"
                ),
                {"body": body, "status": status, "t": "2026-03-01 12:00:00.000000"},
            )
    upgrade(db)
    with db.read() as session:
        kinds = [
            (d.status, d.kind) for d in session.scalars(select(Delivery).order_by(Delivery.id))
        ]
    assert kinds == [("pending", "hub-ping"), ("dead", "websub")]
    db.dispose()


def test_migrated_postgres_schema_matches_the_models(tmp_path, pg_schema_url):
    cfg = make_config(tmp_path, storage={"url": pg_schema_url})
    db = Database(cfg.storage.url)
    upgrade(db)
    assert schema_drift(db) == []
    db.dispose()
