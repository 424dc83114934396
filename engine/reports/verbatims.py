"""Free-text answers cut into pieces, complaint words marked, so the page can highlight them."""

from __future__ import annotations

import re

from pydantic import BaseModel

from engine.core.signals import complaint_words

_WORD = re.compile(r"(\w[\w'’-]*)")


class Piece(BaseModel):
    text: str
    flagged: bool = False


def highlight(text: str) -> list[Piece]:
    """The text split so that each word that reads as a complaint is its own flagged piece."""
    if not complaint_words(text):
        return [Piece(text=text)]
    pieces: list[Piece] = []
    for part in _WORD.split(text):
        if not part:
            continue
        flagged = bool(_WORD.fullmatch(part)) and bool(complaint_words(part))
        if pieces and not flagged and not pieces[-1].flagged:
            pieces[-1] = Piece(text=pieces[-1].text + part)
        else:
            pieces.append(Piece(text=part, flagged=flagged))
    return pieces
