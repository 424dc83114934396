"""Answering a learner's question from the FAQ before a trainer has to.

A message that answers no open question is a learner question; when one FAQ entry
clearly fits, the reply can go out at once (the trainer still sees it). Matching is
deliberately simple and explainable: shared keywords and question words, compared
without accents, stop words or common French endings, with one typo forgiven.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.content.models import FaqEntry
from engine.core.folding import fold, word_set

MIN_CONFIDENCE = 0.3

_STOP_WORDS = word_set(
    "le la les un une des du de au aux ce cet cette ces et ou mais donc car ni que qui quoi "
    "dont je tu il elle on nous vous ils elles me te se moi toi lui leur leurs mon ma mes ton "
    "ta tes son sa ses notre nos votre vos en dans par pour sur avec sans sous vers chez pas "
    "ne plus moins tres bien est es sont suis sommes etes ai as avons avez ont etre avoir fait "
    "faire y a comment quand pourquoi quel quelle quels quelles combien ou est-ce ca cela si "
    "tout tous toute toutes peut peux puis dois doit vais va bonjour bonsoir merci svp stp "
    "salut madame monsieur cordialement encore toujours deja aussi the a an is to of my i"
)
# Longest first, so "ations" goes before "s"; stems keep at least four letters.
_ENDINGS = (
    "issements", "issement", "ations", "ation", "ements", "ement", "ments", "ment", "euses",
    "euse", "eurs", "eur", "ions", "ees", "ee", "es", "er", "ez", "e", "s", "x",
)  # fmt: skip


@dataclass(frozen=True)
class FaqMatch:
    entry_id: str
    confidence: float


def _stem(word: str) -> str:
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def _terms(text: str) -> list[str]:
    """Stemmed content words; elided articles and pronouns (l', j', qu') are dropped."""
    text = re.sub(r"[a-z]+'", " ", fold(text))
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text) if len(w) > 1 and w not in _STOP_WORDS]


def _same(a: str, b: str) -> bool:
    """Equal stems, or one slip of the thumb apart in a long word ("atestation")."""
    if a == b:
        return True
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[i + 1 :] == b[i + 1 :] or a[i + 1 :] == b[i:] or a[i:] == b[i + 1 :]


def _present(term: str, terms: Sequence[str]) -> bool:
    return any(_same(term, other) for other in terms)


def _confidence(text_terms: list[str], entry: FaqEntry) -> float:
    hits = 0
    for keyword in entry.keywords:
        needed = _terms(keyword)
        if needed and all(_present(t, text_terms) for t in needed):
            hits += 1
    question = set(_terms(entry.question))
    overlap = sum(_present(t, text_terms) for t in question) / len(question) if question else 0.0
    from_keywords = min(0.5 + 0.15 * (hits - 1), 0.8) if hits else 0.0
    return round(min(1.0, from_keywords + 0.4 * overlap), 3)


def match_faq(text: str, entries: Sequence[FaqEntry]) -> FaqMatch | None:
    """The entry that best fits a learner's message, or None when none reaches
    :data:`MIN_CONFIDENCE`; on a tie the earlier entry wins (authors order the FAQ)."""
    text_terms = _terms(text)
    if not text_terms:
        return None
    best: FaqMatch | None = None
    for entry in entries:
        confidence = _confidence(text_terms, entry)
        if confidence >= MIN_CONFIDENCE and (best is None or confidence > best.confidence):
            best = FaqMatch(entry.id, confidence)
    return best
