"""The demo's history: past sessions played through the real engine, shaped for the dashboard,
the same for a given seed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.demo.cohort import DEMO_TRAINERS, HistoryPlan, SessionSpec
from engine.demo.history import HistoryReport, seed_history
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.catalog import Catalog
from engine.settings import Settings

UNTIL = datetime(2026, 11, 27, 15, 20, tzinfo=UTC)  # a Friday afternoon
A, B = DEMO_TRAINERS[0].email, DEMO_TRAINERS[1].email
PLAN = HistoryPlan(trainers=DEMO_TRAINERS, seed=7, sessions=(
    SessionSpec("Manager coach — Lyon", A, 130, learners=6),
    SessionSpec("Manager coach — Paris", B, 45, learners=6),
    SessionSpec("Manager coach — Nantes", A, 10, learners=5),
))
CRITERIA = {"accueil", "contenu", "equipe-pedagogique", "moyens", "accompagnement"}


#: What the replay told its progress bar, as ``(phase, days replayed, days in all)``.
HEARD: list[tuple[str, int, int]] = []


def _seed(folder: Path, plan: HistoryPlan) -> tuple[sqlite3.Connection, HistoryReport]:
    # One key for every folder, so that answer links (signed) are equal across two runs.
    settings = Settings(data_dir=folder, database_url=None, sandbox=True,
                        secret_key="demo-history-test-" + "k9Zx" * 8)

    async def run() -> HistoryReport:
        rt = await build_runtime(settings)
        try:
            catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
            return await seed_history(rt, catalog, plan=plan, until=UNTIL,
                                      progress=lambda *told: HEARD.append(told))
        finally:
            await close_runtime(rt)

    report = asyncio.run(run())
    return sqlite3.connect(folder / "ancrage.sqlite3"), report


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[sqlite3.Connection, HistoryReport]:
    return _seed(tmp_path_factory.mktemp("history"), PLAN)


def _all(db: sqlite3.Connection, query: str) -> list[tuple[object, ...]]:
    return db.execute(query).fetchall()


def _one(db: sqlite3.Connection, query: str) -> object:
    return db.execute(query).fetchone()[0]


def test_accounts_and_sessions_per_trainer(seeded: tuple[sqlite3.Connection, HistoryReport]) -> None:
    db, report = seeded
    accounts = dict(_all(db, "SELECT email, role FROM trainer"))
    assert accounts == {"formatrice@demo.local": "trainer", "formateur2@demo.local": "trainer",
                        "qualite@demo.local": "quality"}
    from pwdlib import PasswordHash
    stored = str(_one(db, "SELECT password_hash FROM trainer WHERE email = 'qualite@demo.local'"))
    assert stored.startswith("$argon2") and PasswordHash.recommended().verify("demo-ancrage", stored)
    per_trainer = dict(_all(db, "SELECT t.email, count(*) FROM training_session s JOIN trainer t"
                                " ON t.id = s.trainer_id GROUP BY t.email"))
    assert per_trainer == {A: 2, B: 1}
    assert report.sessions == 3 and report.learners == 17
    assert _one(db, "SELECT count(*) FROM attendance") == 17
    assert _one(db, "SELECT count(*) FROM enrollment") == 17
    ends = [datetime.fromisoformat(str(row[0])) for row in _all(db, "SELECT ends_at FROM training_session")]
    assert all(end.replace(tzinfo=UTC) < UNTIL for end in ends)


def test_replies_and_surveys_with_the_five_criteria_and_nps(seeded: tuple[sqlite3.Connection, HistoryReport]) -> None:
    db, _ = seeded
    kinds = dict(_all(db, "SELECT kind, count(*) FROM reply GROUP BY kind"))
    assert kinds.get("quiz", 0) > 10 and kinds.get("review", 0) > 10 and kinds.get("survey", 0) > 30
    assert kinds.get("checkin", 0) > 0
    answered: dict[str, set[str]] = {}
    for (value,) in _all(db, "SELECT value FROM reply WHERE kind = 'survey'"):
        survey, _, question = json.loads(str(value))["question"].partition("#")
        answered.setdefault(survey, set()).add(question)
    assert answered["satisfaction-chaud"] >= CRITERIA, answered
    assert "nps" in answered["satisfaction-chaud"] and "satisfaction-froid" in answered, answered
    verbatims = _all(db, "SELECT raw_text FROM reply WHERE kind = 'survey' AND length(raw_text) > 12")
    assert verbatims, "no open-text answers"
    wrong = _one(db, "SELECT count(*) FROM reply WHERE kind = 'quiz' AND correct = 0")
    right = _one(db, "SELECT count(*) FROM reply WHERE kind = 'quiz' AND correct = 1")
    assert wrong and right


def test_alerts_tickets_tasks_and_learners_at_risk(seeded: tuple[sqlite3.Connection, HistoryReport]) -> None:
    db, report = seeded
    alerts = dict(_all(db, "SELECT kind, count(*) FROM alert GROUP BY kind"))
    assert {"task", "complaint", "low_rating"} <= set(alerts), alerts
    assert _one(db, "SELECT count(*) FROM alert WHERE acknowledged_at IS NOT NULL")
    assert _one(db, "SELECT count(*) FROM alert WHERE acknowledged_at IS NULL")
    statuses = dict(_all(db, "SELECT status, count(*) FROM ticket GROUP BY status"))
    assert statuses.get("open") and (statuses.get("answered", 0) + statuses.get("closed", 0)) > 0, statuses
    assert report.tickets_answered > 0
    overdue = [datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC) for row in _all(
        db, "SELECT due_by FROM ticket WHERE status = 'open' AND first_response_at IS NULL")]
    assert any(due < UNTIL for due in overdue), "no ticket past its 48-hour target"
    assert _one(db, "SELECT count(*) FROM ticket_message WHERE author = 'trainer'")
    assert _one(db, "SELECT count(*) FROM learner WHERE at_risk = 1")
    assert _one(db, "SELECT count(*) FROM learner WHERE opted_out_sms_at IS NOT NULL")


def test_history_went_through_the_engine(seeded: tuple[sqlite3.Connection, HistoryReport]) -> None:
    db, _ = seeded
    assert _one(db, "SELECT count(*) FROM review_card") > 10
    origins = dict(_all(db, "SELECT origin, count(*) FROM delivery GROUP BY origin"))
    assert origins.get("feedback", 0) > 50 and origins.get("reminder", 0) > 0, origins
    assert _one(db, "SELECT count(*) FROM delivery WHERE status IN ('sent', 'delivered')"
                    " AND provider_id LIKE 'sandbox-%'") > 100
    assert _one(db, "SELECT count(*) FROM inbound_event WHERE status != 'processed'") == 0
    assert _one(db, "SELECT count(*) FROM audit_event WHERE action = 'enrolled'") == 17
    # Skipped after STOP (the engine's send checks, not a hand-written state).
    assert _one(db, "SELECT count(*) FROM delivery WHERE status = 'skipped'")
    # Nothing after the demo's clock was sent; the future is still planned.
    sent = [datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC)
            for row in _all(db, "SELECT sent_at FROM delivery WHERE sent_at IS NOT NULL")]
    assert max(sent) <= UNTIL
    assert _one(db, "SELECT count(*) FROM delivery WHERE status = 'planned' AND due_at > ?".replace(
        "?", f"'{(UNTIL - timedelta(hours=1)).strftime('%Y-%m-%d %H:%M')}'"))


def test_the_replay_tells_its_progress_in_days(seeded: tuple[sqlite3.Connection, HistoryReport]) -> None:
    """The demo's bar: about twenty reports, days only forward, the last one at the end. The
    earliest session ended 130 days before the clock, and the replay starts an hour before."""
    assert seeded and HEARD
    # The fixture's replay: up to where the days start again (another test's replay may follow).
    ends = next((i for i in range(1, len(HEARD)) if HEARD[i][1] < HEARD[i - 1][1]), len(HEARD))
    run = HEARD[:ends]
    assert {phase for phase, _, _ in run} == {"historique : jours rejoués"}
    totals = {total for _, _, total in run}
    assert totals == {131}, totals
    done = [d for _, d, _ in run]
    assert done == sorted(set(done)) and done[-1] == 131 and 15 <= len(done) <= 25, done


def test_same_seed_same_history(tmp_path: Path) -> None:
    # Twelve days: the hot survey, the D+1 reminder, the D+7 quiz with its feedback and review cards.
    tiny = HistoryPlan(trainers=DEMO_TRAINERS[:1], seed=3, sessions=(SessionSpec("S", A, 12, learners=3),))
    shape = ("SELECT learner_id, step_id, occurrence, origin, status, channel, due_at, sent_at,"
             " json_extract(rendered, '$.body') FROM delivery ORDER BY id")
    replies = "SELECT learner_id, kind, raw_text, value, correct, created_at FROM reply ORDER BY id"
    first, _ = _seed(tmp_path / "one", tiny)
    second, _ = _seed(tmp_path / "two", tiny)
    other, _ = _seed(tmp_path / "three", HistoryPlan(trainers=tiny.trainers, seed=4, sessions=tiny.sessions))
    assert _all(first, shape) == _all(second, shape)
    assert _all(first, replies) == _all(second, replies)
    assert _all(first, "SELECT * FROM review_card") != [] and _all(first, replies) != _all(other, replies)


def test_attendees_are_enrolled_when_their_session_ends(seeded: tuple[sqlite3.Connection, HistoryReport]) -> None:
    db, _ = seeded
    for ends, processed in _all(db, "SELECT ends_at, ended_processed_at FROM training_session"):
        lag = datetime.fromisoformat(str(processed)) - datetime.fromisoformat(str(ends))
        assert timedelta(0) <= lag <= timedelta(hours=1), (ends, processed)
    hot = _all(db, "SELECT d.sent_at, s.ends_at FROM delivery d JOIN enrollment e ON e.id = d.enrollment_id"
                   " JOIN training_session s ON s.id = e.session_id"
                   " WHERE d.step_id = 'satisfaction-chaud' AND d.origin = 'plan'")
    assert hot and all(datetime.fromisoformat(str(sent)) - datetime.fromisoformat(str(ends)) < timedelta(hours=4)
                       for sent, ends in hot), hot
