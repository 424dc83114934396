"""A learner who says in words that they want no more messages, without the STOP keyword.

"Arrêtez de m'envoyer des messages" is not an answer to a quiz: it must never earn a
"reply with one letter". The engine asks once whether they want to stop (OUI opts
them out of that channel) and tells the trainer. Matching is on whole phrases about
*messages* or *subscription*, so "j'arrête pas de me tromper" or "je ne veux plus
me tromper" stay ordinary replies.
"""

from __future__ import annotations

import re

from engine.core.folding import fold

_MESSAGES = r"(?:messages?|sms|textos?|mails?|e-?mails?|notifications?|relances?|rappels?|questions?|quiz)"
_END = r"[\s!.,]*(?:svp|stp|merci|s'il vous plait|please)?[\s!.,]*$"
_PATTERNS = tuple(re.compile(pattern) for pattern in (
    # arrêtez (de m'envoyer | vos messages), stop aux messages, ne plus m'envoyer de messages
    r"\b(?:arretez|arrete|stoppez|cessez)(?: donc| svp| s'il vous plait)? (?:de m'envoyer|de m'ecrire|"
    r"de me contacter|de me relancer|de me harceler|(?:vos|les|ces|tous ces) " + _MESSAGES + r")",
    r"\bstop (?:aux|a vos|avec vos|avec les) " + _MESSAGES + r"\b",
    r"\bne plus m'(?:envoyer|ecrire)\b",
    # je ne veux plus (rien) recevoir | je ne veux plus de messages | ne plus être contacté(e)
    r"\bne (?:veux|veut|souhaite|desire) plus (?:rien )?(?:recevoir|etre contacte|etre relance|"
    r"(?:de|d'|aucun|aucune) ?" + _MESSAGES + r")",
    r"\b(?:ne plus|plus jamais) (?:recevoir|etre contacte|etre relance)",
    r"^(?:plus|fini|assez) (?:de|d'|les) ?" + _MESSAGES + _END,
    # désinscrivez-moi, désabonnez-moi, retirez-moi (de la liste)
    r"\b(?:desinscri(?:vez|s)|desabonn(?:ez|e)|retirez|supprimez|enlevez)[- ]moi\b",
    r"\b(?:me desinscrire|me desabonner|me retirer de (?:la|votre|vos) (?:liste|listes|envois))\b",
    r"\blaissez[- ]moi tranquille\b",
    # English, for learners whose locale is en
    r"\b(?:stop (?:sending|texting|messaging) me|don't (?:text|message|contact) me|"
    r"unsubscribe me|remove me from)\b",
))  # fmt: skip


def wants_no_more_messages(text: str) -> bool:
    """Whether a message asks, in words, to receive no more messages."""
    folded = fold(text)
    return any(pattern.search(folded) for pattern in _PATTERNS)
