"""Understanding learners' replies: opt-out keywords and answers to an open question.

Learners answer from a phone, French first, with greetings, signatures, emoji and
autocorrect on top. The parser is forgiving, so "Bonjour, la B merci" counts, and
honest about doubt, so "A ou B" earns one clarification question instead of a guess.
Keywords are checked by the caller first (:func:`detect_keyword`); a reply is only
parsed against an open question once it is known not to be STOP/START/HELP.

``ParsedReply.hint`` is a short machine reason: ``empty``, ``no answer``, ``unsure``,
``several answers``, ``out of range``, ``yes and no``, ``other scale``, ``decimal`` and,
for a choice, ``question`` (the learner is asking, not answering: route it to a trainer).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from engine.content.models import Question, QuizItem

ReplyKind = Literal["choice", "yes_no", "rating", "nps", "text"]
_DEFAULT_SCALES = {"rating": (1, 5), "nps": (0, 10)}


_KEYCAP = re.compile(r"([0-9])\ufe0f?\u20e3")
_STRETCHED = re.compile(r"([a-z])\1{2,}")
_CHARS = str.maketrans(
    {"’": "'", "‘": "'", "ʼ": "'", "´": "'", "`": "'", "“": '"', "”": '"', "«": '"', "»": '"',
     "–": "-", "—": "-", "œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "🔟": "10",
     "🅰": "a", "🅱": "b", "\ufe0f": None, "\u200b": None}
)  # fmt: skip


def word_set(text: str) -> frozenset[str]:
    """A word list written as one string, as vocabularies are easier to read that way."""
    return frozenset(text.split())


def fold(text: str) -> str:
    """Text as compared, not shown: NFKC, lower case, no accents, straight quotes,
    keycaps as digits, stretched letters shortened ("ouiii"), single spaces; emoji kept."""
    text = unicodedata.normalize("NFKC", _KEYCAP.sub(r"\1", text)).translate(_CHARS)
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return " ".join(_STRETCHED.sub(r"\1", text).split())


# --- Keywords -------------------------------------------------------------------------


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


# --- Expectations and verdicts ----------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What the open question accepts; ``values`` (check-ins) are returned instead of indexes."""

    kind: ReplyKind
    choices: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    scale: tuple[int, int] = field(default=(0, 0))

    def __post_init__(self) -> None:
        if self.scale == (0, 0) and self.kind in _DEFAULT_SCALES:
            object.__setattr__(self, "scale", _DEFAULT_SCALES[self.kind])
        if self.choices and self.values and len(self.choices) != len(self.values):
            raise ValueError("choices and values must have the same length")

    @property
    def size(self) -> int:
        """Number of options; A to F when a choice question came without its labels."""
        return len(self.choices) or len(self.values) or 6

    @classmethod
    def for_quiz_item(cls, item: QuizItem) -> Expectation:
        return cls("choice", choices=tuple(item.choices))

    @classmethod
    def for_question(cls, question: Question) -> Expectation:
        return cls(
            question.type,
            choices=tuple(c.label for c in question.choices),
            values=tuple(c.value for c in question.choices),
        )


@dataclass(frozen=True)
class ParsedReply:
    status: Literal["ok", "ambiguous", "unreadable"]
    value: int | bool | str | None
    hint: str | None = None


def _ambiguous(hint: str) -> ParsedReply:
    return ParsedReply("ambiguous", None, hint)


def parse_reply(text: str, expected: Expectation) -> ParsedReply:
    """Read an answer to ``expected``, line by line so that signatures do not interfere;
    never raises, whatever arrives from a phone."""
    if not text.strip():
        return ParsedReply("unreadable", None, "empty")
    if expected.kind == "text":
        return ParsedReply("ok", text.strip())
    lines = _answer_lines(text)
    verdict: ParsedReply | None = None
    if expected.kind == "choice":
        verdict = _parse_choice(lines, expected)
    else:
        for line in [*lines, " ".join(lines)] if len(lines) > 1 else lines:
            if expected.kind == "yes_no":
                verdict = _yes_no_in(line)
            else:
                verdict = _number_in(line, *expected.scale)
            if verdict is not None:
                break
    if verdict is not None:
        return verdict
    unsure = any(_UNSURE.search(line) for line in lines)
    return ParsedReply("unreadable", None, "unsure" if unsure else "no answer")


_SIGNATURE = re.compile(r"(?:--|__|envoye (?:de|depuis) mon|sent from my|(?:get|obtenir) outlook)")
_FILLER = re.compile(
    r"(?<![a-z0-9'])(?:bonjour|bonsoir|salut|coucou|hello|hey|merci(?: beaucoup| bien)?|svp|stp"
    r"|s'il (?:vous|te) plait|cordialement|bien a (?:vous|toi)|a (?:bientot|plus)|bisous"
    r"|bonne (?:fin de )?(?:journee|soiree)|thanks|thank you|please|madame|monsieur)(?![a-z0-9])"
)
_ELISION = re.compile(
    r"(?<![a-z0-9'])(c|n|d|j|l|s|qu) (?=(?:est|etait|ai|avais|accord|hesite|opte|il|elle"
    r"|autre|option)(?![a-z]))"
)
_INCLUSIVE = re.compile(r"(?<=[a-z])(?:[.·•]e(?:s)?\b|\(e?s?\))")
_UNSURE = re.compile(
    r"(?<![a-z])(?:peut[- ]?etre|(?:je )?(?:ne )?sais pas|chais pas|jsp|aucune idee|bof|mouais"
    r"|pas sure?|not sure|no idea|je ne sais)(?![a-z])"
)


