"""Alembic environment: runs on the connection feedsvc hands it (see storage/migrate.py)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from feedsvc.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("feedsvc migrations run through `feedsvc db upgrade`")
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,  # SQLite cannot ALTER most things: batch mode recreates tables
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several instances may start at once: one migrates, the others wait for it.
            connection.execute(text("SELECT pg_advisory_xact_lock(727274001)"))
        context.run_migrations()


run_migrations_online()
