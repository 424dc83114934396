"""Spotting complaint and distress in free text, so a human reads it first.

A learner who writes "arnaque" or "je veux être remboursé" should reach a trainer,
not an automatic FAQ answer or a clarification question. Matching is on whole words
without accents; a few adjectives are ignored when negated ("pas déçu du tout").
"""

from __future__ import annotations

import re

from engine.core.folding import fold

# (what the trainer sees, variants as written once folded: no accents, lower case)
_SIGNALS: tuple[tuple[str, str], ...] = (
    ("déçu", r"decu(?:e|s|es)?|decevant(?:e|s|es)?|deception"),
    ("nul", r"nul(?:le|s|les)?(?! part)"),
    ("arnaque", r"arnaqu\w*"),
    ("escroquerie", r"escroc(?:s|s?querie)?|escroquerie"),
    ("remboursement", r"rembours\w*"),
    ("plainte", r"plaintes?"),
    ("inadmissible", r"inadmissibles?"),
    ("inacceptable", r"inacceptables?"),
    ("scandaleux", r"scandale(?:s|use|uses)?|scandaleux"),
    ("pas content", r"pas (?:du tout )?content(?:e|s|es)?"),
    ("mécontent", r"mecontent(?:e|s|es|ement)?"),
    ("insatisfait", r"insatisfait(?:e|s|es)?|pas satisfait(?:e|s|es)?"),
    ("réclamation", r"reclamations?"),
    ("honte", r"honte|honteu(?:x|se|ses|sement)"),
    ("catastrophe", r"catastrophe(?:s)?|catastrophique(?:s)?"),
    ("lamentable", r"lamentables?"),
    ("pas terrible", r"pas terrible"),
    ("perte de temps", r"perte de temps|waste of time"),
    ("n'importe quoi", r"n'importe quoi"),
    ("jamais reçu", r"(?:jamais|toujours pas) (?:ete )?recu(?:e|s|es)?"),
    ("avocat", r"avocats?"),
    ("marre", r"(?:ras[- ]le[- ]bol)|marre"),
    ("harcèlement", r"harcel\w*|harcele\w*"),
    ("spam", r"spam(?:s|mer|ment)?"),
    ("détresse", r"detresse"),
    ("burn-out", r"burn[- ]?out"),
    ("complaint", r"complaints?|complain(?:s|ed|ing)?"),
    ("refund", r"refund(?:s|ed)?"),
    ("scam", r"scams?"),
    ("disappointed", r"disappoint(?:ed|ing)"),
    ("unacceptable", r"unacceptable"),
    ("lawyer", r"lawyers?"),
)
_PATTERNS = tuple(
    (shown, re.compile(rf"(?<![a-z0-9])(?:{variants})(?![a-z0-9])")) for shown, variants in _SIGNALS
)
# Adjectives that flip when negated; "pas content" and "pas terrible" are complaints.
_NEGATABLE = frozenset({"déçu", "nul", "lamentable", "scandaleux", "mécontent", "disappointed"})
_NEGATED = re.compile(r"(?:pas|jamais|not|never)(?: du tout| vraiment| si| trop)?(?: ete| been)? $")


def complaint_words(text: str) -> list[str]:
    """The complaint or distress words a message contains, in the order written,
    each once and in its dictionary form (``"déçue"`` gives ``"déçu"``)."""
    folded = fold(text)
    found: list[tuple[int, str]] = []
    for shown, pattern in _PATTERNS:
        for match in pattern.finditer(folded):
            if shown in _NEGATABLE and _NEGATED.search(folded, 0, match.start()):
                continue
            found.append((match.start(), shown))
            break
    return [shown for _, shown in sorted(found)]


_DIFFICULTY = ("difficult", "bloqu", "n'arrive pas", "narrive pas", "galère", "pas compris")


def guess_category(body: str) -> str:
    """A ticket with no category yet: complaint words → ``reclamation``; words of difficulty →
    ``difficulte``; otherwise ``question``. The inbox and the complaints register both guess here."""
    if complaint_words(body):
        return "reclamation"
    lowered = body.lower().replace("\u2019", "'")
    if any(word in lowered for word in _DIFFICULTY):
        return "difficulte"
    return "question"
