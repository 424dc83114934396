"""What a one-tap answer page offers for a question, and what a submitted answer means.

The stored body is the answer *as the learner would type it by SMS* ("B",
"4", "oui"), so the processor parses it with the same forgiving parser.
"""

from __future__ import annotations

from string import ascii_uppercase
from typing import Any

MAX_TEXT = 2000
_YES = {"oui", "yes"}
_NO = {"non", "no"}


def _scale(expectation: dict[str, Any], default: tuple[int, int]) -> tuple[int, int]:
    scale = expectation.get("scale")
    if isinstance(scale, list | tuple) and len(scale) == 2 and all(isinstance(x, int)
                                                                   for x in scale):
        return int(scale[0]), int(scale[1])
    return default


def kind_of(expectation: dict[str, Any]) -> str:
    kind = expectation.get("kind")
    return kind if kind in ("choice", "rating", "nps", "yes_no", "text") else "text"


def options(expectation: dict[str, Any], texts: dict[str, str]) -> list[tuple[str, str]]:
    """(submitted value, button label) for each answer the page offers."""
    kind = kind_of(expectation)
    if kind == "choice":
        labels = [str(label) for label in expectation.get("choices") or []][:26]
        return [(letter, f"{letter}. {label}" if label != letter else letter)
                for letter, label in zip(ascii_uppercase, labels, strict=False)]
    if kind == "rating":
        low, high = _scale(expectation, (1, 5))
        return [(str(n), str(n)) for n in range(low, high + 1)]
    if kind == "nps":
        low, high = _scale(expectation, (0, 10))
        return [(str(n), str(n)) for n in range(low, high + 1)]
    if kind == "yes_no":
        return [(texts["yes"].lower(), texts["yes"]), (texts["no"].lower(), texts["no"])]
    return []


def normalise(expectation: dict[str, Any], submitted: str, texts: dict[str, str]) -> str | None:
    """The body to store for ``submitted``, or ``None`` if the page never offered it."""
    answer = submitted.strip()
    kind = kind_of(expectation)
    if kind == "text":
        return answer[:MAX_TEXT] if answer else None
    if kind == "yes_no":
        word = answer.lower()
        return word if word in _YES | _NO else None
    offered = {value for value, _ in options(expectation, texts)}
    value = answer.upper() if kind == "choice" else answer
    return value if value in offered else None
