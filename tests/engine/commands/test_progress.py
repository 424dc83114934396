"""Long work shows progress: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from engine.commands.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with progress_bar(out) as report:
        report("enrolment suivi-standard", 2000, 3000)
        report("enrolment suivi-standard", 3000, 3000)
    assert out.getvalue().splitlines() == ["enrolment suivi-standard: 2000/3000",
                                           "enrolment suivi-standard: 3000/3000"]


def test_a_bar_on_a_terminal() -> None:
    out = Terminal()
    with progress_bar(out) as report:
        report("learners", 3000, 3000)
    text = out.getvalue()
    assert "learners" in text and "3000/3000" in text and "━" in text
