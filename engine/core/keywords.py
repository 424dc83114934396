"""Carrier-style keywords (STOP, START, HELP) that act on the subscription, whatever question is open."""

from __future__ import annotations

import re
from enum import StrEnum

from engine.core.folding import fold, word_set


class Keyword(StrEnum):
    """Carrier-style commands that act on the subscription, whatever question is open."""

    STOP = "stop"
    START = "start"
    HELP = "help"


# CANCEL/END/QUIT/STOPALL are Twilio's default opt-out words too: honouring them keeps
# our opt-out state in step with the provider, which would block the number anyway.
_KEYWORDS = {
    **dict.fromkeys(
        ("stop", "stop sms", "stopsms", "stop whatsapp", "stopall", "stop all", "arret",
         "arreter", "arretez", "unsubscribe", "desabonner", "me desabonner", "desabonnement",
         "desinscrire", "me desinscrire", "desinscription", "cancel", "end", "quit"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("start", "start sms", "startsms", "start whatsapp", "unstop"), Keyword.START),
    **dict.fromkeys(("aide", "help"), Keyword.HELP),
}  # fmt: skip
_POLITE = word_set("merci svp stp please pls bonjour bonsoir thanks s il vous te plait")


def detect_keyword(text: str) -> Keyword | None:
    """The command a message *is* (punctuation, emoji, accents and politeness aside),
    so "Arrêt !" opts out but "je ne peux pas stopper la vidéo" does not."""
    core: list[str] = []
    for word in re.sub(r"[^a-z0-9]+", " ", fold(text)).split():
        if word not in _POLITE and (not core or core[-1] != word):
            core.append(word)
    return _KEYWORDS.get(" ".join(core))
