"""Progress of long work on the terminal: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

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
