"""Long work shows progress on stderr: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands.progress import progress

LESSON = "---\ntitle: Astuce {n}\nsms: \"Astuce numero {n}\"\n---\nCorps {n}.\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_every_tenth_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with progress("work", stream=stream, threshold=10) as bar:
        bar.start(100)
        for n in range(100):
            bar.advance(f"item {n}")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "work: 100 to do" and lines[-1] == "work: 100/100 (item 99)"
    assert 10 <= len(lines) <= 12


def test_a_bar_on_a_terminal_and_nothing_for_short_work() -> None:
    terminal = Terminal()
    with progress("work", stream=terminal, threshold=10) as bar:
        bar.start(50)
        for _ in range(50):
            bar.advance()
    assert "work" in terminal.getvalue() and "\x1b[" in terminal.getvalue()  # drawn with control codes
    quiet = io.StringIO()
    with progress("work", stream=quiet, threshold=10) as bar:
        bar.start(3)
        bar.advance()
    assert quiet.getvalue() == ""


def test_validating_a_large_library_and_migrating_show_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    content = tmp_path / "content" / "astuces"
    content.mkdir(parents=True)
    for n in range(150):
        (content / f"astuce-{n:03d}.md").write_text(LESSON.format(n=n), encoding="utf-8")
    assert main(["validate", str(tmp_path / "content"), "--content", str(tmp_path / "content"),
                 "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert captured.out.lstrip().startswith("{")  # stdout stays JSON
    assert "reading the content library: 150 to do" in captured.err
    assert "reading the content library: 150/150 (astuce-149.md)" in captured.err
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert main(["db", "upgrade"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("applying migrations: ") and err[-1].split(": ")[1].startswith(
        err[0].split(": ")[1].split()[0] + "/")


def test_phases_as_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with progress(stream=out, threshold=1) as report:
        report("enrolment suivi-standard", 2000, 3000)
        report("enrolment suivi-standard", 3000, 3000)
    assert out.getvalue().splitlines() == ["enrolment suivi-standard: 2000/3000",
                                           "enrolment suivi-standard: 3000/3000"]


def test_a_bar_per_phase_on_a_terminal() -> None:
    out = Terminal()
    with progress(stream=out, threshold=1) as report:
        report("learners", 3000, 3000)
        report("enrolment suivi-standard", 2000, 3000)
        report("enrolment suivi-standard", 3000, 3000)
    text = out.getvalue()
    assert "learners" in text and "3000/3000" in text and "━" in text
    assert "enrolment suivi-standard" in text
