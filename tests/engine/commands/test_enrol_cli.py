"""Enrolment from the CLI as an operator meets it: late sessions, e-mails, duplicates, consent, README dates."""

from __future__ import annotations

import asyncio
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from engine.cli import main
from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.models import Attendance, Delivery, Enrollment, Learner

ROOT = Path(__file__).resolve().parents[3]
GOOD = """prénom;nom;téléphone;courriel
Camille;Martin;06 12 34 56 78;camille@example.fr
Yanis;Benali;+33 7 81 23 45 67;
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    monkeypatch.setenv("ANCRAGE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _rows(model: type) -> list:  # type: ignore[type-arg]
    async def run() -> list:  # type: ignore[type-arg]
        engine = create_engine(Settings())
        try:
            async with session_factory(engine)() as session:
                return list((await session.exec(select(model))).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _csv(env: Path, text: str = GOOD) -> str:
    path = env / "attendees.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _session(ends_at: str) -> None:
    assert main(["session", "add", "--title", "Manager coach", "--ends-at", ends_at,
                 "--campaign", "suivi-standard"]) == 0


def test_a_session_that_ended_long_ago_is_refused_unless_told_when_to_start(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _session("-40d 17:30")
    capsys.readouterr()
    assert main(["enrol", "--session", "1", "--csv", _csv(env)]) == 1
    err = capsys.readouterr().err
    assert "ended 40 days ago" in err and "--start now" in err and "--start session-end" in err
    assert _rows(Learner) == [] and _rows(Enrollment) == []
    assert main(["enrol", "--session", "1", "--csv", _csv(env), "--start", "now"]) == 0
    out = capsys.readouterr().out
    assert "2 enrolment(s) created" in out and "campaigns start now" in out
    now = datetime.now(UTC)
    assert all(abs(e.anchor_at - now) < timedelta(minutes=5) for e in _rows(Enrollment))
    planned = _rows(Delivery)
    assert planned and min(d.due_at for d in planned) > now - timedelta(minutes=5)  # nothing overdue


def test_both_runs_of_a_recent_session_say_the_same_thing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _session("-3d 17:30")
    capsys.readouterr()
    assert main(["enrol", "--session", "1", "--csv", _csv(env)]) == 0
    first = capsys.readouterr().out
    assert main(["enrol", "--session", "1", "--csv", _csv(env)]) == 0
    second = capsys.readouterr().out
    start = re.compile(r"campaigns start[^.]*")
    assert start.search(first) and start.search(first).group(0) == start.search(second).group(0)  # type: ignore[union-attr]
    assert "from the session's end" in first and "overdue rule" in first
    assert "every attendee was already enrolled" in second


def test_a_session_not_ended_yet_says_when_it_will_start(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _session("tomorrow 17:30")
    capsys.readouterr()
    assert main(["enrol", "--session", "1", "--csv", _csv(env)]) == 0
    out = capsys.readouterr().out
    assert "0 enrolment(s) created" in out and "campaigns will start when the session ends" in out


def test_emails_are_validated_and_duplicates_reported(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _session("yesterday 17:30")
    text = ("first_name,last_name,phone,email\n"
            "Emma,Garnier,,emma.garnier@exemple\n"
            "Léa,Roux,,lea.roux@example.fr\n"
            "Léa,Roux,,Lea.Roux@example.fr\n")
    capsys.readouterr()
    assert main(["enrol", "--session", "1", "--csv", _csv(env, text)]) == 1
    err = capsys.readouterr().err
    assert "line 2: 'emma.garnier@exemple' is not a valid e-mail address" in err
    assert "line 4: e-mail Lea.Roux@example.fr already on line 3" in err
    assert _rows(Learner) == []


def test_consent_comes_from_the_file_or_the_setting_and_is_shown(
        env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCRAGE_DEFAULT_CONSENT", "email,push")
    _session("yesterday 17:30")
    text = ("prenom;nom;telephone;email;consentement_sms;consent_email\n"
            "Camille;Martin;06 12 34 56 78;camille@example.fr;oui;non\n"
            "Yanis;Benali;07 81 23 45 67;;;\n")
    capsys.readouterr()
    assert main(["enrol", "--session", "1", "--csv", _csv(env, text)]) == 0
    assert "Consent where the file says nothing: push, email" in capsys.readouterr().out
    by_name = {learner.first_name: learner for learner in _rows(Learner)}
    camille, yanis = by_name["Camille"], by_name["Yanis"]
    assert (camille.consent_sms, camille.consent_email, camille.consent_push) == (True, False, True)
    assert (yanis.consent_sms, yanis.consent_whatsapp, yanis.consent_email, yanis.consent_push) == (
        False, False, True, True)
    bad = "prenom;nom;telephone;consent_sms\nInès;Morel;06 11 22 33 44;peut-être\n"
    assert main(["enrol", "--session", "1", "--csv", _csv(env, bad)]) == 1
    assert "consent_sms 'peut-être' is neither oui nor non" in capsys.readouterr().err


def test_help_lists_the_accepted_columns(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["enrol", "--help"])
    out = capsys.readouterr().out
    for name in ("prénom", "téléphone", "courriel", "consentement_sms", "matricule", "fuseau", "--start"):
        assert name in out


def test_readme_operator_example_works_whenever_it_is_read(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's `session add` then `enrol` lines run as written (their dates are relative)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    add = next(line for line in readme.splitlines() if line.startswith("ancrage session add"))
    enrol = next(line for line in readme.splitlines() if line.startswith("ancrage enrol "))
    assert main(shlex.split(add.split("#")[0])[1:]) == 0
    args = shlex.split(enrol.split("#")[0])[1:]
    args[args.index("--csv") + 1] = _csv(env)
    capsys.readouterr()
    assert main(args) == 0, capsys.readouterr().err
    columns = readme[readme.index("CSV columns"):]
    for name in ("prénom", "téléphone", "courriel", "consentement_sms"):
        assert name in columns


def test_an_unknown_campaign_imports_nobody(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The campaigns are read while the attendees are written: an unknown one rolls them back."""
    _session("yesterday 17:30")
    capsys.readouterr()
    assert main(["enrol", "--session", "1", "--csv", _csv(env), "--campaign", "suivi-standar"]) == 1
    assert "unknown campaign 'suivi-standar'" in capsys.readouterr().err
    assert _rows(Learner) == [] and _rows(Attendance) == [] and _rows(Enrollment) == []
    assert main(["enrol", "--session", "9", "--csv", _csv(env)]) == 1
    assert "no session 9" in capsys.readouterr().err


def test_two_rows_of_one_file_with_one_external_id_are_one_new_learner(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows are matched before the new learners are inserted together: the later row updates the first."""
    rows = ["matricule;prenom;nom;telephone", "E-1;Camille;Martin;06 12 34 56 78",
            "E-1;Camille;Martin-Durand;07 81 23 45 67", "E-2;Yanis;Benali;06 11 22 33 44"]
    _session("yesterday 17:30")
    assert main(["enrol", "--session", "1", "--csv", _csv(env, "\n".join(rows) + "\n")]) == 0
    learners = sorted(_rows(Learner), key=lambda learner: learner.id)
    assert [(lr.external_id, lr.last_name, lr.phone, lr.locale, lr.consent_sms) for lr in learners] == [
        ("E-1", "Martin-Durand", "+33781234567", "fr", True), ("E-2", "Benali", "+33611223344", "fr", True)]
    assert all(learner.created_at is not None for learner in learners)
    assert sorted(a.learner_id for a in _rows(Attendance)) == [learner.id for learner in learners]
    assert len(_rows(Enrollment)) == 2
