"""Composing what a delivery says on a channel: rendered text, links, and the question it opens.

Rendering is separate from sending (STYLE.md): the dispatcher asks this module
for a :class:`Composed` message, saves it with the delivery, then hands it to a
channel.
"""

from __future__ import annotations

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
from engine.core.questions import expectation_json
from engine.core.rules import pick_quiz_items, pick_review_item
from engine.core.spaced import ReviewState
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


def quiz_prompt(item: QuizItem, bank_ref: str, queue: list[str], kind: str, expires_in: timedelta) -> PromptSpec:
    exp = expectation_for_item(item)
    return PromptSpec(kind, f"{bank_ref}#{item.id}",
                      expectation_json(exp),
                      queue, expires_in)


def survey_prompt(survey: Survey, index: int, kind: str, expires_in: timedelta) -> PromptSpec:
    question = survey.questions[index]
    exp = expectation_for_question(question)
    queue = [q.id for q in survey.questions[index + 1:]]
    return PromptSpec(kind, f"{survey.ref}#{question.id}",
                      expectation_json(exp),
                      queue, expires_in)


def answer_link(recipient: Recipient, question_ref: str, expires_at: datetime) -> str:
    token = sign(recipient.secret, purpose=ANSWER_LINK_PURPOSE, expires_at=expires_at,
                 data={"d": recipient.delivery_id, "q": question_ref})
    return f"{recipient.public_url.rstrip('/')}/r/{token}"


def _render(template: str, recipient: Recipient, channel: str | None = None) -> str:
    """A template for ``channel``: an e-mail body is Markdown, so inserted values are escaped."""
    return render(template, recipient.context,
                  markup="markdown" if channel == "email" else "text")


def compose(*, campaign: Campaign, step: Step | None, kind: str, content_ref: str | None,
            content: PinnedContent, channel: str, recipient: Recipient, now: datetime,
            cards: Mapping[str, ReviewState] | None = None, seen: set[str] | None = None,
            occurrence: int = 0, seed: str | None = None) -> Composed | Skip:
    """The message for one delivery on one channel, or why there is nothing to send."""
    try:
        return _compose(campaign, step, kind, content_ref, content, channel, recipient, now,
                        cards or {}, seen or set(), seed or f"{recipient.delivery_id}")
    except RenderError as exc:
        return Skip(f"cannot render: {exc}")


def _compose(campaign: Campaign, step: Step | None, kind: str, ref: str | None, content: PinnedContent,
             channel: str, recipient: Recipient, now: datetime, cards: Mapping[str, ReviewState],
             seen: set[str], seed: str) -> Composed | Skip:
    locale = campaign.locale
    expires_in = (campaign.reply_within_for(step) if step else campaign.defaults.reply_within).approx_timedelta()
    if kind in ("message", "task"):
        return wrap(_render(ref or "", recipient, channel), channel, None, recipient,
                     campaign.title, now)
    if kind == "lesson":
        lesson = content.lessons.get(ref or "")
        if lesson is None:
            return Skip(f"lesson '{ref}' missing from the campaign version")
        subject, body = lesson_text(lesson, channel)  # type: ignore[arg-type]
        subject_text = _render(subject, recipient) if subject else None
        return wrap(_render(body, recipient, channel), channel, None, recipient, subject_text, now)
    if kind in ("quiz", "review"):
        bank = content.banks.get(ref or "")
        if bank is None:
            return Skip(f"quiz bank '{ref}' missing from the campaign version")
        if kind == "review":
            chosen = pick_review_item(bank.items, cards, now=now)
            if chosen is None:
                return Skip("no item due for review")
            items = [chosen]
        else:
            ask = step.ask if step else 1
            items = pick_quiz_items(list(bank.items), ask=ask, seed=seed, seen=seen)
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
        intro = _render(survey.intro, recipient, channel) + "\n" if survey.intro else ""
        body = intro + _render(format_question(survey.questions[0], locale=locale), recipient,
                               channel)
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
