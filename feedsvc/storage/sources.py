"""Source state, and ingest runs with their per-item errors."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.kinds import SourceStatus
from feedsvc.storage.models import IngestRun, SourceState


def get_state(session: Session, name: str, kind: str) -> SourceState:
    state = session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name, kind=kind, status=SourceStatus.IDLE, consecutive_failures=0)
        session.add(state)
        session.flush()
    return state


def all_states(session: Session) -> dict[str, SourceState]:
    return {s.name: s for s in session.scalars(select(SourceState))}


def last_run(session: Session, name: str) -> IngestRun | None:
    query = select(IngestRun).where(IngestRun.source == name).order_by(IngestRun.id.desc())
    return session.scalar(query.limit(1))
