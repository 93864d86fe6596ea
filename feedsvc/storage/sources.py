"""Source state, ingest runs with their per-item errors, and leases that gate jobs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedsvc.storage.db import Database
from feedsvc.storage.models import IngestRun, Lease, SourceState


def get_state(session: Session, name: str, kind: str) -> SourceState:
    state = session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name, kind=kind, status="idle", consecutive_failures=0)
        session.add(state)
        session.flush()
    return state


def all_states(session: Session) -> dict[str, SourceState]:
    return {s.name: s for s in session.scalars(select(SourceState))}


def last_run(session: Session, name: str) -> IngestRun | None:
    query = select(IngestRun).where(IngestRun.source == name).order_by(IngestRun.id.desc())
    return session.scalar(query.limit(1))


def acquire_lease(db: Database, name: str, owner: str, now: datetime, ttl: float) -> bool:
    """Take the named lease if it is free or expired; True when ``owner`` now holds it.

    The row is changed with a conditional UPDATE (or a unique INSERT) inside a write
    transaction, so of several workers or instances exactly one wins.
    """
    until = now + timedelta(seconds=ttl)
    with db.write() as session:
        result = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.until <= now) | (Lease.owner == owner))
            .values(owner=owner, until=until)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
        if session.get(Lease, name) is not None:
            return False
    try:
        with db.write() as session:
            session.add(Lease(name=name, owner=owner, until=until))
        return True
    except IntegrityError:
        return False


def release_lease(db: Database, name: str, owner: str) -> None:
    with db.write() as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))
