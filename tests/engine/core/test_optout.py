"""Asking in words to stop messages, without the STOP keyword."""

from __future__ import annotations

import pytest

from engine.core.optout import wants_no_more_messages


@pytest.mark.parametrize(
    ("text", "wants"),
    [("arrêtez de m'envoyer des messages", True), ("Je ne veux plus recevoir", True),
     ("je ne veux plus recevoir de relances", True), ("désinscrivez-moi", True), ("Désabonnez moi svp", True),
     ("Stop aux messages", True), ("Je ne veux plus de SMS", True), ("Merci de ne plus m'envoyer de messages", True),
     ("plus de messages svp", True), ("Arrêtez vos SMS !", True), ("laissez-moi tranquille", True),
     ("je souhaite me désinscrire", True), ("Stop sending me messages", True),
     ("zut", False), ("D", False), ("je ne veux plus me tromper", False), ("j'arrête pas de me tromper", False),
     ("comment arrêter de procrastiner ?", False), ("Arrêter de reporter les messages difficiles ?", False),
     ("plus de questions sur la formation ?", False), ("je ne sais pas", False), ("la B", False)],
)
def test_wants_no_more_messages(text: str, wants: bool) -> None:
    assert wants_no_more_messages(text) is wants
