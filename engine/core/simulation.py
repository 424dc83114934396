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
from zoneinfo import ZoneInfo

from engine.campaign.schema import Action, Campaign, Step
from engine.core.branching import (
    extended_deadline,
    silence_actions,
    silence_check_at,
    silence_checks,
)
from engine.core.flow import ConversationState, Version
from engine.core.personas import PersonaReplies, ScriptedLearner, ScriptedReplies
from engine.core.prompts import format_question, format_quiz_item
from engine.core.questions import ContentView, resumes_at
from engine.core.rules import pick_quiz_items, pick_review_item, quiz_seed
from engine.core.simulated_step import ENROLLMENT, SimulatedConversation, StepPlay
from engine.core.spaced import ReviewState
from engine.core.timeline import plan_action_time, plan_timeline
from engine.core.transcript import TranscriptEntry
from engine.core.windows import is_open, next_open

ASKING_KINDS = ("quiz", "review", "survey", "checkin")
__all__ = ["Simulation", "TranscriptEntry"]


@dataclass
class _Learner:
    at_risk: bool = False
    stopped: bool = False
    #: Until when the learner can still answer the question last asked, per channel (others wait).
    busy_until: dict[str, datetime] = field(default_factory=dict)


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    step_id: str = field(compare=False)
    kind: str = field(compare=False)
    ref: str | None = field(compare=False, default=None)
    origin: str = field(compare=False, default="plan")
    occurrence: int = field(compare=False, default=0)
    # A deferred effect (branch actions, an FSRS update) applied when the clock reaches ``at``.
    effect: Callable[[], None] | None = field(compare=False, default=None)


