"""Built representations in the database: one row per scope, format, page, scope version and
content coding, so every worker and instance serves the same bytes and builds each only once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from feedsvc.storage.models import Rendition
from feedsvc.storage.scopes import Scope

Variant = tuple[str, bytes, str]  # (encoding, body, etag)


def load(
    session: Session, scope: Scope, fmt: str, page: int, version: int, build: str
) -> list[Rendition]:
    """The stored variants of one page at this scope version and build (empty: none)."""
    kind, key = scope
    query = select(Rendition).where(
        Rendition.kind == kind,
        Rendition.key == key,
        Rendition.format == fmt,
        Rendition.page == page,
        Rendition.version == version,
    )
    rows = list(session.scalars(query))
    return rows if rows and all(r.build == build for r in rows) else []


def save(
    session: Session,
    scope: Scope,
    fmt: str,
    page: int,
    version: int,
    build: str,
    content_type: str,
    last_modified: datetime,
    variants: Sequence[Variant],
) -> None:
    """Store one page's variants; a row another worker stored first (same bytes) is kept, a row
    of another build (an instance running other code or config) is replaced."""
    kind, key = scope
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for encoding, body, etag in variants:
        values = {
            "kind": kind,
            "key": key,
            "format": fmt,
            "page": page,
            "version": version,
            "encoding": encoding,
            "build": build,
            "content_type": content_type,
            "body": body,
            "etag": etag,
            "last_modified": last_modified,
        }
        statement = insert(Rendition).values(**values)
        replaced = {k: statement.excluded[k] for k in ("build", "content_type", "body", "etag")}
        replaced["last_modified"] = statement.excluded.last_modified
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["kind", "key", "format", "page", "version", "encoding"],
                set_=replaced,
                where=Rendition.build != statement.excluded.build,
            )
        )
