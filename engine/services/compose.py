"""Composing what a delivery says on a channel: rendered text, links, and the question it opens.

Rendering is separate from sending (STYLE.md): the dispatcher asks this module
for a :class:`Composed` message, saves it with the delivery, then hands it to a
channel.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from engine.campaign.schema import Campaign, Step
from engine.content.library import lesson_text
from engine.content.models import QuizItem, Survey
from engine.content.render import RenderError, markdown_to_html, markdown_to_text, render
from engine.core.prompts import (
    expectation_for_item,
    expectation_for_question,
    format_question,
    format_quiz_item,
)
from engine.core.spaced import ReviewState, pick_due_items
from engine.links import sign
from engine.services.catalog import PinnedContent

ANSWER_LINK_PURPOSE = "answer"
UNSUBSCRIBE_PURPOSE = "unsubscribe"


@dataclass(frozen=True)
class PromptSpec:
    """The question a delivery opens, and the ones queued behind it in the same step."""

    kind: str
    question_ref: str
    expectation: dict[str, Any]
    queue: list[str] = field(default_factory=list)
    expires_in: timedelta = timedelta(days=3)


@dataclass(frozen=True)
class Composed:
    body: str
    subject: str | None = None
    html: str | None = None
    title: str | None = None
    link: str | None = None
    prompt: PromptSpec | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"body": self.body, "subject": self.subject, "title": self.title, "link": self.link,
                "question": self.prompt.question_ref if self.prompt else None}


@dataclass(frozen=True)
class Skip:
    """Nothing to send, and why (shown to trainers as the delivery's reason)."""

    reason: str


@dataclass(frozen=True)
class Recipient:
    """Everything about the person and session a template may use."""

    context: Mapping[str, Any]
    delivery_id: int
    public_url: str
    secret: str
    locale: str = "fr"


def _expectation_dict(kind: str, choices: tuple[str, ...], values: tuple[str, ...],
                      scale: tuple[int, int] | None) -> dict[str, Any]:
    return {"kind": kind, "choices": list(choices), "values": list(values),
            "scale": list(scale) if scale else None}


def quiz_prompt(item: QuizItem, bank_ref: str, queue: list[str], kind: str, expires_in: timedelta) -> PromptSpec:
    exp = expectation_for_item(item)
    return PromptSpec(kind, f"{bank_ref}#{item.id}",
                      _expectation_dict(exp.kind, exp.choices, exp.values, getattr(exp, "scale", None)),
                      queue, expires_in)


def survey_prompt(survey: Survey, index: int, kind: str, expires_in: timedelta) -> PromptSpec:
    question = survey.questions[index]
    exp = expectation_for_question(question)
    queue = [q.id for q in survey.questions[index + 1:]]
    return PromptSpec(kind, f"{survey.ref}#{question.id}",
                      _expectation_dict(exp.kind, exp.choices, exp.values, getattr(exp, "scale", None)),
                      queue, expires_in)


def pick_quiz_items(bank_items: list[QuizItem], *, ask: int, seed: str, seen: set[str]) -> list[QuizItem]:
    """``ask`` items, unseen ones first, in a stable order per learner (no two learners alike)."""
    start = zlib.crc32(seed.encode()) % len(bank_items)
    rotated = bank_items[start:] + bank_items[:start]
    ordered = [i for i in rotated if i.id not in seen] + [i for i in rotated if i.id in seen]
    return ordered[:ask]


def answer_link(recipient: Recipient, question_ref: str, expires_at: datetime) -> str:
    token = sign(recipient.secret, purpose=ANSWER_LINK_PURPOSE, expires_at=expires_at,
                 data={"d": recipient.delivery_id, "q": question_ref})
    return f"{recipient.public_url.rstrip('/')}/r/{token}"


def _render(template: str, recipient: Recipient) -> str:
    return render(template, recipient.context)


def compose(*, campaign: Campaign, step: Step | None, kind: str, content_ref: str | None,
            content: PinnedContent, channel: str, recipient: Recipient, now: datetime,
            cards: Mapping[str, ReviewState] | None = None, seen: set[str] | None = None,
            occurrence: int = 0) -> Composed | Skip:
    """The message for one delivery on one channel, or why there is nothing to send."""
    try:
        return _compose(campaign, step, kind, content_ref, content, channel, recipient, now,
                        cards or {}, seen or set(), occurrence)
    except RenderError as exc:
        return Skip(f"cannot render: {exc}")


def _compose(campaign: Campaign, step: Step | None, kind: str, ref: str | None, content: PinnedContent,
             channel: str, recipient: Recipient, now: datetime, cards: Mapping[str, ReviewState],
             seen: set[str], occurrence: int) -> Composed | Skip:
    locale = campaign.locale
    expires_in = (campaign.reply_within_for(step) if step else campaign.defaults.reply_within).approx_timedelta()
    if kind in ("message", "task"):
        return wrap(_render(ref or "", recipient), channel, None, recipient, campaign.title, now)
    if kind == "lesson":
        lesson = content.lessons.get(ref or "")
        if lesson is None:
            return Skip(f"lesson '{ref}' missing from the campaign version")
        subject, body = lesson_text(lesson, channel)  # type: ignore[arg-type]
        subject_text = _render(subject, recipient) if subject else None
        return wrap(_render(body, recipient), channel, None, recipient, subject_text, now)
    if kind in ("quiz", "review"):
        bank = content.banks.get(ref or "")
        if bank is None:
            return Skip(f"quiz bank '{ref}' missing from the campaign version")
        if kind == "review":
            due = pick_due_items(cards, now=now, limit=1) if cards else []
            unseen = [i for i in bank.items if i.id not in cards]
            chosen = bank.item(due[0]) if due else (unseen[0] if unseen else None)
            if chosen is None:
                return Skip("no item due for review")
            items = [chosen]
        else:
            ask = step.ask if step else 1
            items = pick_quiz_items(list(bank.items), ask=ask, seed=f"{recipient.delivery_id}", seen=seen)
        prompt = quiz_prompt(items[0], bank.ref, [i.id for i in items[1:]], kind, expires_in)
        header = ("Révision" if kind == "review" else "Quiz") if locale == "fr" else (
            "Review" if kind == "review" else "Quiz")
        if len(items) > 1:
            header += f" 1/{len(items)}"
        body = f"{header} : {format_quiz_item(items[0], locale=locale)}"
        return wrap(body, channel, prompt, recipient, bank.title, now)
    if kind in ("survey", "checkin"):
        source = content.surveys if kind == "survey" else content.checkins
        survey = source.get(ref or "")
        if survey is None:
            return Skip(f"{kind} '{ref}' missing from the campaign version")
        prompt = survey_prompt(survey, 0, kind, expires_in)
        intro = _render(survey.intro, recipient) + "\n" if survey.intro else ""
        body = intro + _render(format_question(survey.questions[0], locale=locale), recipient)
        return wrap(body, channel, prompt, recipient, survey.title, now)
    return Skip(f"unknown kind '{kind}'")


def wrap(body: str, channel: str, prompt: PromptSpec | None, recipient: Recipient,
          title: str | None, now: datetime) -> Composed:
    """Adds what each channel needs: a one-tap link for email and push, HTML for email."""
    link = None
    if prompt is not None and channel in ("email", "push"):
        link = answer_link(recipient, prompt.question_ref, now + prompt.expires_in)
    if channel == "email":
        text = markdown_to_text(body)
        if link:
            text += f"\n\nRépondre : {link}" if recipient.locale == "fr" else f"\n\nAnswer: {link}"
        html = markdown_to_html(body)
        if link:
            label = "Répondre" if recipient.locale == "fr" else "Answer"
            html += f'<p><a href="{link}">{label}</a></p>'
        return Composed(text, subject=title, html=html, link=link, prompt=prompt)
    if channel == "push":
        return Composed(body, title=title, link=link, prompt=prompt)
    return Composed(body, prompt=prompt)


def continue_prompt(*, content: PinnedContent, kind: str, question_ref: str, queue: list[str],
                    locale: str, expires_in: timedelta) -> tuple[str, PromptSpec] | None:
    """The next question of a quiz or survey in progress, once the previous one is answered."""
    if not queue:
        return None
    ref = question_ref.split("#", 1)[0]
    if kind in ("quiz", "review"):
        bank = content.banks.get(ref)
        item = bank.item(queue[0]) if bank else None
        if bank is None or item is None:
            return None
        return format_quiz_item(item, locale=locale), quiz_prompt(item, ref, queue[1:], kind, expires_in)
    source = content.surveys if kind == "survey" else content.checkins
    survey = source.get(ref)
    if survey is None:
        return None
    index = next((i for i, q in enumerate(survey.questions) if q.id == queue[0]), None)
    if index is None:
        return None
    return format_question(survey.questions[index], locale=locale), survey_prompt(survey, index, kind, expires_in)
