"""One step's questions played through the conversation engine, for the simulator.

Each of the learner's messages goes to :func:`engine.core.flow.on_reply`, exactly as
production's inbound job does, and the events it returns are written to the
transcript (and to the simulated learner's in-memory state): the same grading,
clarification, FSRS card, alerts and branches as learners will live.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from engine.campaign.schema import Step
from engine.core import events as ev
from engine.core.flow import ConversationState, IncomingReply, OpenQuestion, Version, on_reply
from engine.core.trail import Trail

ENROLLMENT = 1
#: ask(step, at, text, channel, ref) -> (reply text, reply time) or None; logs the send and reminders.
Ask = Callable[[Step, datetime, str, str, str], "tuple[str, datetime] | None"]
#: again(step, at, ref) -> the learner's next message after a clarification, or None.
Again = Callable[[Step, datetime, str], "tuple[str, datetime] | None"]
Log = Callable[..., None]


@dataclass
class StepPlay:
    """The result of playing one step's questions: where it ended and what it ran."""

    ended_at: datetime
    answers: int = 0
    correct: int = 0
    branches: list[tuple[int, datetime]] = field(default_factory=list)


@dataclass
class SimulatedConversation:
    """The simulated learner's conversation state, carried across steps."""

    version: Version
    state: ConversationState
    log: Log
    keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    prompts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def play(self, step: Step, *, kind: str, refs: list[str], first_text: str, at: datetime, channel: str,
             ask: Ask, again: Again, answer_text: Callable[[str], str]) -> StepPlay:
        """Asks the step's questions one after another until they are answered or go unanswered.

        ``refs`` are the question refs (``bank#item``); ``answer_text(ref)`` writes the
        persona's answer when the script leaves it to them.
        """
        expires_in = self.version.campaign.reply_within_for(step).approx_timedelta()
        play = StepPlay(ended_at=at)
        question: OpenQuestion | None = self._open(step, kind, refs[0], tuple(r.partition("#")[2] for r in refs[1:]),
                                                   Trail(), at, channel, expires_in)
        reply = ask(step, at, first_text, channel, refs[0])
        text: str | None
        while question is not None:
            if reply is None:
                return play
            said, moment = reply
            said = said or answer_text(question.question_ref)
            play.ended_at = moment
            resumed = on_reply(self.state.model_copy(update={"open_questions": (question,)}), {ENROLLMENT: self.version},
                               IncomingReply(said, channel, next(self.keys)), now=moment)
            self.state = resumed.state.model_copy(update={"open_questions": ()})
            question, text = self._apply(step, question, resumed.events, said, moment, play)
            if question is None:
                return play
            if text is None:  # clarification asked: the learner writes again
                reply = again(step, moment, question.question_ref)
                continue
            question = question.model_copy(update={"opened_at": moment, "expires_at": moment + expires_in})
            reply = ask(step, moment, text, channel, question.question_ref)
        return play

    def _open(self, step: Step, kind: str, ref: str, queue: tuple[str, ...], trail: Trail, at: datetime,
              channel: str, expires_in: timedelta) -> OpenQuestion:
        return OpenQuestion(prompt_id=next(self.prompts), enrollment_id=ENROLLMENT, step_id=step.id, kind=kind,
                            question_ref=ref, channel=channel, opened_at=at, expires_at=at + expires_in,
                            trail=trail, queue=queue)

    def _apply(self, step: Step, question: OpenQuestion, events: tuple[ev.Event, ...], said: str,
               moment: datetime, play: StepPlay) -> tuple[OpenQuestion | None, str | None]:
        """Writes a reply's events to the transcript; returns the question still open and the
        text to send next (None: a clarification was sent and the same question stays open)."""
        item_id = question.question_ref.partition("#")[2]
        following: tuple[OpenQuestion | None, str | None] = (None, None)
        feedback = next((e for e in events if isinstance(e, ev.FeedbackQueued)), None)
        for event in events:
            if isinstance(event, ev.ClarificationAsked):
                self.log(moment, "reply", step.id, f"{item_id}: unclear", said, question.question_ref)
                self.log(moment, "clarify", step.id, "asked to answer again", event.text)
                following = (question.model_copy(update={"clarified": True}), None)
            elif isinstance(event, ev.AnswerGraded):
                shown = "" if question.kind in ("quiz", "review") else f" {event.value!r}"
                status = "ok" if event.status == "answered" else event.status
                self.log(moment, "reply", step.id, f"{item_id}: {status}{shown}", said, question.question_ref)
                if event.correct is not None:
                    play.answers += 1
                    play.correct += int(event.correct)
                    self.log(moment, "feedback", step.id, "correct" if event.correct else "wrong",
                             feedback.feedback if feedback else None)
            elif isinstance(event, ev.CardScheduled):
                detail = "retired" if event.retired else f"next review due {event.due.astimezone(moment.tzinfo):%Y-%m-%d}"
                self.log(moment, "review", step.id, f"{event.item_id}: {detail}", None)
            elif isinstance(event, ev.AlertRaised):
                self.log(moment, "alert", step.id, f"alert ({event.kind}): {event.reason}", None)
            elif isinstance(event, ev.BranchTaken):
                play.branches.append((event.index, moment))
            elif isinstance(event, ev.FeedbackQueued) and event.next_question is not None:
                spec = event.next_question
                nxt = OpenQuestion(prompt_id=next(self.prompts), enrollment_id=ENROLLMENT, step_id=step.id,
                                   kind=spec.kind, question_ref=spec.question_ref, channel=event.channel,
                                   opened_at=moment, expires_at=moment, trail=Trail.load(spec.expectation.get("trail")),
                                   queue=tuple(spec.queue))
                following = (nxt, event.follow_up or "")
        return following
