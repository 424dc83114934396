"""The README's first command: the demo runs on embedded defaults, the simulated learners'
answers travel through the signed webhook path, and it stops cleanly."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_plays_two_days_and_stops(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "demo", "--days", "2", "--speed", "14400", "--stop-at-end",
         "--port", str(_free_port()), "--data-dir", str(tmp_path / "demo"), "--history-learners", "2"],
        capture_output=True, text=True, timeout=120, env=env, check=False)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "/sandbox/phone/1" in out
    assert "/dashboard/" in out and "formatrice@demo.local" in out and "qualite@demo.local" in out
    assert "historique : 4 sessions, 8 apprenants" in out
    sent = [line for line in out.splitlines() if "→" in line]
    replies = [line for line in out.splitlines() if "←" in line]
    assert sent and replies, out[-3000:]
    assert any("Camille" in line for line in replies), "the diligent learner's answers were not processed"
    assert any("Merci Camille" in line for line in sent), "no survey outro after her answers"
    assert "fin de la démo" in out and "demo stopped." in out
    assert (tmp_path / "demo" / "ancrage.sqlite3").exists()
    # French for the people: no English day names, no internal codes, a real first name.
    for english in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
                    "processed", "low_rating", "detractor", "branch", "Merci Vous", "→ Vous"):
        assert english not in out, english
    assert "(vous êtes Alex" in out
    # Every send printed, one line each, for every learner; then a summary per learner and session.
    with sqlite3.connect(tmp_path / "demo" / "ancrage.sqlite3") as db:
        live = ("from delivery join enrollment on enrollment.id = delivery.enrollment_id "
                "where enrollment.session_id = 1 and delivery.sent_at is not null")  # history comes after
        sends = db.execute(f"select count(*) {live}").fetchone()[0]
        channels = {row[0] for row in db.execute(f"select delivery.channel {live}")}
        link_answers = db.execute("select count(*) from inbound_event where provider != 'twilio'").fetchone()[0]
    assert len(sent) == sends > 0
    assert {"sms", "email", "push"} <= channels, channels
    assert link_answers >= 2, "the one-tap page did not carry a survey past its first question"
    summary = out[out.index("Bilan"):]
    for name in ("Alex", "Camille", "Yanis", "Léa", "Hugo"):
        assert any(line.strip().startswith(name) for line in summary.splitlines()), name
    assert "apprenants" in summary


def test_demo_no_run_prepares_the_data_and_exits(demo_data: tuple[Path, str]) -> None:
    folder, stdout = demo_data  # `demo --no-run`, run once for the suite (tests/support/demo_data.py)
    assert "ANCRAGE_DATA_DIR=" in stdout and "demo-ancrage" in stdout
    db = sqlite3.connect(folder / "ancrage.sqlite3")
    sessions = db.execute("SELECT count(*) FROM training_session").fetchone()[0]
    emails = {row[0] for row in db.execute("SELECT email FROM trainer")}
    assert sessions == 5 and {"formatrice@demo.local", "qualite@demo.local"} <= emails
    assert db.execute("SELECT count(*) FROM reply").fetchone()[0] > 0
    # The live session has ended on the real clock, so `ancrage run` picks it up at once.
    live = db.execute("SELECT max(ends_at) FROM training_session").fetchone()[0]
    assert datetime.fromisoformat(live).replace(tzinfo=UTC) <= datetime.now(UTC)
