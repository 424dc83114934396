"""The attendee CSV carries the employer and the training's own outcome."""

from __future__ import annotations

from engine.services.attendees import parse_attendees
from engine.store.models import Learner


def test_company_and_completion_columns_are_read() -> None:
    text = ("prenom;nom;telephone;entreprise;achevement\n"
            "Camille;Martin;06 12 34 56 78;Acme SA;terminée\n"
            "Noé;Petit;06 12 34 56 79;;abandon\n"
            "Léa;Roux;06 12 34 56 70;Beta;\n")
    learners, errors = parse_attendees(text)
    assert errors == []
    assert [(row.company, row.training_completion) for row in learners] == [
        ("Acme SA", "completed"), (None, "abandoned"), ("Beta", None)]
    learner = Learner.model_validate(learners[0])
    assert learner.company == "Acme SA"
    assert "training_completion" not in learners[0].model_dump()


def test_an_unreadable_completion_is_a_row_error() -> None:
    _, errors = parse_attendees("prenom,nom,telephone,completion\nA,B,0612345678,peut-être\n")
    assert [e.line for e in errors] == [2] and "completed" in errors[0].message
