"""The change signal: a counter bumped by every transaction that changes what feeds show."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from feedsvc.storage.db import Database, DatabaseUnavailable
from feedsvc.storage.models import ContentState


def bump(session: Session) -> None:
    """Bump inside the caller's transaction, so the signal commits with the change."""
    result = session.execute(update(ContentState).values(version=ContentState.version + 1))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(ContentState(id=1, version=1))


def current(session: Session) -> int:
    return session.scalar(select(ContentState.version).where(ContentState.id == 1)) or 0


def read_version(db: Database) -> int:
    """The current version in a session of its own; DatabaseUnavailable when it cannot be read."""
    try:
        with db.read() as session:
            return current(session)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(str(exc)) from exc