def _answer_lines(text: str) -> list[str]:
    """Folded lines without greetings, thanks or what follows a signature marker."""
    lines: list[str] = []
    for raw in text.splitlines():
        line = fold(raw)
        if _SIGNATURE.match(line):
            break
        line = _FILLER.sub(" ", _ELISION.sub(r"\1'", _INCLUSIVE.sub("", line)))
        if line.strip(" ,.;:!?-()\"'"):
            lines.append(line)
    return lines


# --- Choices ---------------------------------------------------------------------------

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
    if len(token) == 1 and token.isdigit():
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


def _parse_choice(lines: list[str], expected: Expectation) -> ParsedReply | None:
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
            return _ambiguous("several answers")
        if found:
            index = found.pop()
            value = expected.values[index] if expected.values else index
            return ParsedReply("ok", value)
        if beyond:
            return _ambiguous("out of range")
    return None


# --- Yes / no ---------------------------------------------------------------------------


def _phrases(*phrases: str) -> re.Pattern[str]:
    longest_first = sorted(phrases, key=len, reverse=True)  # "pas du tout d'accord" first
    return re.compile(r"(?<![a-z0-9'])(?:" + "|".join(longest_first) + r")(?![a-z0-9])")


_NO = _phrases(
    "non", "nan", "nope", "nop", "no", "pas du tout", "absolument pas", "pas vraiment",
    "pas encore", "jamais", "negatif", "pas tellement", "pas trop", "aucunement", "nullement",
    "certainement pas", "surement pas", "pas d'accord", "pas du tout d'accord", "pas ok",
    "pas tout a fait", "not really", "not yet", "👎", "❌", "✖", "🚫",
)  # fmt: skip
_YES = _phrases(
    "oui", "ouii", "ouais", "ouai", "ouep", "ouaip", "wi", "yes", "yep", "yeah", "yup", "ok",
    "okay", "oki", "okey", "dac", "dacc", "d'acc", "d'accord", "bien sur", "absolument",
    "tout a fait", "carrement", "evidemment", "exactement", "volontiers", "affirmatif",
    "certainement", "parfaitement", "bien entendu", "of course", "sure", "👍", "👌", "✅", "✔", "☑",
)  # fmt: skip
_ALONE_YES_NO = {"o": True, "y": True, "si": True, "n": False}


def _yes_no_in(line: str) -> ParsedReply | None:
    if _UNSURE.search(line):
        return ParsedReply("unreadable", None, "unsure")
    no = _NO.search(line) is not None
    yes = _YES.search(_NO.sub(" ", line)) is not None
    if yes and no:
        return _ambiguous("yes and no")
    if yes or no:
        return ParsedReply("ok", yes)
    core = re.sub(r"[^a-z0-9]+", " ", line).strip()
    return ParsedReply("ok", _ALONE_YES_NO[core]) if core in _ALONE_YES_NO else None


# --- Ratings and NPS --------------------------------------------------------------------

_NUMBER_WORDS = {
    "zero": 0, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
    "neuf": 9, "dix": 10, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_WORD_NUMBER = _phrases(*_NUMBER_WORDS)
_ONE = re.compile(r"(?<![a-z0-9'])une?(?=\s*(?:etoiles?\b|sur\b|/|$))")
_FRACTION = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:etoiles?\s*)?(?:/|sur|out of|over)\s*(\d+)")
_DECIMAL = re.compile(r"\d+[.,]\d+")
_INTEGER = re.compile(r"(?<!\d)(?:0|[1-9]\d?)(?!\d|h\d|h\b|%|e\b|eme\b|er\b|min\b)")


def _number_in(line: str, low: int, high: int) -> ParsedReply | None:
    line = _ONE.sub("1", _WORD_NUMBER.sub(lambda m: str(_NUMBER_WORDS[m.group()]), line))
    found: set[int] = set()
    doubts: list[str] = []
    for match in _FRACTION.finditer(line):
        if int(match.group(2)) != high:
            doubts.append("other scale")
        elif not match.group(1).isdigit():
            doubts.append("decimal")
        else:
            found.add(int(match.group(1)))
    rest = _FRACTION.sub(" ", line)
    if _DECIMAL.search(rest):
        doubts.append("decimal")
        rest = _DECIMAL.sub(" ", rest)
    found.update(int(n) for n in _INTEGER.findall(rest))
    stars = sum(line.count(star) for star in "⭐★🌟")
    if stars and (stars > 1 or not found):  # "4 ⭐" is four stars, not four and one
        found.add(stars)
    if len(found) > 1:
        return _ambiguous("several answers")
    if found:
        value = found.pop()
        return ParsedReply("ok", value) if low <= value <= high else _ambiguous("out of range")
    return _ambiguous(doubts[0]) if doubts else None
