"""Leases: named locks held until a time, so that of every worker and instance one runs a job."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from feedsvc.storage.db import Database
from feedsvc.storage.models import Lease

# This process's name as a lease holder (host, pid and a random part: pids are reused).
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
