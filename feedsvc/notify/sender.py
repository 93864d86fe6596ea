"""The sender pool: deliveries in flight across rounds, bounded overall and per target.

One ``Sender`` lives as long as the scheduler. Each round claims only what its free threads and
each target's room allow (``[delivery] concurrency`` threads, at most
``[delivery] per_host_concurrency`` sends per target), hands the claims to the pool and returns
without waiting for slow sends: a receiver that hangs holds its own slots until the delivery
timeout, while the next round dispatches new events and sends them to everyone else. A claim is
taken only when a thread is free, so it is sent at once and never ages in a queue; a process
killed mid-send leaves its claims to expire, and the rows are sent again with the same
``webhook-id``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from feedsvc.clock import Clock
from feedsvc.config import Config
from feedsvc.net import OutboundClient
from feedsvc.notify.claims import Outgoing, TargetRoom, claim_due, claim_ttl, target_of
from feedsvc.notify.delivery import Outcome, make_delivery_client, record_outcomes, send_one
from feedsvc.notify.dispatch import EventHook, dispatch
from feedsvc.storage.db import Database

log = logging.getLogger("feedsvc.delivery")


class Sender:
    """A persistent, bounded pool of delivery sends (see the module docstring)."""

    def __init__(self, db: Database, cfg: Config, client: OutboundClient) -> None:
        self.db, self.cfg, self.client = db, cfg, client
        self.concurrency = max(1, cfg.delivery.concurrency)
        self.per_target = max(1, cfg.delivery.per_host_concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="delivery")
        self._in_flight: dict[Future[Outcome], Outgoing] = {}

    def in_flight(self) -> Counter[str]:
        """Sends in flight per target."""
        return Counter(target_of(item.url) for item in self._in_flight.values())

    def pump(self, clock: Clock, budget: float | None = None) -> int:
        """Record finished sends, claim and start what fits, again as sends finish; returns how
        many were started.

        Returns once nothing more fits and nothing is in flight, or (``budget`` seconds) once
        that much time has passed, leaving slow sends in flight for a later call.
        """
        started = time.monotonic()
        seen: set[int] = set()  # started by this call: never twice in one call
        while True:
            self._record_finished(clock)
            batch = self._claim(clock, seen)
            if not self._in_flight:
                return len(seen)
            left = None if budget is None else budget - (time.monotonic() - started)
            if left is not None and left <= 0:
                return len(seen)
            if batch and len(self._in_flight) < self.concurrency:
                continue  # more may be due, and threads are free
            wait(self._in_flight, timeout=left, return_when=FIRST_COMPLETED)

    def _claim(self, clock: Clock, seen: set[int]) -> list[Outgoing]:
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            return []
        room = TargetRoom(self.per_target, self.in_flight())
        exclude = seen | {item.id for item in self._in_flight.values()}
        batch = claim_due(self.db, clock.now(), free, claim_ttl(self.cfg), exclude, room)
        timeout = self.cfg.delivery.timeout
        for item in batch:
            seen.add(item.id)
            future = self._pool.submit(send_one, self.client, item, timeout, clock.now())
            self._in_flight[future] = item
        return batch

    def _record_finished(self, clock: Clock) -> None:
        done = [f for f in self._in_flight if f.done()]
        if done:
            results = [(self._in_flight.pop(f), f.result()) for f in done]
            record_outcomes(self.db, self.cfg, results, clock.now())

    def close(self, clock: Clock) -> None:
        """Wait for the sends in flight and record them (a scheduler shutting down)."""
        self._pool.shutdown(wait=True)
        try:
            self._record_finished(clock)
        except Exception:  # their claims expire and they are sent again: nothing is lost
            log.exception("delivery outcomes not recorded at shutdown")


def process_due(
    db: Database,
    cfg: Config,
    clock: Clock,
    client: OutboundClient | None = None,
    *,
    hooks: Sequence[EventHook] | None = None,
) -> int:
    """One round to the end: dispatch new events, then send all that is due (waiting for every
    send); returns deliveries attempted. For the CLI and tests; the scheduler keeps a ``Sender``.

    ``hooks`` replace the dispatcher's default (WebSub content distribution).
    """
    dispatch(db, cfg, clock, hooks=hooks)
    own = client is None
    client = client or make_delivery_client(cfg)
    sender = Sender(db, cfg, client)
    try:
        return sender.pump(clock)
    finally:
        sender.close(clock)
        if own:
            client.close()
