"""Content warnings a designer can act on: SMS cost and template typos, with positions.

Every text is a Jinja2 template, so each one is checked for unknown variables.
Texts that leave as an SMS are rendered with a sample learner and measured: a
French apostrophe (’) silently doubles the price of a message, and the linter
is the only place a designer can learn it before learners get the bill.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.content.models import Faq, Lesson, Question, QuizBank, QuizItem, Survey
from engine.content.render import RenderError, check_template, render, sample_context
from engine.content.sms import (
    MULTIPART_SEGMENT,
    SINGLE_SEGMENT,
    cost_hint,
    describe_char,
    gsm_equivalent,
    smart_encode,
    sms_info,
)
from engine.core.prompts import format_question, format_quiz_item
from engine.diagnostics import Diagnostic
from engine.diagnostics.yaml_reader import Loc, Source

MAX_SMS_SEGMENTS = 2
LETTERS = "ABCDEF"


def quiz_sms(item: QuizItem) -> str:
    """A quiz question exactly as the engine sends it (one source: :mod:`engine.core.prompts`)."""
    return format_quiz_item(item)


def question_sms(question: Question) -> str:
    """A survey or check-in question exactly as the engine sends it."""
    return format_question(question)


@dataclass(frozen=True)
class _Sms:
    """An SMS as sent, and the fields (template text at a location) it is made of."""

    message: str
    parts: tuple[tuple[Loc, str], ...]


def _gsm_safe_sample() -> dict[str, Any]:
    """Sample values made GSM-7, so a UCS-2 warning blames the designer's own text."""
    return {
        name: {k: smart_encode(v) if isinstance(v, str) else v for k, v in fields.items()}
        for name, fields in sample_context().items()
    }


_SAMPLE = _gsm_safe_sample()


def _strings(node: Any, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Every string in a parsed YAML tree with its path: all of them are templates."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*loc, index))
    elif isinstance(node, str):
        yield loc, node


def lint_templates(source: Source, body: str = "", body_line: int = 0) -> list[Diagnostic]:
    """Template errors in every text of a file, valid or not, so one pass shows them all."""
    found: list[Diagnostic] = []
    for loc, text in _strings(source.data):
        for problem in check_template(text):
            line, col = source.text_position(loc, problem.line)
            found.append(Diagnostic("error", source.file, line, col, problem.message, problem.hint))
    for problem in check_template(body):
        line = body_line + problem.line - 1
        found.append(Diagnostic("error", source.file, line, 1, problem.message, problem.hint))
    return found


def _lesson_sms(lesson: Lesson) -> Iterator[_Sms]:
    yield _Sms(lesson.sms, ((("sms",), lesson.sms),))


def _bank_sms(bank: QuizBank) -> Iterator[_Sms]:
    for i, item in enumerate(bank.items):
        parts: list[tuple[Loc, str]] = [(("items", i, "question"), item.question)]
        parts += [(("items", i, "choices", j), c) for j, c in enumerate(item.choices)]
        yield _Sms(quiz_sms(item), tuple(parts))
        yield _Sms(item.explanation, ((("items", i, "explanation"), item.explanation),))


def _survey_sms(survey: Survey) -> Iterator[_Sms]:
    first = _question_sms(survey.questions[0], ("questions", 0))
    if survey.intro is not None:  # the engine sends the intro and the first question as one SMS
        first = _Sms(f"{survey.intro}\n{first.message}", ((("intro",), survey.intro), *first.parts))
    yield first
    if survey.outro is not None:
        yield _Sms(survey.outro, ((("outro",), survey.outro),))
    for i, question in enumerate(survey.questions[1:], start=1):
        yield _question_sms(question, ("questions", i))


def _question_sms(question: Question, loc: Loc) -> _Sms:
    labels = [choice.label for choice in question.choices]
    parts: list[tuple[Loc, str]] = [((*loc, "text"), question.text)]
    parts += [((*loc, "choices", j, "label"), label) for j, label in enumerate(labels)]
    return _Sms(question_sms(question), tuple(parts))


def _faq_sms(faq: Faq) -> Iterator[_Sms]:
    for i, entry in enumerate(faq.entries):
        yield _Sms(entry.answer, ((("entries", i, "answer"), entry.answer),))


def lint_sms(content: Lesson | QuizBank | Survey | Faq, source: Source) -> list[Diagnostic]:
    """SMS cost warnings for every text of a validated content object that leaves as an SMS."""
    if isinstance(content, Lesson):
        messages = _lesson_sms(content)
    elif isinstance(content, QuizBank):
        messages = _bank_sms(content)
    elif isinstance(content, Survey):
        messages = _survey_sms(content)
    else:
        messages = _faq_sms(content)
    return [d for sms in messages for d in _check_sms(sms, source)]


def _check_sms(sms: _Sms, source: Source) -> Iterator[Diagnostic]:
    try:
        sent = render(sms.message, _SAMPLE) if "{" in sms.message else sms.message
    except RenderError:
        return  # the template error is reported on its own
    info = sms_info(sent)
    if info.encoding == "ucs2":
        first = info.ucs2_chars[0]
        loc = next((loc for loc, t in sms.parts if first in t), sms.parts[0][0])
        line, col = source.char_position(loc, first)
        chars = ", ".join(describe_char(c) for c in info.ucs2_chars)
        verb = "forces" if len(info.ucs2_chars) == 1 else "force"
        message = (
            f"{chars} {verb} UCS-2: {SINGLE_SEGMENT['ucs2']} characters per segment instead of "
            f"{SINGLE_SEGMENT['gsm7']}; this SMS is {cost_hint(info)}"
        )
        yield Diagnostic("warning", source.file, line, col, message, _ucs2_advice(info.ucs2_chars))
    if info.segments > MAX_SMS_SEGMENTS:
        line, col = source.text_position(sms.parts[0][0], 1)
        capacity = MULTIPART_SEGMENT[info.encoding] * MAX_SMS_SEGMENTS
        message = f"SMS too long: {cost_hint(info)}; at most {MAX_SMS_SEGMENTS} segments ({capacity} characters) advised"
        yield Diagnostic(
            "warning",
            source.file,
            line,
            col,
            message,
            "shorten it, or move details to the email or a link",
        )


def _ucs2_advice(chars: tuple[str, ...]) -> str:
    swaps = [
        f"{_shown(gsm_equivalent(c))} for {describe_char(c)}"
        for c in chars
        if gsm_equivalent(c) is not None
    ]
    stuck = [describe_char(c) for c in chars if gsm_equivalent(c) is None]
    advice = f"use {', '.join(swaps)} or smart_encoded" if swaps else ""
    if stuck:
        advice += (
            "; " if advice else ""
        ) + f"no GSM-7 equivalent for {', '.join(stuck)}: remove it or accept UCS-2"
    return advice


def _shown(replacement: str | None) -> str:
    return {" ": "a plain space", "": "nothing"}.get(replacement or "", replacement or "")
