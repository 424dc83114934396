"""``ancrage session list`` rows: the trainer, the learners and where the campaigns stand, in words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.services.session_list import SessionRow, format_rows

END = datetime(2026, 3, 27, 16, 30, tzinfo=UTC)


def row(**fields: object) -> SessionRow:
    values: dict[str, object] = {"id": 7, "ends_at": END, "timezone": "Europe/Paris", "title": "Excel TCD",
                                 "trainer": "Sophie Bernard", "learners": 12, "campaigns": ["drip-excel"],
                                 "enrolments": {}, "ended_processed": False}
    values.update(fields)
    return SessionRow.model_validate(values)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, "starts when the session ends"),
        ({"campaigns": []}, "no campaign"),
        ({"ended_processed": True}, "nobody enrolled"),
        ({"ended_processed": True, "enrolments": {"active": 10, "stopped": 2}}, "running: 10 active, 2 stopped"),
        ({"ended_processed": True, "enrolments": {"completed": 11, "stopped": 1}}, "finished: 1 stopped, 11 completed"),
    ],
)
def test_state_in_words(fields: dict[str, object], state: str) -> None:
    assert row(**fields).state == state


def test_a_header_then_aligned_lines_in_the_sessions_zone() -> None:
    header, first, second = format_rows([row(), row(id=8, trainer=None, title="Gestes et postures")]).splitlines()
    assert header.split() == ["ID", "ENDS", "TITLE", "TRAINER", "LEARNERS", "CAMPAIGNS", "STATE"]
    assert first.startswith("7   2026-03-27 17:30  Excel TCD           Sophie Bernard  12")
    assert "Gestes et postures  -" in second
    assert first.index("12") == second.index("12") == header.index("LEARNERS")


def test_no_session_says_how_to_add_one() -> None:
    assert format_rows([]).startswith("no session yet: ancrage session add")
