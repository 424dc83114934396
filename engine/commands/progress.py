"""Progress of long work on the terminal: a rich bar on a terminal, plain lines otherwise.

Always on stderr, so ``--format json`` output stays clean; short work (fewer than
``threshold`` steps) shows nothing.
"""

from __future__ import annotations

import contextlib
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


class Reporter:
    """Counts steps of one piece of work and shows them (bar or one line per tenth)."""

    def __init__(self, label: str, stream: TextIO, threshold: int) -> None:
        self.label, self.stream, self.threshold = label, stream, threshold
        self.total: int | None = None
        self.done = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._next_line = 0

    def start(self, total: int) -> None:
        self.total = total
        if total < self.threshold:
            return
        if self.stream.isatty():
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=total)
        else:
            print(f"{self.label}: {total} to do", file=self.stream, flush=True)

    def advance(self, what: str = "") -> None:
        self.done += 1
        if self.total is None or self.total < self.threshold:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, description=f"{self.label} {what}".strip())
            return
        if self.done >= self._next_line or self.done == self.total:
            print(f"{self.label}: {self.done}/{self.total}{f' ({what})' if what else ''}", file=self.stream,
                  flush=True)
            self._next_line = self.done + max(self.total // 10, 1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def progress(label: str, *, stream: TextIO | None = None, threshold: int = 100) -> Iterator[Reporter]:
    """``with progress("validating") as bar: bar.start(n); ... bar.advance()``."""
    reporter = Reporter(label, stream or sys.stderr, threshold)
    try:
        yield reporter
    finally:
        reporter.close()


#: (phase, done, total)
Report = Callable[[str, int, int], None]


@contextlib.contextmanager
def progress_bar(stream: TextIO | None = None) -> Iterator[Report]:
    """A reporter for the duration of the block: one bar per phase on a terminal, else a line per step."""
    out = stream or sys.stderr
    if not out.isatty():
        def plain(phase: str, done: int, total: int) -> None:
            print(f"{phase}: {done}/{total}", file=out, flush=True)

        yield plain
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars: dict[str, object] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(file=out), transient=False) as shown:
        def update(phase: str, done: int, total: int) -> None:
            task = bars.get(phase)
            if task is None:
                task = bars[phase] = shown.add_task(phase, total=total)
            shown.update(task, completed=done, total=total)  # type: ignore[arg-type]

        yield update
