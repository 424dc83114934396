"""Simulated learners: how they answer, how fast, and how well.

Used by ``ancrage simulate`` and by the demo's simulated learners. Each persona
writes its replies the way real learners do ("b)", "la b", "4/5"), so a
simulation exercises the real reply parser.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from engine.content.models import Question, QuizItem
from engine.core.prompts import LETTERS


@dataclass(frozen=True)
class Persona:
    """A simulated learner's habits."""

    name: str
    description: str
    reply_rate: float
    accuracy: float
    delay: timedelta
    rating: int
    nps: int
    checkin: str
    says_yes: bool
    messy: bool = False


PERSONAS: dict[str, Persona] = {
    persona.name: persona
    for persona in (
        Persona("assidu", "answers within the hour, mostly right, satisfied",
                1.0, 0.9, timedelta(minutes=40), 5, 9, "fait", True),
        Persona("en-difficulte", "answers, often wrong, lukewarm, action plan blocked",
                0.9, 0.3, timedelta(hours=3), 2, 5, "bloque", False, messy=True),
        Persona("tardif", "answers two days later, sometimes after the deadline",
                0.8, 0.7, timedelta(days=2, hours=3), 4, 7, "en_cours", True, messy=True),
        Persona("silencieux", "never answers", 0.0, 0.0, timedelta(0), 3, 5, "en_cours", False),
    )
}
ALIASES = {"good": "assidu", "struggling": "en-difficulte", "late": "tardif", "silent": "silencieux"}

_MESSY_CHOICE = ("{l})", "la {l}", "réponse {L}", "{L}.", " {l} ", "{n}", "c'est la {l}")


def find_persona(name: str) -> Persona | None:
    """A persona by French name or English alias."""
    return PERSONAS.get(ALIASES.get(name, name))


@dataclass
class ScriptedReplies:
    """Replies a designer scripted per step id: raw texts in order, and an optional delay."""

    replies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    delays: Mapping[str, timedelta] = field(default_factory=dict)
    _used: dict[str, int] = field(default_factory=dict)

    def next_reply(self, step_id: str) -> str | None:
        """The next scripted reply for this step; None once they are used up."""
        texts = self.replies.get(step_id)
        if texts is None:
            return None
        index = self._used.get(step_id, 0)
        self._used[step_id] = index + 1
        return texts[index] if index < len(texts) else ""

    def covers(self, step_id: str) -> bool:
        return step_id in self.replies


class ScriptedLearner(Protocol):
    """A learner whose every message is a function of the question (for replaying one learner
    through the simulator and through the real engine alike)."""

    def reply(self, step_id: str, question_ref: str, attempt: int) -> tuple[str, timedelta] | None:
        """The text and delay of the learner's ``attempt``-th message to a question, or None."""
        ...


class PersonaReplies:
    """Turns a persona into concrete reply texts and delays, deterministically from a seed."""

    def __init__(self, persona: Persona, seed: int) -> None:
        self.persona = persona
        self.random = random.Random(f"{persona.name}:{seed}")

    def answers(self) -> bool:
        return self.random.random() < self.persona.reply_rate

    def delay(self) -> timedelta:
        base = self.persona.delay.total_seconds()
        return timedelta(seconds=base * self.random.uniform(0.6, 1.4))

    def _choice_text(self, index: int) -> str:
        letter = LETTERS[index]
        if not self.persona.messy:
            return letter
        pattern = self.random.choice(_MESSY_CHOICE)
        return pattern.format(l=letter.lower(), L=letter, n=index + 1)

    def quiz_reply(self, item: QuizItem) -> str:
        if self.random.random() < self.persona.accuracy:
            return self._choice_text(item.answer_index)
        wrong = [i for i in range(len(item.choices)) if i != item.answer_index]
        return self._choice_text(self.random.choice(wrong))

    def question_reply(self, question: Question) -> str:
        persona = self.persona
        if question.type == "rating":
            value = max(1, min(5, persona.rating + self.random.choice((-1, 0, 0, 1))))
            return f"{value}/5" if persona.messy else str(value)
        if question.type == "nps":
            value = max(0, min(10, persona.nps + self.random.choice((-1, 0, 1))))
            return f"{value} sur 10" if persona.messy else str(value)
        if question.type == "yes_no":
            return ("oui !" if persona.messy else "oui") if persona.says_yes else "non"
        if question.type == "choice":
            values = [c.value for c in question.choices]
            if persona.checkin in values:
                return question.choices[values.index(persona.checkin)].label
            return self._choice_text(0)
        if question.optional and persona.messy:
            return "passer"
        return "Très utile, merci." if persona.says_yes else "Pas eu le temps de m'y mettre."
