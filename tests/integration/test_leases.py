"""Leases gate jobs across processes: exactly one contender wins (SQLite)."""

from __future__ import annotations

import threading
from datetime import timedelta

from feedsvc.storage import leases
from tests.conftest import T0


def test_one_winner_among_threads(db):
    winners: list[int] = []
    barrier = threading.Barrier(6)

    def contend(i: int) -> None:
        barrier.wait()
        if leases.acquire_lease(db, "job", f"w{i}", T0, 30):
            winners.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_lease_expires_and_release_frees_it(db):
    assert leases.acquire_lease(db, "job", "a", T0, 30)
    assert leases.acquire_lease(db, "job", "a", T0, 30)  # the holder renews
    assert not leases.acquire_lease(db, "job", "b", T0 + timedelta(seconds=29), 30)
    assert leases.acquire_lease(db, "job", "b", T0 + timedelta(seconds=31), 30)
    leases.release_lease(db, "job", "b")
    assert leases.acquire_lease(db, "job", "c", T0, 30)
