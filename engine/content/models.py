"""Content shapes: lessons, quiz banks, surveys and check-ins, and the FAQ.

A lesson is a Markdown file whose YAML front matter carries per-channel variants;
quiz banks, surveys, check-ins and the FAQ are YAML files. All text fields are
Jinja2 templates rendered with :mod:`engine.content.render`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

QuestionType = Literal["rating", "nps", "yes_no", "choice", "text"]
CPF_CRITERIA = ("accueil", "contenu", "equipe_pedagogique", "moyens", "accompagnement")
CpfCriterion = Literal["accueil", "contenu", "equipe_pedagogique", "moyens", "accompagnement"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PushText(_Model):
    title: str
    body: str


class EmailText(_Model):
    subject: str
    body: str | None = Field(default=None, description="Markdown; defaults to the lesson body.")


class Lesson(_Model):
    """A micro-lesson (tip, memo, challenge) with a text for each channel."""

    ref: str = Field(description="Reference used by campaigns, e.g. management/feedback-sbi.")
    title: str
    tags: list[str] = Field(default_factory=list)
    sms: str = Field(description="SMS and WhatsApp text (keep it to one or two segments).")
    push: PushText | None = None
    email: EmailText | None = None
    body: str = Field(default="", description="The Markdown body below the front matter.")


class QuizItem(_Model):
    """A multiple-choice question; ``answer`` is the letter of the right choice (A, B, ...)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    question: str
    choices: list[str] = Field(min_length=2, max_length=6)
    answer: str = Field(pattern=r"^[A-F]$", description="The letter of the right choice: A, B, ... (b is B).")
    explanation: str
    tags: list[str] = Field(default_factory=list)

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_is_a_letter(cls, value: Any) -> Any:
        """``answer: b`` is B; a number or a word gets the designer's words, not pydantic's."""
        if isinstance(value, str) and len(value.strip()) == 1 and value.strip().isalpha():
            return value.strip().upper()
        if isinstance(value, bool) or value is None or not isinstance(value, str):
            shown = str(value).lower() if isinstance(value, bool) else value
            raise ValueError(f"answer is the letter of the right choice (A, B, C...), not {shown}: "
                             "for the second choice, write answer: B")
        raise ValueError(f"answer is the letter of the right choice (A, B, C...), not '{value}'")

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> QuizItem:
        index = ord(self.answer) - ord("A")
        if index >= len(self.choices):
            raise ValueError(
                f"answer {self.answer} but only {len(self.choices)} choices "
                f"(A to {chr(ord('A') + len(self.choices) - 1)})"
            )
        return self

    @property
    def answer_index(self) -> int:
        return ord(self.answer) - ord("A")


class QuizBank(_Model):
    ref: str
    title: str
    items: list[QuizItem] = Field(min_length=1)

    def item(self, item_id: str) -> QuizItem | None:
        return next((item for item in self.items if item.id == item_id), None)


class Choice(_Model):
    value: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    label: str


class Question(_Model):
    """One survey or check-in question."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    type: QuestionType
    text: str
    criterion: CpfCriterion | None = Field(
        default=None, description="CPF quality criterion this rating measures."
    )
    choices: list[Choice] = Field(default_factory=list)
    optional: bool = False

    @model_validator(mode="after")
    def _choices_fit_type(self) -> Question:
        if self.type == "choice" and len(self.choices) < 2:
            raise ValueError("a 'choice' question needs at least two choices")
        if self.type != "choice" and self.choices:
            raise ValueError(f"a '{self.type}' question takes no choices")
        if self.criterion is not None and self.type != "rating":
            raise ValueError("only a 'rating' question measures a CPF criterion")
        return self


class Survey(_Model):
    """A survey (hot or cold satisfaction, testimonial) or a check-in (action plan)."""

    ref: str
    title: str
    intro: str | None = None
    outro: str | None = Field(default=None, description="Sent once the last question is answered.")
    questions: list[Question] = Field(min_length=1)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


class FaqEntry(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    question: str
    keywords: list[str] = Field(min_length=1)
    answer: str


class Faq(_Model):
    entries: list[FaqEntry] = Field(default_factory=list)
