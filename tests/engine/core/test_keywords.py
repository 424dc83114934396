"""Carrier keywords: what a message *is* (STOP, START, HELP), whatever question is open."""

from __future__ import annotations

import pytest

from engine.core.keywords import Keyword, detect_keyword


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", Keyword.STOP),
        ("stop", Keyword.STOP),
        ("Stop", Keyword.STOP),
        ("stop!", Keyword.STOP),
        ("STOP !", Keyword.STOP),
        ("  stop  ", Keyword.STOP),
        ("Stop.", Keyword.STOP),
        ("STOP 🛑", Keyword.STOP),
        ("stooop", Keyword.STOP),
        ("stop stop", Keyword.STOP),
        ("Stop merci", Keyword.STOP),
        ("STOP SVP", Keyword.STOP),
        ("ARRET", Keyword.STOP),
        ("ARRÊT", Keyword.STOP),
        ("arrêt", Keyword.STOP),
        ("Arrêtez !", Keyword.STOP),
        ("STOP SMS", Keyword.STOP),
        ("STOPSMS", Keyword.STOP),
        ("Stop-SMS", Keyword.STOP),
        ("UNSUBSCRIBE", Keyword.STOP),
        ("DESABONNER", Keyword.STOP),
        ("désabonner", Keyword.STOP),
        ("Désinscription", Keyword.STOP),
        ("STOPALL", Keyword.STOP),
        ("START", Keyword.START),
        ("start", Keyword.START),
        ("Start !", Keyword.START),
        ("START SMS", Keyword.START),
        ("UNSTOP", Keyword.START),
        ("AIDE", Keyword.HELP),
        ("aide", Keyword.HELP),
        ("Aide ?", Keyword.HELP),
        ("HELP", Keyword.HELP),
        ("help!", Keyword.HELP),
        ("INFO", None),
        ("ARRIVEE", None),
        ("je ne peux pas stopper la vidéo", None),
        ("Stop ou encore ?", None),
        ("j'ai besoin d'aide pour le module 2", None),
        ("arrêt maladie jusqu'à lundi", None),
        ("B", None),
        ("oui", None),
        ("", None),
        ("   ", None),
    ],
)
def test_detect_keyword(text: str, keyword: Keyword | None) -> None:
    assert detect_keyword(text) is keyword
