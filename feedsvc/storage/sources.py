"""Source state, and ingest runs with their per-item errors."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedsvc.kinds import SourceStatus
from feedsvc.storage.models import IngestRun, SourceState


def get_state(session: Session, name: str, kind: str) -> SourceState:
    """The source's state row, created on first use.

    Two passes of a new source may both create it (PostgreSQL: the second insert waits for the
    first's commit, then violates the key); the insert runs in a savepoint, and the loser reads
    the row the winner committed.
    """
    state = session.get(SourceState, name)
    if state is not None:
        return state
    try:
        with session.begin_nested():
            state = SourceState(
                name=name, kind=kind, status=SourceStatus.IDLE, consecutive_failures=0
            )
            session.add(state)
        return state
    except IntegrityError:
        stored = session.get(SourceState, name)
        if stored is None:  # not a race on this row: some other constraint
            raise
        return stored


def all_states(session: Session) -> dict[str, SourceState]:
    return {s.name: s for s in session.scalars(select(SourceState))}


def last_run(session: Session, name: str) -> IngestRun | None:
    query = select(IngestRun).where(IngestRun.source == name).order_by(IngestRun.id.desc())
    return session.scalar(query.limit(1))