class Simulation:
    """One learner through one campaign; call :meth:`run` once."""

    def __init__(self, campaign: Campaign, content: ContentView, *, anchor: datetime, tz: ZoneInfo,
                 replies: PersonaReplies, script: ScriptedReplies | None = None,
                 render: Callable[[str], str] = lambda text: text,
                 learner: ScriptedLearner | None = None) -> None:
        self.campaign, self.content, self.anchor, self.tz = campaign, content, anchor, tz
        self.replies, self.script = replies, script or ScriptedReplies()
        self.render = render
        self.learner_script = learner
        self._attempts: dict[str, int] = {}
        self.learner = _Learner()
        state = ConversationState(locale=campaign.locale, timezone=str(tz), anchors={ENROLLMENT: anchor})
        self._closed_at: datetime | None = None
        self.conversation = SimulatedConversation(Version(campaign, content), state, self._log)
        self.queue: list[_Event] = []
        self.seq = itertools.count()
        self.transcript: list[TranscriptEntry] = []

    def _log(self, at: datetime, event: str, step_id: str, detail: str, text: str | None = None,
             ref: str | None = None) -> None:
        self.transcript.append(TranscriptEntry(at.astimezone(self.tz), event, step_id, detail, text, ref))

    def _push(self, at: datetime, step_id: str, kind: str, ref: str | None, origin: str = "plan",
              occurrence: int = 0) -> None:
        heapq.heappush(self.queue, _Event(at, next(self.seq), step_id, kind, ref, origin, occurrence))

    def _defer(self, at: datetime, step_id: str, effect: Callable[[], None]) -> None:
        """Applies ``effect`` when the clock reaches ``at``.

        A question's whole exchange (replies, reminders, silence) is computed when it
        is sent, but its effects on the learner (at-risk mark, stop, FSRS cards) must
        not be visible to sends due before they happen: a call task planned for a
        Tuesday must not see an at-risk mark set by a silence branch on Thursday.
        """
        heapq.heappush(self.queue, _Event(at, next(self.seq), step_id, "effect", None, "effect", effect=effect))

    def run(self) -> list[TranscriptEntry]:
        for planned in plan_timeline(self.campaign, anchor=self.anchor, tz=self.tz):
            self._push(planned.due_at, planned.step_id, planned.kind, planned.content_ref,
                       occurrence=planned.occurrence)
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
        if event.kind in ASKING_KINDS and self._waits(step, event, channel):
            return
        if event.kind in ("lesson", "message", "task"):
            who = {"trainer": "task for the trainer", "manager": "to the manager"}.get(step.to, channel)
            if event.kind == "lesson":
                self._log(event.at, "sent", step.id, f"lesson {event.ref or ''} ({who})")
            else:
                text = self.render(event.ref or "")
                self._log(event.at, "sent", step.id, f"{event.kind} ({who}): {text.splitlines()[0] if text else ''}",
                          text)
        elif event.kind == "quiz" and event.ref:
            self._quiz(step, event.at, event.ref, channel, event.occurrence)
        elif event.kind == "review":
            self._review(step, event.at, channel)
        elif event.kind in ("survey", "checkin") and event.ref:
            self._survey(step, event.at, event.kind, event.ref, channel)

    def _reply_for(self, step: Step, asked_at: datetime, ref: str) -> tuple[str, datetime] | None:
        """The learner's reply text and time, or None when the question goes unanswered."""
        if self.learner_script is not None:
            attempt = self._attempts[ref] = self._attempts.get(ref, -1) + 1
            scripted = self.learner_script.reply(step.id, ref, attempt)
            return None if scripted is None else (scripted[0], asked_at + scripted[1])
        if self.script.covers(step.id):
            text = self.script.next_reply(step.id)
            delay = self.script.delays.get(step.id, timedelta(minutes=10))
            return (text, asked_at + delay) if text else None
        if not self.replies.answers():
            return None
        return "", asked_at + self.replies.delay()

    def _ask(self, step: Step, at: datetime, text: str, channel: str, ref: str) -> tuple[str, datetime] | None:
        """Sends one question, then walks reminders and the deadline until a reply comes.

        A reply counts when it arrives before the next reminder (or silence check)
        and before the deadline; each reminder reopens the question for a full
        ``reply_within``, as the engine does, and gives a silent learner another chance.
        """
        self._log(at, "sent", step.id, f"question ({channel})", text, ref)
        window = self.campaign.window_for(step)
        deadline = at + self.campaign.reply_within_for(step).approx_timedelta()
        reply = self._reply_for(step, at, ref)
        for check in silence_checks(step):
            when = silence_check_at(at, check.after, check.number, self.tz)
            if when > deadline:
                break
            if reply is not None and reply[1] <= when and reply[1] < deadline:
                return reply
            if check.is_final:
                actions = silence_actions(step)
                detail = "no reply after reminders: silence branch" if actions else "no reply after reminders"
                self._log(when, "branch" if actions else "expired", step.id, detail)
                self._run_actions(step, actions, when)
                self._closed_at = when
                return None
            sent = when if is_open(when, window, self.tz) else next_open(when, window, self.tz)
            self._log(sent, "reminder", step.id, f"reminder {check.number} ({channel})", text, ref)
            deadline = extended_deadline(at, deadline, when)
            if reply is None:
                reply = self._reply_for(step, sent, ref)
        if reply is not None and reply[1] < deadline:
            return reply
        self._log(deadline, "expired", step.id, "no reply before the deadline")
        self._closed_at = deadline
        return None

    def _waits(self, step: Step, event: _Event, channel: str) -> bool:
        """Questions never trample each other: one due while the learner can still answer
        another on that channel waits until that one closes, as the send job and the reply
        path do (:func:`engine.core.questions.resumes_at`)."""
        busy = self.learner.busy_until.get(channel)
        if busy is None or event.at >= busy:
            return False
        later = resumes_at(busy, self.campaign.window_for(step), self.tz)
        self._log(event.at, "waiting", step.id,
                  f"learner is answering another question: asked at {later.astimezone(self.tz):%Y-%m-%d %H:%M}")
        heapq.heappush(self.queue, _Event(later, next(self.seq), event.step_id, event.kind, event.ref, event.origin,
                                          event.occurrence))
        return True

    def _again(self, step: Step, at: datetime, ref: str) -> tuple[str, datetime] | None:
        """The learner's next message after a clarification (before the question's deadline)."""
        reply = self._reply_for(step, at, ref)
        deadline = at + self.campaign.reply_within_for(step).approx_timedelta()
        if reply is None or reply[1] >= deadline:
            self._closed_at = deadline
            self._log(deadline, "expired", step.id, "no clear answer before the deadline")
            return None
        return reply

    def _play(self, step: Step, at: datetime, kind: str, refs: list[str], first: str, channel: str,
              answer_text: Callable[[str], str]) -> StepPlay:
        self._closed_at = None
        played = self.conversation.play(step, kind=kind, refs=refs, first_text=first, at=at, channel=channel,
                                        ask=self._ask, again=self._again, answer_text=answer_text)
        # The step's last question closed when it was answered, or when it went unanswered.
        self.learner.busy_until[channel] = max(played.ended_at, self._closed_at or played.ended_at)
        for index, moment in played.branches:
            self._run_actions(step, step.if_[index].actions, moment)
        return played

    def _quiz(self, step: Step, at: datetime, bank_ref: str, channel: str, occurrence: int) -> None:
        bank = self.content.banks.get(bank_ref)
        if bank is None:
            self._log(at, "skipped", step.id, f"unknown quiz bank {bank_ref}")
            return
        seen = {key.partition("#")[2] for key in self.conversation.state.cards if key.startswith(f"{bank_ref}#")}
        items = pick_quiz_items(bank.items, ask=step.ask, seed=quiz_seed(ENROLLMENT, step.id, occurrence), seen=seen)
        refs = [f"{bank_ref}#{item.id}" for item in items]
        locale = self.campaign.locale
        header = "Quiz" + (f" 1/{len(items)}" if len(items) > 1 else "")
        played = self._play(step, at, "quiz", refs, f"{header} : {format_quiz_item(items[0], locale=locale)}",
                            channel, lambda ref: self._quiz_text(bank_ref, ref))
        if played.answers:
            score = played.correct / played.answers
            self._log(played.ended_at, "score", step.id, f"score {score:.0%} ({played.answers} answers)")

    def _quiz_text(self, bank_ref: str, ref: str) -> str:
        bank = self.content.banks[bank_ref]
        item = bank.item(ref.partition("#")[2])
        assert item is not None
        return self.replies.quiz_reply(item)

    def _review(self, step: Step, at: datetime, channel: str) -> None:
        bank = self.content.banks.get(step.review or "")
        if bank is None:
            return
        prefix = f"{bank.ref}#"
        cards = {key.removeprefix(prefix): ReviewState.from_dict(value)
                 for key, value in self.conversation.state.cards.items() if key.startswith(prefix)}
        item = pick_review_item(bank.items, cards, now=at)
        if item is None:
            self._log(at, "skipped", step.id, "no item due for review")
            return
        header = "Révision" if self.campaign.locale == "fr" else "Review"
        self._play(step, at, "review", [f"{bank.ref}#{item.id}"],
                   f"{header} : {format_quiz_item(item, locale=self.campaign.locale)}", channel,
                   lambda ref: self._quiz_text(bank.ref, ref))

    def _survey(self, step: Step, at: datetime, kind: str, ref: str, channel: str) -> None:
        source = self.content.surveys if kind == "survey" else self.content.checkins
        survey = source.get(ref)
        if survey is None:
            self._log(at, "skipped", step.id, f"unknown {kind} {ref}")
            return
        intro = self.render(survey.intro) + "\n" if survey.intro else ""
        first = intro + self.render(format_question(survey.questions[0], locale=self.campaign.locale))

        def answer(question_ref: str) -> str:
            question = survey.question(question_ref.partition("#")[2])
            assert question is not None
            return self.replies.question_reply(question)

        self._play(step, at, kind, [f"{ref}#{q.id}" for q in survey.questions], first, channel, answer)

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
