"""The designers' commands through ``engine.cli.main``: output, JSON shapes and exit statuses.

Exit statuses: 0 all good, 1 the campaign has errors (or warnings with
``--strict``), 2 the command line itself is wrong (unknown zone, persona, option).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.settings import PROJECT_ROOT

CONTENT = str(PROJECT_ROOT / "content")
STANDARD = str(PROJECT_ROOT / "campaigns" / "suivi-standard.yaml")
HEAD = "campaign: t\ntitle: T\ndefaults:\n  channels: [sms]\nsteps:\n"
GOOD = HEAD + "  - id: a\n    at: +1d 09:30\n    lesson: management/feedback-sbi\n"
BAD_OFFSET = HEAD + "  - id: a\n    at: +1x\n    lesson: management/feedback-sbi\n"
WARNING_ONLY = HEAD + "  - id: a\n    at: +1d\n    message: \"Voici l’astuce\"\n"
SYNTAX = "campaign: t\ntitle: [oops\nsteps: 1\n"


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("text", "extra", "status", "expected_lines"),
    [
        (GOOD, [], 0, ["1 files checked: 0 error(s), 0 warning(s)"]),
        (BAD_OFFSET, [], 1, ["{file}:7:9: error: cannot read offset '+1x': units are mo, w, wd, d, h, min "
                             "(for example 2h, 1d, 3mo, 10wd)",
                             "1 files checked: 1 error(s), 0 warning(s)"]),
        (SYNTAX, [], 1, ["{file}:3:6: error: YAML syntax error: a '[' opened on line 2 is not closed "
                         "(close it with ']', or put the text in quotes)",
                         "1 files checked: 1 error(s), 0 warning(s)"]),
        (WARNING_ONLY, [], 0, ["{file}:8:22: warning: SMS is UCS-2 because of ’ (U+2019): 70 characters per "
                               "segment instead of 160 (use plain ' \" ... or smart_encoded)",
                               "1 files checked: 0 error(s), 1 warning(s)"]),
        (WARNING_ONLY, ["--strict"], 1, None),
        (GOOD, ["--strict"], 0, None),
    ],
)
def test_validate_text(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, extra: list[str],
                       status: int, expected_lines: list[str] | None) -> None:
    file = write(tmp_path, text)
    assert main(["validate", file, "--content", CONTENT, *extra]) == status
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    if expected_lines is not None:
        assert out.out.splitlines() == [line.format(file=file) for line in expected_lines]


def test_validate_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, HEAD + "  - id: a\n    at: +1d\n    lessson: management/feedback-sbi\n")
    assert main(["validate", file, "--content", CONTENT, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "files": 1,
        "errors": 1,
        "warnings": 0,
        "diagnostics": [{
            "severity": "error", "file": file, "line": 8, "column": 5,
            "message": "unknown step kind 'lessson'", "hint": "did you mean 'lesson'?",
        }],
    }


def test_validate_defaults_to_the_shipped_campaigns_and_content(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--strict"]) == 0
    assert capsys.readouterr().out.strip().endswith("files checked: 0 error(s), 0 warning(s)")


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--format", "xml"],
        ["preview", "suivi-standard"],  # --session-end is required
        ["simulate", "suivi-standard", "--session-end", "2026-03-27T18:00", "--seed", "x"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: ancrage" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["preview", STANDARD, "--session-end", "2026-03-27T18:00", "--tz", "Europe/Pariss"],
         "ancrage: unknown time zone 'Europe/Pariss' (e.g. Europe/Paris)"),
        (["preview", STANDARD, "--session-end", "vendredi"],
         "ancrage: cannot read --session-end 'vendredi': use 2026-03-27T18:00"),
        (["simulate", STANDARD, "--session-end", "2026-03-27T18:00", "--persona", "lazy"],
         "ancrage: unknown persona 'lazy': choose assidu, en-difficulte, tardif, silencieux"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == message


def test_preview_of_a_broken_campaign_prints_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write(tmp_path, BAD_OFFSET)
    assert main(["preview", file, "--session-end", "2026-03-27T18:00", "--content", CONTENT]) == 1
    assert capsys.readouterr().err.startswith(f"{file}:7:9: error: cannot read offset '+1x'")


def test_preview_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "suivi-standard", "--session-end", "2026-03-27T18:00", "--tz", "Europe/Paris",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    first = {(row["step"], row["occurrence"]): row for row in rows}
    assert first[("satisfaction-chaud", 0)] | {"text": ""} == {
        "step": "satisfaction-chaud", "occurrence": 0, "kind": "survey", "content": "satisfaction-chaud",
        "recipient": "learner", "channels": ["push", "sms", "email"], "channel": "push",
        "nominal_at": "2026-03-27T20:00:00+01:00", "due_at_local": "2026-03-30T09:00:00+02:00",
        "due_at_utc": "2026-03-30T07:00:00+00:00", "shifted": "after window", "text": "",
        "sms_segments": 2, "notes": [],  # SMS is a fallback channel: its cost is shown
    }
    assert first[("appel-formateur", 0)]["due_at_local"] == "2026-04-10T18:00:00+02:00"
    assert first[("appel-formateur", 0)]["shifted"] is None
    assert [row["due_at_utc"] for row in rows] == sorted(row["due_at_utc"] for row in rows)


def test_preview_text_for_a_learner_abroad(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "suivi-standard", "--session-end", "2026-03-27T18:00+01:00",
                 "--tz", "America/Montreal"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Manager coach - suivi post-formation standard (suivi-standard), time zone America/Montreal")
    assert "Fri 2026-03-27 15:00 EDT  satisfaction-chaud  [survey -> learner, push]" in out


def test_simulate_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "suivi-standard", "--persona", "silent", "--session-end", "2026-03-27T18:00"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Manager coach - suivi post-formation standard: persona 'silencieux' (never answers)"
    # As production runs it: two ``after`` from the question, on the wall clock.
    assert "Tue 2026-04-07 18:00  alert     quiz-j7                alert to trainer: Quiz J+7 sans réponse malgré une relance" in out


def test_simulate_json_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "suivi-standard", "--persona", "struggling", "--session-end", "2026-03-27T18:00",
            "--format", "json", "--seed", "1"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert set(first[0]) == {"at", "event", "step", "detail", "text"}
    task = [e for e in first if e["step"] == "appel-formateur" and e["event"] == "sent"]
    assert task and task[0]["text"].startswith("Appeler Camille Martin")


def test_simulate_with_a_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write(tmp_path, "quiz-j7:\n  replies: [A, A, A]\n  delay: 10min\nplan-action-j21: [C]\n",
                   "script.yaml")
    assert main(["simulate", "suivi-standard", "--session-end", "2026-03-27T18:00", "--script", script,
                 "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    score = [e for e in entries if e["event"] == "score"]
    assert score[0]["detail"] == "score 0% (3 answers)"
    alerts = [e["detail"] for e in entries if e["event"] == "alert"]
    assert "alert to trainer: Plan d'action bloqué" in alerts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quiz-j7:\n  replies: {a: 1}\n", "{file}:2:3: replies of 'quiz-j7' must be a list of texts"),
        ("quiz-j7:\n  replies: [A]\n  delay: demain\n", "{file}:3:10: cannot read duration 'demain'"),
        ("- A\n", "{file}: a script maps step ids to replies"),
        ("quiz-j7: [A\n", "{file}:2:1: error: YAML syntax error"),
    ],
)
def test_bad_scripts_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    script = write(tmp_path, text, "script.yaml")
    assert main(["simulate", "suivi-standard", "--session-end", "2026-03-27T18:00", "--script", script]) == 2
    assert capsys.readouterr().err.startswith("ancrage: " + message.format(file=script))
