"""Plays a campaign against a simulated learner with a fake clock, in the pure core.

No database, no Redis, no network: the same timeline, parser, grading, FSRS and
branching functions as the engine, driven by a priority queue of events. The
result is a transcript a designer reads to check a campaign before anyone gets it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.campaign.schema import Action, Campaign, Step
from engine.core.branching import Outcome, actions_for_outcome, silence_actions, silence_checks
from engine.core.grading import grade_answer
from engine.core.offsets import Offset
from engine.core.personas import PersonaReplies, ScriptedReplies
from engine.core.prompts import (
    expectation_for_item,
    expectation_for_question,
    format_question,
    format_quiz_item,
    is_skip,
)
from engine.core.questions import ContentView
from engine.core.replies import parse_reply
from engine.core.spaced import (
    ReviewState,
    new_state,
    pick_due_items,
    record_answer,
    within_weekly_cap,
)
from engine.core.timeline import apply_offset, plan_action_time, plan_timeline


@dataclass(frozen=True)
class TranscriptEntry:
    """One line of a transcript: what happened, when (learner's local time), for which step."""

    at: datetime
    event: str  # sent, reply, feedback, clarify, branch, alert, reminder, expired, skipped, review, stop
    step_id: str
    detail: str
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "event": self.event, "step": self.step_id,
                "detail": self.detail, "text": self.text}


@dataclass
class _Learner:
    at_risk: bool = False
    stopped: bool = False
    cards: dict[str, dict[str, ReviewState]] = field(default_factory=dict)
    review_sends: dict[str, list[datetime]] = field(default_factory=dict)


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    step_id: str = field(compare=False)
    kind: str = field(compare=False)
    ref: str | None = field(compare=False, default=None)
    origin: str = field(compare=False, default="plan")
    # A deferred effect (branch actions, an FSRS update) applied when the clock reaches ``at``.
    effect: Callable[[], None] | None = field(compare=False, default=None)


