"""The operators' commands: db upgrade, session add/list, enrol from a CSV (all or nothing)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from engine.cli import main
from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.models import Attendance, Delivery, Enrollment, Learner

GOOD = """prenom;nom;telephone;email
Camille;Martin;06 12 34 56 78;camille@example.fr
Yanis;Benali;+33 7 81 23 45 67;
"""
BAD = """first_name,last_name,phone,email
Camille,Martin,0612345678,camille@example.fr
,Benali,0781234567,
Léa,Roux,12,lea@example
Hugo,Lambert,0612345678,
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "ops.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("ANCRAGE_DATA_DIR", str(tmp_path / "data"))
    return database


def _count(model: type) -> int:  # type: ignore[type-arg]
    async def run() -> int:
        engine = create_engine(Settings())
        try:
            async with session_factory(engine)() as session:
                return len((await session.exec(select(model))).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_db_upgrade_creates_the_schema(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert env.exists() and "database up to date" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0  # idempotent


def test_session_add_rejects_unknown_campaign(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["session", "add", "--title", "X", "--ends-at", "2026-03-27T17:30", "--campaign", "suivi-standar"])
    assert code == 1
    assert "unknown campaign(s): suivi-standar" in capsys.readouterr().err


def test_enrol_reports_every_bad_row_and_imports_nothing(env: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["session", "add", "--title", "Manager coach", "--ends-at", "2030-01-10T17:30",
                 "--campaign", "suivi-standard"]) == 0
    csv = tmp_path / "bad.csv"
    csv.write_text(BAD, encoding="utf-8")
    capsys.readouterr()
    assert main(["enrol", "--session", "1", "--csv", str(csv)]) == 1
    err = capsys.readouterr().err
    assert "line 3: first and last name are required" in err
    assert "line 4: '12' is not a valid phone number" in err
    assert "line 5: phone +33612345678 already on line 2" in err
    assert "nothing imported" in err
    assert _count(Learner) == 0 and _count(Attendance) == 0


def test_enrol_adds_attendees_and_enrols_when_the_session_has_ended(env: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["session", "add", "--title", "Passée", "--ends-at", "yesterday 17:30",
                 "--campaign", "suivi-standard"]) == 0
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD, encoding="utf-8")
    assert main(["enrol", "--session", "1", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "2 attendee(s) read, 2 added" in out and "2 enrolment(s) created" in out
    assert _count(Enrollment) == 2 and _count(Delivery) > 10
    # Enrolling the same file again adds nobody and plans nothing twice.
    assert main(["enrol", "--session", "1", "--csv", str(csv)]) == 0
    assert "0 added" in capsys.readouterr().out
    assert _count(Enrollment) == 2 and _count(Learner) == 2
    assert main(["session", "list"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "ENDS", "TITLE", "TRAINER", "LEARNERS", "CAMPAIGNS", "STATE"]
    yesterday = (datetime.now(ZoneInfo("Europe/Paris")) - timedelta(days=1)).date().isoformat()
    assert line.split() == ["1", yesterday, "17:30", "Passée", "-", "2", "suivi-standard", "running:", "2", "active"]


def test_enrol_unknown_session(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD, encoding="utf-8")
    assert main(["enrol", "--session", "42", "--csv", str(csv)]) == 1
    assert "no session 42" in capsys.readouterr().err


def test_learner_export_and_erase(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["session", "add", "--title", "Passée", "--ends-at", "yesterday 17:30",
                 "--campaign", "suivi-standard"]) == 0
    csv = tmp_path / "good.csv"
    csv.write_text(GOOD, encoding="utf-8")
    assert main(["enrol", "--session", "1", "--csv", str(csv)]) == 0
    capsys.readouterr()
    assert main(["learner", "export", "1"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["learner"]["phone"] == "+33612345678" and exported["deliveries"]
    assert main(["learner", "erase", "1"]) == 2  # needs --yes
    assert main(["learner", "erase", "1", "--yes"]) == 0
    capsys.readouterr()
    assert main(["learner", "export", "1"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert after["learner"]["phone"] is None and after["learner"]["first_name"] == "(effacé)"
    assert after["learner"]["erased_at"] is not None
    assert {d["status"] for d in after["deliveries"]} <= {"cancelled", "sent", "delivered", "skipped", "expired"}
    assert all(d["rendered"] is None for d in after["deliveries"])
    assert main(["learner", "export", "99"]) == 1
