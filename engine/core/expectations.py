"""What an open question accepts (:class:`Expectation`) and what a reply was read as (:class:`ParsedReply`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.content.models import Question, QuizItem

ReplyKind = Literal["choice", "yes_no", "rating", "nps", "text"]
_DEFAULT_SCALES = {"rating": (1, 5), "nps": (0, 10)}


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


def ambiguous(hint: str) -> ParsedReply:
    return ParsedReply("ambiguous", None, hint)