class Simulation:
    """One learner through one campaign; call :meth:`run` once."""

    def __init__(self, campaign: Campaign, content: ContentView, *, anchor: datetime, tz: ZoneInfo,
                 replies: PersonaReplies, script: ScriptedReplies | None = None,
                 render: Callable[[str], str] = lambda text: text) -> None:
        self.campaign, self.content, self.anchor, self.tz = campaign, content, anchor, tz
        self.replies, self.script = replies, script or ScriptedReplies()
        self.render = render
        self.learner = _Learner()
        self.queue: list[_Event] = []
        self.seq = itertools.count()
        self.transcript: list[TranscriptEntry] = []

    def _log(self, at: datetime, event: str, step_id: str, detail: str, text: str | None = None) -> None:
        self.transcript.append(TranscriptEntry(at.astimezone(self.tz), event, step_id, detail, text))

    def _push(self, at: datetime, step_id: str, kind: str, ref: str | None, origin: str = "plan") -> None:
        heapq.heappush(self.queue, _Event(at, next(self.seq), step_id, kind, ref, origin))

    def _defer(self, at: datetime, step_id: str, effect: Callable[[], None]) -> None:
        """Applies ``effect`` when the clock reaches ``at``.

        A question's whole exchange (replies, reminders, silence) is computed when it
        is sent, but its effects on the learner (at-risk mark, stop, FSRS cards) must
        not be visible to sends due before they happen: a call task planned for a
        Tuesday must not see an at-risk mark set by a silence branch on Thursday.
        """
        heapq.heappush(self.queue, _Event(at, next(self.seq), step_id, "effect", None, "effect", effect))

    def run(self) -> list[TranscriptEntry]:
        for planned in plan_timeline(self.campaign, anchor=self.anchor, tz=self.tz):
            self._push(planned.due_at, planned.step_id, planned.kind, planned.content_ref)
        while self.queue and not self.learner.stopped:
            event = heapq.heappop(self.queue)
            self._handle(event)
        return sorted(self.transcript, key=lambda e: e.at)

    # --- events -----------------------------------------------------------------
    def _handle(self, event: _Event) -> None:
        if event.effect is not None:
            event.effect()
            return
        step = self.campaign.step(event.step_id)
        if step is None:
            return
        if step.audience == "at_risk" and not self.learner.at_risk:
            self._log(event.at, "skipped", step.id, "audience at_risk: learner is not at risk")
            return
        channel = self.campaign.channels_for(step)[0]
        if event.kind in ("lesson", "message", "task"):
            who = {"trainer": "task for the trainer", "manager": "to the manager"}.get(step.to, channel)
            if event.kind == "lesson":
                self._log(event.at, "sent", step.id, f"lesson {event.ref or ''} ({who})")
            else:
                text = self.render(event.ref or "")
                self._log(event.at, "sent", step.id, f"{event.kind} ({who}): {text.splitlines()[0] if text else ''}",
                          text)
        elif event.kind == "quiz" and event.ref:
            self._quiz(step, event.at, event.ref, channel)
        elif event.kind == "review":
            self._review(step, event.at, channel)
        elif event.kind in ("survey", "checkin") and event.ref:
            self._survey(step, event.at, event.kind, event.ref, channel)

    def _reply_for(self, step: Step, asked_at: datetime) -> tuple[str, datetime] | None:
        """The learner's reply text and time, or None when the question goes unanswered."""
        if self.script.covers(step.id):
            text = self.script.next_reply(step.id)
            delay = self.script.delays.get(step.id, timedelta(minutes=10))
            return (text, asked_at + delay) if text else None
        if not self.replies.answers():
            return None
        return "", asked_at + self.replies.delay()

    def _ask(self, step: Step, at: datetime, text: str, channel: str) -> tuple[str, datetime] | None:
        """Sends one question, then walks reminders and the deadline until a reply comes.

        A reply counts when it arrives before the next reminder (or silence check)
        and before the deadline; each reminder reopens the question for a full
        ``reply_within``, as the engine does, and gives a silent learner another chance.
        """
        self._log(at, "sent", step.id, f"question ({channel})", text)
        reply_within = self.campaign.reply_within_for(step).approx_timedelta()
        window = self.campaign.window_for(step)
        deadline = at + reply_within
        asked = at
        reply = self._reply_for(step, asked)
        for check in silence_checks(step):
            when = plan_action_time(asked, Offset(check.after), window, self.tz)
            if reply is not None and reply[1] <= when and reply[1] < deadline:
                return reply
            if check.is_final:
                actions = silence_actions(step)
                detail = "no reply after reminders: silence branch" if actions else "no reply after reminders"
                self._log(when, "branch" if actions else "expired", step.id, detail)
                self._run_actions(step, actions, when)
                return None
            self._log(when, "reminder", step.id, f"reminder {check.number} ({channel})", text)
            asked = when
            deadline = max(deadline, when + reply_within)
            if reply is None:
                reply = self._reply_for(step, asked)
        if reply is not None and reply[1] < deadline:
            return reply
        self._log(deadline, "expired", step.id, "no reply before the deadline")
        return None

    def _quiz(self, step: Step, at: datetime, bank_ref: str, channel: str) -> None:
        bank = self.content.banks.get(bank_ref)
        if bank is None:
            self._log(at, "skipped", step.id, f"unknown quiz bank {bank_ref}")
            return
        offset = sum(ord(c) for c in step.id) % len(bank.items)
        items = [bank.items[(offset + i) % len(bank.items)] for i in range(min(step.ask, len(bank.items)))]
        grades = []
        moment = at
        for item in items:
            reply = self._ask(step, moment, format_quiz_item(item, locale=self.campaign.locale), channel)
            if reply is None:
                return
            text, moment = reply
            text = text or self.replies.quiz_reply(item)
            parsed = parse_reply(text, expectation_for_item(item))
            self._log(moment, "reply", step.id, f"{item.id}: {parsed.status}", text)
            if parsed.status != "ok" or not isinstance(parsed.value, int):
                self._log(moment, "clarify", step.id, "asked to answer with a letter")
                continue
            grade = grade_answer(item, parsed.value, locale=self.campaign.locale)
            grades.append(grade)
            self._log(moment, "feedback", step.id, "correct" if grade.correct else "wrong", grade.feedback)
            self._card(bank_ref, item.id, grade.correct, moment, step)
        if grades:
            score = sum(g.correct for g in grades) / len(grades)
            self._log(moment, "score", step.id, f"score {score:.0%} ({len(grades)} answers)")
            self._run_actions(step, actions_for_outcome(step, Outcome(score=score)), moment)

    def _card(self, bank_ref: str, item_id: str, correct: bool, at: datetime, step: Step) -> None:
        self._defer(at, step.id, lambda: self._update_card(bank_ref, item_id, correct, at, step))

    def _update_card(self, bank_ref: str, item_id: str, correct: bool, at: datetime, step: Step) -> None:
        cards = self.learner.cards.setdefault(bank_ref, {})
        state = cards.get(item_id) or new_state(item_id, now=at)
        horizon = self._horizon_days(at)
        cards[item_id] = record_answer(state, correct=correct, at=at, horizon_days=horizon)
        due = cards[item_id].due.astimezone(self.tz)
        detail = "retired" if cards[item_id].retired else f"next review due {due:%Y-%m-%d}"
        self._log(at, "review", step.id, f"{item_id}: {detail}")

    def _horizon_days(self, at: datetime) -> int:
        ends = [apply_offset(self.anchor, s.until, self.tz) for s in self.campaign.steps if s.until]
        end = max(ends, default=at + timedelta(days=60))
        return max(1, (end - at).days)

    def _review(self, step: Step, at: datetime, channel: str) -> None:
        bank = self.content.banks.get(step.review or "")
        if bank is None:
            return
        cards = self.learner.cards.setdefault(bank.ref, {})
        for item in bank.items:
            cards.setdefault(item.id, new_state(item.id, now=at))
        sent = self.learner.review_sends.setdefault(step.id, [])
        if not within_weekly_cap(sent, now=at, per_week=step.per_week):
            self._log(at, "skipped", step.id, "weekly review cap reached")
            return
        due = pick_due_items(cards, now=at, limit=1)
        if not due:
            self._log(at, "skipped", step.id, "no item due for review")
            return
        picked = bank.item(due[0])
        assert picked is not None
        item = picked
        sent.append(at)
        reply = self._ask(step, at, format_quiz_item(item, locale=self.campaign.locale), channel)
        if reply is None:
            return
        text, moment = reply
        text = text or self.replies.quiz_reply(item)
        parsed = parse_reply(text, expectation_for_item(item))
        self._log(moment, "reply", step.id, f"{item.id}: {parsed.status}", text)
        if parsed.status == "ok" and isinstance(parsed.value, int):
            grade = grade_answer(item, parsed.value, locale=self.campaign.locale)
            self._log(moment, "feedback", step.id, "correct" if grade.correct else "wrong", grade.feedback)
            self._card(bank.ref, item.id, grade.correct, moment, step)

    def _survey(self, step: Step, at: datetime, kind: str, ref: str, channel: str) -> None:
        source = self.content.surveys if kind == "survey" else self.content.checkins
        survey = source.get(ref)
        if survey is None:
            self._log(at, "skipped", step.id, f"unknown {kind} {ref}")
            return
        answers: dict[str, object] = {}
        ratings: list[int] = []
        nps = None
        moment = at
        for question in survey.questions:
            reply = self._ask(step, moment, format_question(question, locale=self.campaign.locale), channel)
            if reply is None:
                break
            text, moment = reply
            text = text or self.replies.question_reply(question)
            if question.optional and is_skip(text):
                self._log(moment, "reply", step.id, f"{question.id}: skipped", text)
                continue
            parsed = parse_reply(text, expectation_for_question(question))
            self._log(moment, "reply", step.id, f"{question.id}: {parsed.status} {parsed.value!r}", text)
            if parsed.status != "ok":
                continue
            answers[question.id] = parsed.value
            if question.type == "rating" and isinstance(parsed.value, int):
                ratings.append(parsed.value)
            if question.type == "nps" and isinstance(parsed.value, int):
                nps = parsed.value
        if answers:
            outcome = Outcome(answers=answers, ratings=tuple(ratings), nps=nps)
            self._run_actions(step, actions_for_outcome(step, outcome), moment)

    def _run_actions(self, step: Step, actions: list[Action], at: datetime) -> None:
        if actions:
            self._defer(at, step.id, lambda: self._apply_actions(step, actions, at))

    def _apply_actions(self, step: Step, actions: list[Action], at: datetime) -> None:
        for action in actions:
            if action.alert:
                self._log(at, "alert", step.id, f"alert to {action.alert}: {action.reason}")
            if action.mark == "at_risk":
                self.learner.at_risk = True
                self._log(at, "branch", step.id, "learner marked at risk")
            if action.send_kind is not None:
                when = plan_action_time(at, action.at, self.campaign.window_for(step), self.tz)
                ref = getattr(action, action.send_kind)
                self._log(at, "branch", step.id, f"branch: {action.send_kind} {ref} planned")
                self._push(when, step.id, action.send_kind, ref, "branch")
            if action.goto:
                target = self.campaign.step(action.goto)
                if target is not None:
                    when = plan_action_time(at, None, self.campaign.window_for(target), self.tz)
                    self._log(at, "branch", step.id, f"goto {target.id}")
                    self._push(when, target.id, target.kind, _step_ref(target), "branch")
            if action.stop:
                self._log(at, "stop", step.id, "campaign stopped for this learner")
                self.learner.stopped = True


def _step_ref(step: Step) -> str | None:
    value = getattr(step, step.kind)
    return str(value[0]) if isinstance(value, list) else None if value is None else str(value)
