"""The changed files of a Markdown pass read, rendered and summarised in worker processes.

The pass stats every file first (cheap, in the parent), then hands only the changed ones here.
Few of them are done in-process (a pool's start-up would cost more than it saves); more go to a
pool of ``[ingest] workers`` processes in chunks, with a bounded number of chunks in flight,
and come back in the order given: the parent stores each batch as it arrives and never holds
more than a few chunks of rendered posts. Workers end with the parent (lifecycle.end_with_parent:
the kernel's parent-death signal and a watch thread), and the pool is shut down when the pass
ends, by success or error.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from feedsvc.lifecycle import end_with_parent
from feedsvc.posts.model import SourceItem
from feedsvc.posts.store import Summarizer, prepare
from feedsvc.sources.markdown import Changed, read_changed
from feedsvc.sources.report import ItemError

SMALL_PASS = 100  # fewer changed files than this are rendered in-process (no pool start-up)
CHUNK = 16  # files per task sent to a worker
AHEAD = 3  # chunks in flight per worker: what bounds the rendered posts held at once

Prepared = SourceItem | ItemError
log = logging.getLogger("feedsvc.ingest")


@dataclass(frozen=True)
class RenderJob:
    """What rendering one source's files needs besides the files (sent to each worker once)."""

    source: str
    root: str
    base_url: str
    max_bytes: int
    language: str | None
    summarizer: Summarizer

    def one(self, changed: Changed) -> Prepared:
        """Read, render and summarise one file (title heading dropped): as the write would."""
        found = read_changed(
            self.source,
            Path(self.root),
            changed,
            base_url=self.base_url,
            max_bytes=self.max_bytes,
            language=self.language,
        )
        if isinstance(found, ItemError):
            return found
        try:
            return prepare(found, self.summarizer)
        except Exception as exc:  # a summary that fails is that file's error, as at write
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            return ItemError(self.source, changed.key, f"cannot ingest: {reason}")


def prepared(job: RenderJob, changed: Sequence[Changed], workers: int) -> Iterator[Prepared]:
    """One result per changed file, in order; a pool when ``workers`` > 1 and there are many."""
    if workers <= 1 or len(changed) < SMALL_PASS:
        for one in changed:
            yield job.one(one)
        return
    yield from _pooled(job, changed, workers)


def _pooled(job: RenderJob, changed: Sequence[Changed], workers: int) -> Iterator[Prepared]:
    """The pool's results in order; when a worker dies (killed, out of memory) the pool is
    broken: the chunks it had not finished, and the rest, are rendered in-process."""
    chunks = iter([changed[i : i + CHUNK] for i in range(0, len(changed), CHUNK)])
    pool = ProcessPoolExecutor(
        max_workers=min(workers, -(-len(changed) // CHUNK)),
        # spawn, not fork: the scheduler process has threads (a fork could copy a held lock)
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), job),
    )
    in_flight: deque[tuple[Sequence[Changed], Future[list[Prepared]] | None]] = deque()
    broken = False

    def submit() -> None:
        nonlocal broken
        while len(in_flight) < workers * AHEAD and (chunk := next(chunks, None)) is not None:
            future = None
            if not broken:
                try:
                    future = pool.submit(_render_chunk, list(chunk))
                except BrokenProcessPool:
                    broken = True
            in_flight.append((chunk, future))

    try:
        submit()
        while in_flight:
            chunk, future = in_flight.popleft()
            results = None
            if future is not None and not broken:
                try:
                    results = future.result()
                except BrokenProcessPool:
                    broken = True
                    log.warning(
                        "a render worker of source %r died; the rest of the pass is rendered "
                        "in-process",
                        job.source,
                    )
            yield from results if results is not None else (job.one(one) for one in chunk)
            submit()
    finally:  # at the end of the pass, or when the writer stops early (error, generator closed)
        pool.shutdown(wait=True, cancel_futures=True)


_job: RenderJob | None = None  # the job of this worker process (set once, when it starts)


def _start_worker(parent_pid: int, job: RenderJob) -> None:
    global _job
    end_with_parent(parent_pid)
    _job = job


def _render_chunk(chunk: list[Changed]) -> list[Prepared]:
    assert _job is not None, "render worker without a job"
    return [_job.one(one) for one in chunk]
