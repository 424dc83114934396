"""Text as the parsers compare it: folded case, accents, quotes, keycaps and stretched letters."""

from __future__ import annotations

import re
import unicodedata

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
