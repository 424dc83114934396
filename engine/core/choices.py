"""Reading a choice ("B", "la b", "2", "la deuxième", "C'est fait") among a question's options."""

from __future__ import annotations

import re

from engine.core.expectations import Expectation, ParsedReply, ambiguous
from engine.core.folding import fold, word_set

_TOKEN = re.compile(r"[a-z]+'|[a-z0-9]+(?:-[a-z0-9]+)*|\S")
_BOTH = re.compile(r"(?<![a-z])(?:les (?:deux|2)|toutes(?: les deux)?|tous les deux|both)(?![a-z])")
_ANCHORS = word_set(
    "la le reponse rep choix option lettre proposition numero no est serait dirais dis pense "
    "crois choisis prends opte vote plutot reponds repond entre ou et or and"
)
_THEN = word_set("ou et or and car parce because puisque pcq sinon mais je j' c'")
_NEGATORS = frozenset({"pas", "not", "sauf"})
_QUESTION = re.compile(
    r"(?<![a-z])(?:pourquoi|comment|quoi|quel(?:le)?s?|est-ce|pouvez|pourriez|why|how|what)"
    r"(?![a-z])"
)
_ORDINALS = {
    **dict.fromkeys(("premiere", "premier", "1ere", "1er", "1re", "first"), 0),
    **dict.fromkeys(("deuxieme", "seconde", "second", "2e", "2eme", "2nde"), 1),
    **dict.fromkeys(("troisieme", "3e", "3eme"), 2),
    **dict.fromkeys(("quatrieme", "4e", "4eme"), 3),
    **dict.fromkeys(("cinquieme", "5e", "5eme"), 4),
    **dict.fromkeys(("sixieme", "6e", "6eme"), 5),
}
# Only as the whole reply: letter names (autocorrect turns "B" into "Bé") and numbers.
_ALONE = {"be": 1, "ce": 2, "de": 3, "un": 0, "deux": 1, "trois": 2, "quatre": 3, "cinq": 4,
          "six": 5}  # fmt: skip


def _token_index(token: str, size: int) -> int | None:
    if len(token) == 1 and "a" <= token <= "f":
        return ord(token) - ord("a")
    if len(token) == 1 and "0" <= token <= "9":  # not isdigit(): "❶" or "²" are digits int() refuses
        return int(token) - 1
    if token in ("derniere", "dernier", "last"):
        return size - 1
    return _ORDINALS.get(token)


def _choice_in(line: str, size: int) -> tuple[set[int], bool]:
    """Option indexes a line names, and whether it names one past the last option."""
    if _BOTH.search(line):
        return set(range(size)), False
    tokens = _TOKEN.findall(line)
    alone = [t for t in tokens if t[0].isalnum()]
    alone = alone if len(alone) == 1 else []
    named: list[int] = []
    if alone and alone[0] in _ALONE:
        named = [_ALONE[alone[0]]]
    elif alone and 2 <= len(alone[0]) <= 6 and set(alone[0]) <= set("abcdef"):
        named = [ord(c) - ord("a") for c in alone[0]]  # "AB": two letters run together
    for i, token in enumerate([] if named else tokens):
        index = _token_index(token, size)
        if index is None:
            continue
        before = tokens[i - 1] if i else ""
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        # "a"/"à" is mostly a verb or a preposition, a digit mostly a count ("2 semaines").
        if (token == "a" or token.isdigit()) and not (
            (not before or not before[0].isalnum() or before in _ANCHORS)
            and (not after or not after[0].isalnum() or after in _THEN or len(after) == 1)
        ):
            continue
        negator = i - 1 if before in _NEGATORS else i - 2 if before in ("la", "le") else -1
        if (
            negator >= 0
            and tokens[negator] in _NEGATORS
            and tokens[negator - 1 : negator] != ["pourquoi"]
        ):
            continue  # "la B, pas la A" (but "pourquoi pas la B")
        named.append(index)
    found = {i for i in named if 0 <= i < size}
    return found, len(found) < len(set(named))


_STOP_WORDS = word_set(
    "les des une est suis sommes etes sont mon mes ton tes son ses que qui dans pour par sur "
    "avec ete bien tres the and cela moi toi nous vous ils elle elles deja"
)
_NEGATIONS = frozenset({"pas", "jamais", "non", "not", "rien", "aucun", "aucune", "never"})


def _content(text: str) -> list[str]:
    terms = re.findall(r"[a-z0-9]+", fold(text).replace("_", " "))
    return [w for w in terms if (len(w) >= 3 or w in _NEGATIONS) and w not in _STOP_WORDS]


def _close(a: str, b: str) -> bool:
    """Same word give or take an ending: bloque/bloquee, fait/faite."""
    if a == b:
        return True
    return (
        min(len(a), len(b)) >= 4
        and abs(len(a) - len(b)) <= 2
        and (a.startswith(b) or b.startswith(a))
    )


def _label_in(text: str, expected: Expectation) -> set[int]:
    """Options whose label or value the reply spells out, best coverage first."""
    reply = _content(text)
    if not reply:
        return set()
    negated = bool(_NEGATIONS & set(reply))
    scores: dict[int, tuple[float, float]] = {}
    for index in range(expected.size):
        names = [*expected.choices[index : index + 1], *expected.values[index : index + 1]]
        for name in names:
            label = _content(name)
            if not label or negated != bool(_NEGATIONS & set(label)):
                continue
            hit = sum(any(_close(r, w) for w in label) for r in reply) / len(reply)
            cover = sum(any(_close(r, w) for r in reply) for w in label) / len(label)
            scores[index] = max(scores.get(index, (0.0, 0.0)), (hit, cover))
    # A check-in reply may add context around a value ("fait hier avec l'équipe").
    accepted = {i: s for i, s in scores.items() if s[0] >= 0.5 or (expected.values and s[1] == 1)}
    best = max(accepted.values(), default=None)
    return {index for index, score in accepted.items() if score == best}


def parse_choice(lines: list[str], expected: Expectation) -> ParsedReply | None:
    if any(
        "?" in line and _QUESTION.search(line) for line in lines
    ):  # "pourquoi la B est fausse ?"
        return ParsedReply("unreadable", None, "question")
    size = expected.size
    by_position: tuple[set[int], bool] = (set(), False)
    for line in lines:
        by_position = _choice_in(line, size)
        if by_position != (set(), False):
            break
    by_label = (_label_in(" ".join(lines), expected), False)
    # Check-in answers are words ("bloqué depuis 2 semaines"); quiz answers are letters.
    order = [by_label, by_position] if expected.values else [by_position, by_label]
    for found, beyond in order:
        if len(found) > 1:
            return ambiguous("several answers")
        if found:
            index = found.pop()
            value = expected.values[index] if expected.values else index
            return ParsedReply("ok", value)
        if beyond:
            return ambiguous("out of range")
    return None
