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

from engine.core.choices import parse_choice
from engine.core.expectations import Expectation, ParsedReply, ReplyKind, ambiguous
from engine.core.folding import fold, word_set
from engine.core.keywords import Keyword, detect_keyword

__all__ = ["Expectation", "Keyword", "ParsedReply", "ReplyKind", "detect_keyword", "fold", "parse_reply",
           "word_set"]


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
        verdict = parse_choice(lines, expected)
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
        return ambiguous("yes and no")
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
        return ambiguous("several answers")
    if found:
        value = found.pop()
        return ParsedReply("ok", value) if low <= value <= high else ambiguous("out of range")
    return ambiguous(doubts[0]) if doubts else None
