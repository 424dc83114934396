"""Progress of long work on the terminal: a rich bar on a terminal, plain lines otherwise.

One reporter for every command. It counts steps of one piece of work
(``start(n)`` then ``advance()``, for work known item by item) or is told where
a phase stands (``reporter(phase, done, total)``, for work done in batches such
as an import: one bar per phase). Always on stderr, so ``--format json`` output
stays clean; short work (fewer than ``threshold`` steps) shows nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

#: (phase, done, total): what batch work tells a :class:`Reporter`.
Report = Callable[[str, int, int], None]


class Reporter:
    """Shows one piece of work (``start``/``advance``) or several phases (``__call__``)."""

    def __init__(self, label: str, stream: TextIO, threshold: int) -> None:
        self.label, self.stream, self.threshold = label, stream, threshold
        self.total: int | None = None
        self.done = 0
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._next_line = 0

    def _shown(self, total: int) -> bool:
        return total >= self.threshold

    def _task(self, phase: str, total: int) -> TaskID:
        if self._bar is None:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(file=self.stream), transient=False)
            self._bar.start()
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(phase, total=total)
        return self._tasks[phase]

    def start(self, total: int) -> None:
        self.total = total
        if not self._shown(total):
            return
        if self.stream.isatty():
            self._task(self.label, total)
        else:
            print(f"{self.label}: {total} to do", file=self.stream, flush=True)

    def advance(self, what: str = "") -> None:
        self.done += 1
        if self.total is None or not self._shown(self.total):
            return
        if self._bar is not None:
            self._bar.update(self._tasks[self.label], advance=1, description=f"{self.label} {what}".strip())
            return
        if self.done >= self._next_line or self.done == self.total:
            print(f"{self.label}: {self.done}/{self.total}{f' ({what})' if what else ''}", file=self.stream,
                  flush=True)
            self._next_line = self.done + max(self.total // 10, 1)

    def __call__(self, phase: str, done: int, total: int) -> None:
        """Where ``phase`` stands (``done`` of ``total``): its own bar, or one line per call."""
        if not self._shown(total):
            return
        if self.stream.isatty():
            self._bar_update(phase, done, total)
        else:
            print(f"{phase}: {done}/{total}", file=self.stream, flush=True)

    def _bar_update(self, phase: str, done: int, total: int) -> None:
        task = self._task(phase, total)
        assert self._bar is not None
        self._bar.update(task, completed=done, total=total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress(label: str = "", *, stream: TextIO | None = None, threshold: int = 100) -> Iterator[Reporter]:
    """``with progress("validating") as bar: bar.start(n); ... bar.advance()``, or
    ``with progress(threshold=1) as report: import_(progress=report)`` for phases."""
    reporter = Reporter(label, stream or sys.stderr, threshold)
    try:
        yield reporter
    finally:
        reporter.close()
