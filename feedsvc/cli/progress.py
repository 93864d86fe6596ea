"""Progress of ``feedsvc ingest``: a tqdm bar (count, rate, ETA) on a terminal; a plain line
every few seconds when stderr is a file or a pipe (a log gets lines, not carriage returns)."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import IO, Any

PLAIN_EVERY = 5.0  # seconds between plain lines


class Progress:
    """A ``progress(done, total)`` callback for one source; ``close()`` ends its display."""

    def __init__(
        self,
        name: str,
        stream: IO[str] | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        every: float = PLAIN_EVERY,
    ) -> None:
        self.name = name
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock, self.every = clock, every
        self.started = self.last = clock()
        self.done: int = 0
        self.total: int | None = None
        self.bar: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        if self.tty:
            self._bar(done, total)
        elif self.clock() - self.last >= self.every:
            self.last = self.clock()
            self._line()

    def _bar(self, done: int, total: int | None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            # a terminal that reports no size (0 x 0, e.g. a fresh pty) hides tqdm's bar
            size = shutil.get_terminal_size((80, 24))
            self.bar = tqdm(
                total=total,
                desc=self.name,
                unit="file",
                file=self.stream,
                ncols=size.columns or 80,
                nrows=size.lines or 24,
            )
        self.bar.update(done - self.bar.n)

    def _line(self, final: bool = False) -> None:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        text = f"{self.name}: {count} files, {rate:.1f}/s"
        if final:
            text += f", done in {elapsed:.1f}s"
        elif self.total and rate > 0:
            text += f", about {(self.total - self.done) / rate:.0f}s left"
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.tty and self.done:
            self._line(final=True)
