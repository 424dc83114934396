"""Folding text for comparison."""

from __future__ import annotations

import pytest

from engine.core.folding import fold


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ARRÊT", "arret"),
        ("c’est  « ça »", 'c\'est " ca "'),
        ("2️⃣", "2"),
        ("Cœur", "coeur"),
        ("ouiiii", "oui"),
        ("Ｂ", "b"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded
