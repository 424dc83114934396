"""``validate_paths``: every class of designer mistake, with its exact file:line:column and hint.

Each row is a campaign text, then what the designer must read: the position, the
token found there (so a row cannot silently point at the wrong place), a piece
of the message and a piece of the hint.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.campaign.validate import validate_paths
from engine.diagnostics import Diagnostic
from engine.settings import PROJECT_ROOT

CONTENT = PROJECT_ROOT / "content"
CAMPAIGNS = PROJECT_ROOT / "campaigns"
HEAD = "campaign: t\ntitle: T\ndefaults:\n  channels: [sms]\nsteps:\n"  # steps start on line 6


@dataclass(frozen=True)
class Expected:
    line: int
    column: int
    token: str  # what the source holds at line:column
    message: str
    hint: str | None = None
    severity: str = "error"


CASES: list[tuple[str, str, Expected]] = [
    (
        "yaml-syntax",
        "campaign: t\ntitle: [a\nsteps: 1\n",
        Expected(3, 6, ":", "YAML syntax error: a '[' opened on line 2 is not closed", "close it with ']'"),
    ),
    (
        "not-a-mapping",
        "- a\n- b\n",
        Expected(1, 1, "-", "a campaign file is a mapping with 'campaign', 'title' and 'steps' (found list)"),
    ),
    (
        "empty-file",
        "# nothing yet\n",
        Expected(1, 1, "#", "found an empty file"),
    ),
    (
        "duplicate-yaml-key",
        "campaign: t\ntitle: T\ntitle: U\nsteps: []\n",
        Expected(3, 1, "title", "YAML syntax error: the key 'title' appears twice (first on line 2)"),
    ),
    (
        "unknown-step-key",
        HEAD + "  - id: a\n    at: +1d\n    lessson: management/feedback-sbi\n",
        Expected(8, 5, "lessson", "unknown step kind 'lessson'", "did you mean 'lesson'?"),
    ),
    (
        "unknown-key-beside-a-kind",
        HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n    chanels: [sms]\n",
        Expected(9, 5, "chanels", "unknown key 'chanels'", "did you mean 'channels'?"),
    ),
    (
        "unknown-step-kind",
        HEAD + "  - id: a\n    at: +1d\n    video: intro\n",
        Expected(8, 5, "video", "unknown step kind 'video'", "a step is one of lesson, quiz, review"),
    ),
    (
        "step-without-kind",
        HEAD + "  - id: a\n    at: +1d\n    title: Rien\n",
        Expected(6, 5, "id", "a step has exactly one of lesson, quiz, review, survey, checkin, task, message (found: none)"),
    ),
    (
        "step-with-two-kinds",
        HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n    quiz: management/quiz-sbi\n",
        Expected(6, 5, "id", "(found: lesson, quiz)"),
    ),
    (
        "unknown-content-ref",
        HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbj\n",
        Expected(8, 13, "management/feedback-sbj", "unknown lesson 'management/feedback-sbj'",
                 "did you mean 'management/feedback-sbi'?"),
    ),
    (
        "survey-named-with-its-folder",
        HEAD + "  - id: a\n    at: +1d\n    survey: surveys/satisfaction-chaud\n",
        Expected(8, 13, "surveys/", "unknown survey 'surveys/satisfaction-chaud'",
                 "write 'satisfaction-chaud'"),
    ),
    (
        "lesson-used-as-quiz",
        HEAD + "  - id: a\n    at: +1d\n    quiz: management/feedback-sbi\n",
        Expected(8, 11, "management/feedback-sbi", "unknown quiz", "is a lesson, not a quiz bank"),
    ),
    (
        "duplicate-step-id",
        HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n"
        "  - id: a\n    at: +2d\n    lesson: management/memo-j14\n",
        Expected(9, 9, "a", "duplicate step id 'a' (first defined at line 6)"),
    ),
    (
        "goto-missing-step",
        HEAD + "  - id: quiz\n    at: +7d\n    quiz: management/quiz-sbi\n    if:\n"
        "      - score_below: 0.5\n        then: {goto: rappel}\n"
        "  - id: rappel-j1\n    at: +8d\n    when: branched\n    lesson: management/feedback-sbi-recap\n",
        Expected(11, 22, "rappel}", "goto 'rappel': no step has this id", "did you mean 'rappel-j1'?"),
    ),
    (
        "template-variable-in-message",
        HEAD + '  - id: a\n    at: +1d\n    message: "Bonjour {{ learner.frist_name }} !"\n',
        Expected(8, 34, "frist_name", "unknown attribute 'frist_name' of 'learner'",
                 "did you mean 'first_name'?"),
    ),
    (
        "template-variable-in-task",
        HEAD + "  - id: a\n    at: +1d\n    to: trainer\n    task: Appeler {{ learner.frist_name }}\n",
        Expected(9, 30, "frist_name", "unknown attribute 'frist_name'", "did you mean 'first_name'?"),
    ),
    (
        "template-variable-in-block-scalar",
        HEAD + "  - id: a\n    at: +1d\n    message: |\n      Bonjour,\n      voici {{ lerner.first_name }}\n",
        Expected(10, 16, "lerner", "unknown variable 'lerner'", "did you mean 'learner'?"),
    ),
    (
        "template-variable-in-branch-message",
        HEAD + "  - id: a\n    at: +21d\n    checkin: plan-action\n    if:\n      - answer: bloque\n"
        '        then: {message: "Courage {{ learner.prenom }}"}\n',
        Expected(11, 45, "prenom", "unknown attribute 'prenom'", "known: first_name"),
    ),
    (
        "offset-unknown-unit",
        HEAD + "  - id: a\n    at: +1x\n    lesson: management/feedback-sbi\n",
        Expected(7, 9, "+1x", "cannot read offset '+1x': units are mo, w, wd, d, h, min"),
    ),
    (
        "offset-without-plus",
        HEAD + "  - id: a\n    at: 2d\n    lesson: management/feedback-sbi\n",
        Expected(7, 9, "2d", "cannot read offset '2d': an offset starts with '+'"),
    ),
    (
        "offset-not-a-time",
        HEAD + "  - id: a\n    at: +25:00\n    lesson: management/feedback-sbi\n",
        Expected(7, 9, "+25:00", "cannot read offset '+25:00': 25:00 is not a time"),
    ),
    (
        "offset-ambiguous",
        HEAD + "  - id: a\n    at: +2h30\n    lesson: management/feedback-sbi\n",
        Expected(7, 9, "+2h30", "ambiguous: write '+2h 30min' for a duration or '+0d 02:30' for a time of day"),
    ),
    (
        "window-without-hours",
        HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n"
        '    window: {from: "19:00", to: "09:00"}\n',
        Expected(9, 13, "{", "the window has no hours: 'to' (09:00) must be after 'from' (19:00)"),
    ),
    (
        "window-without-days",
        HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n    window: {days: []}\n",
        Expected(9, 13, "{", "the window has no days"),
    ),
    (
        "window-unknown-day",
        HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n    window: {days: [mon, tues]}\n",
        Expected(9, 26, "tues", "'tues' is not allowed here", "did you mean 'tue'?"),
    ),
    (
        "answer-not-a-choice",
        HEAD + "  - id: a\n    at: +21d\n    checkin: plan-action\n    if:\n      - answer: bloqué\n"
        "        then: {alert: trainer, reason: bloqué}\n",
        Expected(10, 17, "bloqué", "answer 'bloqué' is not a choice of 'plan-action'", "did you mean 'bloque'?"),
    ),
    (
        "rating-below-on-a-quiz",
        HEAD + "  - id: a\n    at: +7d\n    quiz: management/quiz-sbi\n    if:\n      - rating_below: 3\n"
        "        then: {alert: trainer, reason: note}\n",
        Expected(10, 9, "rating_below", "rating_below tests a survey answer, but step 'a' is a quiz"),
    ),
    (
        "alert-without-reason",
        HEAD + "  - id: a\n    at: +7d\n    quiz: management/quiz-sbi\n    if:\n      - score_below: 0.5\n"
        "        then: {alert: trainer}\n",
        Expected(11, 15, "{", "an alert needs a 'reason'"),
    ),
    (
        "sms-ucs2",
        HEAD + "  - id: a\n    at: +1d\n    message: \"Voici l’astuce du jour\"\n",
        Expected(8, 22, "’", "SMS is UCS-2 because of ’ (U+2019): 70 characters per segment instead of 160",
                 "smart_encoded", "warning"),
    ),
    (
        "sms-segments",
        HEAD + "  - id: a\n    at: +1d\n    message: \"" + "Pensez au feedback SBI. " * 15 + "\"\n",
        Expected(8, 14, '"', "SMS is 3 segments (360 characters)", None, "warning"),
    ),
    (
        "branched-step-nobody-reaches",
        HEAD + "  - id: a\n    at: +1d\n    when: branched\n    lesson: management/feedback-sbi\n",
        Expected(8, 11, "branched", "step 'a' is 'branched' but no goto leads to it", None, "warning"),
    ),
]


def _run(tmp_path: Path, text: str) -> tuple[Path, list[Diagnostic]]:
    path = tmp_path / "campagne.yaml"
    path.write_text(text, encoding="utf-8")
    report = validate_paths([path], content_dir=CONTENT)
    return path, report.diagnostics


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_each_mistake_is_positioned_and_explained(tmp_path: Path, text: str, expected: Expected) -> None:
    path, diagnostics = _run(tmp_path, text)
    matching = [d for d in diagnostics if expected.message in d.message]
    assert matching, f"no diagnostic says {expected.message!r}; got {[d.format() for d in diagnostics]}"
    found = matching[0]
    assert (found.file, found.line, found.column, found.severity) == (
        str(path), expected.line, expected.column, expected.severity
    ), found.format()
    source_line = text.splitlines()[expected.line - 1]
    assert source_line[expected.column - 1 :].startswith(expected.token), source_line
    if expected.hint is not None:
        assert found.hint is not None and expected.hint in found.hint, found.format()


@pytest.mark.parametrize(
    ("text", "errors", "warnings"),
    [
        (HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n", 0, 0),
        (HEAD + "  - id: a\n    at: +1d\n    message: \"Voici l’astuce\"\n", 0, 1),
        # smart quotes are fine on push and email: no SMS warning there
        ("campaign: t\ntitle: T\ndefaults:\n  channels: [push, email]\nsteps:\n"
         "  - id: a\n    at: +1d\n    message: \"Voici l’astuce\"\n", 0, 0),
        # a task goes to the trainer's dashboard, never by SMS
        (HEAD + "  - id: a\n    at: +1d\n    to: trainer\n    task: \"Appeler l’apprenant\"\n", 0, 0),
    ],
)
def test_counts(tmp_path: Path, text: str, errors: int, warnings: int) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    report = validate_paths([path], content_dir=CONTENT)
    assert (report.errors, report.warnings) == (errors, warnings), report.text()


def test_several_files_and_a_missing_one(tmp_path: Path) -> None:
    good = tmp_path / "ok.yaml"
    good.write_text(HEAD + "  - id: a\n    at: +1d\n    lesson: management/feedback-sbi\n", encoding="utf-8")
    bad = tmp_path / "ko.yaml"
    bad.write_text(HEAD + "  - id: a\n    at: 1d\n    lesson: management/feedback-sbi\n", encoding="utf-8")
    report = validate_paths([tmp_path, tmp_path / "absent.yaml"], content_dir=CONTENT)
    assert report.files == 2
    assert [(Path(d.file).name, d.line) for d in report.diagnostics] == [("absent.yaml", 0), ("ko.yaml", 7)]
    assert report.text().splitlines()[-1] == "2 files checked: 2 error(s), 0 warning(s)"


def test_shipped_library_and_campaigns_are_clean() -> None:
    report = validate_paths([CAMPAIGNS, CONTENT], content_dir=CONTENT)
    assert [d.format() for d in report.diagnostics] == []
    assert report.files == len(list(CAMPAIGNS.glob("*.yaml"))) + len(
        [p for p in CONTENT.rglob("*") if p.suffix in (".md", ".yaml")]
    )
    assert all(loaded.ok for loaded in report.campaigns)


def test_shipped_campaigns_name_the_schema_for_editors() -> None:
    paths = sorted(CAMPAIGNS.glob("*.yaml"))
    assert len(paths) >= 4  # the shipped campaigns were found
    for path in paths:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../docs/campaign.schema.json", path
        assert (path.parent / "../docs/campaign.schema.json").resolve().is_file()


def test_a_broken_quiz_is_reported_once_where_it_is_wrong(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    quiz = content / "management" / "quiz-sbi.yaml"
    quiz.write_text(quiz.read_text(encoding="utf-8").replace("answer: ", "answer: Z", 1), encoding="utf-8")
    campaign = tmp_path / "c.yaml"
    campaign.write_text(HEAD + "  - id: q\n    at: +1d\n    quiz: management/quiz-sbi\n", encoding="utf-8")
    report = validate_paths([campaign], content_dir=content)  # the campaign alone
    errors = [d for d in report.diagnostics if d.severity == "error"]
    assert len(errors) == 1, [d.format() for d in errors]
    assert errors[0].file.endswith("quiz-sbi.yaml") and "answer" in errors[0].message
    assert not any("unknown quiz" in d.message for d in report.diagnostics)
